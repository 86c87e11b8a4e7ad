package imaging

import (
	"fmt"
	"image/color"
	"math"
	"time"

	"github.com/fogleman/gg"
)

// EndPicture is what the end-of-game picture shows. Every field is
// optional: zero values are left out.
type EndPicture struct {
	Game    int  // game number, shown as "GAME #N"
	Aborted bool // an admin stopped the game (instead of the clock running out)
	// Left is the time that was left on the clock when an admin stopped
	// the game (shown instead of 00:00:00); By and Why say who and why.
	Left     time.Duration
	By, Why  string
	Clicks   int           // total clicks
	Players  int           // distinct players
	Lifetime time.Duration // start → end
	Ended    time.Time     // end time, shown as a UTC date
	// PerBand is the number of clicks per band (index = band); it sets the
	// proportions of the colour ring around the button. All zero draws an
	// even, dimmed ring.
	PerBand [NumBands]int
}

// End picture size in pixels (the 1.91:1 shape Discord shows full width).
const (
	EndPictureWidth  = 1200
	EndPictureHeight = 630
)

// RenderEndPicture draws the end-of-game picture as a PNG (Name "end.png",
// EndPictureWidth×EndPictureHeight): a cracked button inside a stopped
// clock whose bezel is the game's colour distribution, with "THE BUTTON HAS
// FALLEN" (or "THE BUTTON WAS STOPPED" when aborted), 00:00:00 and the
// figures given. Negative figures are treated as zero. Safe for concurrent
// use.
func RenderEndPicture(e EndPicture) (Image, error) {
	img, err := renderEndPicture(e)
	if err != nil {
		return Image{}, fmt.Errorf("render end picture: %w", err)
	}
	return img, nil
}

func renderEndPicture(e EndPicture) (Image, error) {
	const W, H = EndPictureWidth, EndPictureHeight
	cc, err := newChartCanvas(W, H)
	if err != nil {
		return Image{}, err
	}
	dc := cc.dc

	// Backdrop: a dark room lit from the button.
	radialGradient(380, 315, 40, 900,
		stop(0, color.RGBA{0x33, 0x24, 0x28, 0xFF}),
		stop(0.45, color.RGBA{0x19, 0x1A, 0x1E, 0xFF}),
		stop(1, color.RGBA{0x0C, 0x0C, 0x0E, 0xFF})).fill(cc.img)

	const cx, cy = 360.0, 315.0
	drawStoppedClock(dc, cx, cy, e.PerBand)
	drawCrackedButton(dc, cx, cy)

	// Text column.
	const tx, tw = 680.0, W - 680.0 - 56
	title1, title2 := "THE BUTTON", "HAS FALLEN"
	if e.Aborted {
		title2 = "WAS STOPPED"
	}
	var lines []string
	var parts []string
	if e.Clicks > 0 {
		parts = append(parts, plural(e.Clicks, "click", "clicks"))
	}
	if e.Players > 0 {
		parts = append(parts, plural(e.Players, "player", "players"))
	}
	if len(parts) > 0 {
		lines = append(lines, joinDot(parts))
	}
	if e.Lifetime > 0 {
		lines = append(lines, "alive for "+formatSpan(e.Lifetime))
	}
	if !e.Ended.IsZero() {
		verb := "ended "
		if e.Aborted {
			verb = "stopped "
		}
		lines = append(lines, verb+e.Ended.UTC().Format("2 Jan 2006 15:04")+" UTC")
	}
	if e.Aborted && e.By != "" {
		lines = append(lines, "by "+e.By)
	}
	if e.Aborted && e.Why != "" {
		why := []rune(e.Why)
		if len(why) > 60 {
			why = append(why[:59], '…')
		}
		lines = append(lines, "“"+string(why)+"”")
	}

	// Lay the column out top to bottom, centred on the clock.
	const gameH, titleH, readoutH, lineH = 50.0, 66.0, 78.0, 38.0
	blockH := 2*titleH + 30 + readoutH
	if e.Game > 0 {
		blockH += gameH
	}
	if len(lines) > 0 {
		blockH += 36 + lineH*float64(len(lines))
	}
	y := cy - blockH/2
	if e.Game > 0 {
		if _, err := cc.text(fmt.Sprintf("GAME #%d", e.Game), tx, y+24, textOpts{tf: faceBold, px: 24, c: lighten(Red.Color(), 0.25), maxWidth: tw, minPx: 16}); err != nil {
			return Image{}, err
		}
		y += gameH
	}
	for _, t := range []string{title1, title2} {
		if _, err := cc.text(t, tx, y+titleH-14, textOpts{tf: faceBold, px: 60, c: themeText, maxWidth: tw, minPx: 36}); err != nil {
			return Image{}, err
		}
		y += titleH
	}
	// The clock readout, as on the timer card.
	y += 30
	dc.SetColor(color.RGBA{0x24, 0x25, 0x29, 0xFF})
	dc.DrawRoundedRectangle(tx, y, 300, readoutH, 14)
	dc.Fill()
	dc.SetColor(color.RGBA{0x45, 0x47, 0x4E, 0xFF})
	dc.SetLineWidth(1.5)
	dc.DrawRoundedRectangle(tx+0.75, y+0.75, 298.5, readoutH-1.5, 14)
	dc.Stroke()
	readout := "00:00:00"
	if e.Aborted {
		// The clock was still running: the time left when it was stopped.
		readout = FormatTime(e.Left)
	}
	if _, err := cc.text(readout, tx+150, y+60, textOpts{tf: faceBold, px: 52, c: lighten(Red.Color(), 0.15), ax: 0.5, maxWidth: 270}); err != nil {
		return Image{}, err
	}
	y += readoutH + 36
	for i, l := range lines {
		c, px, tf := themeMuted, 24.0, faceMedium
		if i == 0 && len(parts) > 0 {
			c, px, tf = themeText, 26, faceBold
		}
		if _, err := cc.text(l, tx, y+26, textOpts{tf: tf, px: px, c: c, maxWidth: tw, minPx: 16}); err != nil {
			return Image{}, err
		}
		y += lineH
	}
	if _, err := cc.text("may it rest until the next game", tx, H-40, textOpts{tf: faceRegular, px: 17, c: themeDim, maxWidth: tw}); err != nil {
		return Image{}, err
	}
	return cc.encode("end.png")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return formatCount(n) + " " + many
}

func joinDot(parts []string) string {
	s := ""
	for i, p := range parts {
		if i > 0 {
			s += " · "
		}
		s += p
	}
	return s
}

// drawStoppedClock draws the clock around the button: a bezel made of the
// six band colours in proportion to perBand (Purple first, clockwise from
// twelve o'clock), minute ticks, and a marker stopped at twelve.
func drawStoppedClock(dc *gg.Context, cx, cy float64, perBand [NumBands]int) {
	const rOut, rIn = 238.0, 212.0
	total := 0
	for _, n := range perBand {
		total += max(n, 0)
	}
	// Dark bezel body.
	dc.SetColor(color.RGBA{0x1F, 0x20, 0x24, 0xFF})
	dc.DrawCircle(cx, cy, rOut+14)
	dc.Fill()
	dc.SetColor(color.RGBA{0x3A, 0x3C, 0x42, 0xFF})
	dc.SetLineWidth(2)
	dc.DrawCircle(cx, cy, rOut+13)
	dc.Stroke()

	start := -math.Pi / 2
	gap := 0.035
	for i := 0; i < NumBands; i++ {
		b := Band(NumBands - 1 - i)
		share := 1.0 / NumBands
		col := b.Color()
		if total > 0 {
			share = float64(max(perBand[b], 0)) / float64(total)
		} else {
			col = mix(col, color.RGBA{0x50, 0x52, 0x58, 0xFF}, 0.5)
		}
		if share <= 0 {
			continue
		}
		sweep := share * 2 * math.Pi
		a0, a1 := start+gap/2, start+sweep-gap/2
		if a1 <= a0 { // a sliver: still show it
			a1 = a0 + 0.012
		}
		dc.NewSubPath()
		dc.DrawArc(cx, cy, rOut, a0, a1)
		dc.DrawArc(cx, cy, rIn, a1, a0)
		dc.ClosePath()
		dc.SetColor(col)
		dc.Fill()
		start += sweep
	}
	// Clock face between the bezel and the button.
	dc.SetFillStyle(radialGradient(cx, cy, 120, rIn,
		stop(0, color.RGBA{0x17, 0x18, 0x1B, 0xFF}),
		stop(1, color.RGBA{0x26, 0x27, 0x2C, 0xFF})))
	dc.DrawCircle(cx, cy, rIn-3)
	dc.Fill()
	for m := 0; m < 60; m++ {
		a := float64(m)/60*2*math.Pi - math.Pi/2
		r0, w := rIn-14.0, 1.5
		c := color.RGBA{0x6A, 0x6D, 0x75, 0xFF}
		if m%5 == 0 {
			r0, w, c = rIn-24, 3.5, color.RGBA{0xC9, 0xCC, 0xD2, 0xFF}
		}
		dc.SetColor(c)
		dc.SetLineWidth(w)
		dc.SetLineCapRound()
		dc.DrawLine(cx+r0*math.Cos(a), cy+r0*math.Sin(a), cx+(rIn-8)*math.Cos(a), cy+(rIn-8)*math.Sin(a))
		dc.Stroke()
	}
	// The marker at twelve: time ran out.
	dc.SetColor(lighten(Red.Color(), 0.1))
	dc.MoveTo(cx, cy-rOut+2)
	dc.LineTo(cx-13, cy-rOut-22)
	dc.LineTo(cx+13, cy-rOut-22)
	dc.ClosePath()
	dc.Fill()
}

// drawCrackedButton draws the big red button in its housing, split by a
// crack.
func drawCrackedButton(dc *gg.Context, cx, cy float64) {
	// Housing.
	dc.SetFillStyle(linearGradient(cx-160, cy-160, cx+160, cy+160,
		stop(0, color.RGBA{0x5A, 0x5D, 0x66, 0xFF}),
		stop(1, color.RGBA{0x1A, 0x1B, 0x1F, 0xFF})))
	dc.DrawCircle(cx, cy, 158)
	dc.Fill()
	dc.SetColor(color.RGBA{0x0E, 0x0E, 0x10, 0xFF})
	dc.DrawCircle(cx, cy, 136)
	dc.Fill()

	// Drop shadow of the dome.
	dc.SetColor(color.RGBA{0, 0, 0, 110})
	dc.DrawCircle(cx+6, cy+10, 124)
	dc.Fill()

	// Dome.
	red := Red.Color()
	dc.SetFillStyle(radialGradient(cx-45, cy-55, 10, 200,
		stop(0, lighten(red, 0.35)),
		stop(0.45, red),
		stop(1, darken(red, 0.55))))
	dc.DrawCircle(cx, cy, 124)
	dc.Fill()
	// Specular highlight: a soft glow, brightest top left.
	dc.SetFillStyle(radialGradient(cx-48, cy-58, 0, 70,
		stop(0, color.NRGBA{255, 255, 255, 110}),
		stop(0.5, color.NRGBA{255, 255, 255, 40}),
		stop(1, color.NRGBA{255, 255, 255, 0})))
	dc.DrawCircle(cx-48, cy-58, 70)
	dc.Fill()

	// The crack: a main fracture across the dome with two branches. Drawn
	// dark and wide, then with a thin light edge to look cut.
	main := [][2]float64{{86, -92}, {52, -50}, {61, -28}, {22, -6}, {30, 18}, {-8, 34}, {-2, 58}, {-44, 80}, {-63, 105}}
	branches := [][][2]float64{
		{{22, -6}, {-14, -20}, {-36, -14}, {-66, -34}},
		{{-2, 58}, {30, 74}, {36, 100}},
		{{52, -50}, {84, -40}, {104, -52}},
	}
	stroke := func(pts [][2]float64, w float64, c color.Color, dx, dy float64) {
		dc.SetColor(c)
		dc.SetLineWidth(w)
		dc.SetLineJoinRound()
		dc.SetLineCapRound()
		for i, p := range pts {
			if i == 0 {
				dc.MoveTo(cx+p[0]+dx, cy+p[1]+dy)
			} else {
				dc.LineTo(cx+p[0]+dx, cy+p[1]+dy)
			}
		}
		dc.Stroke()
	}
	dark := color.RGBA{0x2A, 0x06, 0x08, 0xFF}
	edge := color.RGBA{0xFF, 0xC4, 0xB8, 0xC0}
	stroke(main, 7, dark, 0, 0)
	for _, b := range branches {
		stroke(b, 4, dark, 0, 0)
	}
	stroke(main, 1.6, edge, -2.2, -2)
	for _, b := range branches {
		stroke(b, 1.2, edge, -1.6, -1.4)
	}
	// A chip knocked out where the fracture starts.
	dc.SetColor(darken(red, 0.7))
	dc.MoveTo(cx+86, cy-92)
	dc.LineTo(cx+100, cy-80)
	dc.LineTo(cx+93, cy-70)
	dc.LineTo(cx+78, cy-78)
	dc.ClosePath()
	dc.Fill()
}
