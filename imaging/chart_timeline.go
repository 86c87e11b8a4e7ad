package imaging

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot/vg/draw"
)

// GameStats is what the game chart and the timeline show about one game.
type GameStats struct {
	Game     int           // game number, shown as "Game #N"; 0 hides it
	Status   string        // shown as given, e.g. "active", "ended", "aborted"
	Start    time.Time     // game start; zero = the first click
	End      time.Time     // game end, or "now" for a running game; zero = the last click
	Duration time.Duration // full clock; 0 = the largest Duration among the clicks
	Clicks   []Click       // every accepted click, in any order
}

// gameSummary holds figures derived once from GameStats.
type gameSummary struct {
	clicks, players int
	first, last     time.Time
	start, end      time.Time
	duration        time.Duration
	perBand         [NumBands]int
	claimedPerBand  [NumBands]time.Duration
	playersPerBand  [NumBands]int
	record          [NumBands]int // index of the lowest click per band, -1 if none
}

func summarize(g GameStats) gameSummary {
	s := gameSummary{clicks: len(g.Clicks), duration: g.Duration}
	for i := range s.record {
		s.record[i] = -1
	}
	seen := map[string]struct{}{}
	seenBand := [NumBands]map[string]struct{}{}
	for i, c := range g.Clicks {
		if s.first.IsZero() || c.At.Before(s.first) {
			s.first = c.At
		}
		if s.last.IsZero() || c.At.After(s.last) {
			s.last = c.At
		}
		if g.Duration <= 0 && c.Duration > s.duration {
			s.duration = c.Duration
		}
		k := c.playerKey()
		seen[k] = struct{}{}
		if !c.Band.Valid() {
			continue
		}
		b := c.Band
		s.perBand[b]++
		s.claimedPerBand[b] += max(c.Claimed, 0)
		if seenBand[b] == nil {
			seenBand[b] = map[string]struct{}{}
		}
		seenBand[b][k] = struct{}{}
		if r := s.record[b]; r < 0 || c.Value < g.Clicks[r].Value {
			s.record[b] = i
		}
	}
	s.players = len(seen)
	for b := range seenBand {
		s.playersPerBand[b] = len(seenBand[b])
	}
	s.start, s.end = g.Start, g.End
	if s.start.IsZero() {
		s.start = s.first
	}
	if s.end.IsZero() {
		s.end = s.last
	}
	if s.end.Before(s.start) {
		s.end = s.start
	}
	if s.duration <= 0 {
		s.duration = 12 * time.Hour // nothing to go by: the default game
	}
	return s
}

func gameTitle(g GameStats, what string) string {
	if g.Game > 0 {
		return fmt.Sprintf("Game #%d %s", g.Game, what)
	}
	return "Game " + what
}

func gameSubtitle(g GameStats) string {
	s := "times in UTC"
	if g.Status != "" {
		s = cleanName(g.Status) + " · " + s
	}
	return s
}

// invalidClicks reports the first click whose band is not one of the six.
func invalidClicks(cs []Click) error {
	for i, c := range cs {
		if !c.Band.Valid() {
			return fmt.Errorf("click %d: band %d: %w", i, int(c.Band), ErrInvalidInput)
		}
	}
	return nil
}

// RenderTimeline draws the timeline chart of a game as a PNG (Name
// "timeline.png", ChartWidth×ChartHeight): every click as a dot at its time
// (x, UTC) and value (y), over pale stripes of the six bands, with each
// band's record (its lowest click) labelled with the player and value.
// A game without clicks gives a chart saying so. It fails, wrapping
// ErrInvalidInput, if a click has an unknown band. Safe for concurrent use.
func RenderTimeline(g GameStats) (Image, error) {
	if err := invalidClicks(g.Clicks); err != nil {
		return Image{}, fmt.Errorf("render timeline: %w", err)
	}
	img, err := renderTimeline(g)
	if err != nil {
		return Image{}, fmt.Errorf("render timeline: %w", err)
	}
	return img, nil
}

func renderTimeline(g GameStats) (Image, error) {
	s := summarize(g)
	cc, err := newChartCanvas(ChartWidth, ChartHeight)
	if err != nil {
		return Image{}, err
	}
	if err := cc.titleBar(gameTitle(g, "timeline"), gameSubtitle(g)); err != nil {
		return Image{}, err
	}

	// Info strip.
	const stripY, stripH = 92.0, 64.0
	cc.panel(24, stripY, ChartWidth-48, stripH)
	info := []stat{
		{label: "Clicks", value: formatCount(s.clicks)},
		{label: "Players", value: formatCount(s.players)},
		{label: "First click", value: "—"},
		{label: "Last click", value: "—"},
		{label: "Span", value: "—"},
	}
	if s.clicks > 0 {
		info[2].value = s.first.UTC().Format("2 Jan 2006 15:04")
		info[3].value = s.last.UTC().Format("2 Jan 2006 15:04")
		info[4].value = formatSpan(s.last.Sub(s.first))
	}
	colW := (ChartWidth - 48.0) / float64(len(info))
	for i, st := range info {
		x := 24 + colW*float64(i) + 20
		if _, err := cc.text(st.label, x, stripY+25, textOpts{tf: faceRegular, px: 13, c: themeDim, maxWidth: colW - 30}); err != nil {
			return Image{}, err
		}
		if _, err := cc.text(st.value, x, stripY+49, textOpts{tf: faceBold, px: 17, c: themeText, maxWidth: colW - 30, minPx: 12}); err != nil {
			return Image{}, err
		}
	}

	const px, py, pw, ph = 24.0, 172.0, ChartWidth - 48.0, ChartHeight - 172.0 - 24
	cc.panel(px, py, pw, ph)
	if s.clicks == 0 {
		return finishEmpty(cc, px, py, pw, ph, "timeline.png")
	}

	p, err := newDarkPlot()
	if err != nil {
		return Image{}, err
	}
	hours := s.duration.Hours()
	x0, x1 := unixSeconds(s.first), unixSeconds(s.last)
	pad := math.Max((x1-x0)*0.02, 60)
	p.X.Min, p.X.Max = x0-pad, x1+pad
	p.Y.Min, p.Y.Max = 0, hours
	p.X.Tick.Marker = timeTicker(9)
	p.Y.Tick.Marker = clockTicker(s.duration)
	p.Y.Label.Text = "time left when clicked"
	p.Add(bandStripes{hours: hours, alpha: 0.10}, gridLines{vertical: true})

	const labelGutter = 78 // band names to the right of the data
	area := cc.area(px+14, py+16, pw-28-labelGutter, ph-30)
	p.Draw(area)
	dataC := p.DataCanvas(area)
	trX, trY := p.Transforms(&dataC)
	at := func(c Click) (float64, float64) {
		return cc.toPixel(trX(unixSeconds(c.At)), trY(clampValue(c.Value, s.duration).Hours()))
	}

	// Every click, oldest first so later clicks are on top.
	// Dots shrink as the game fills up.
	radius := 2.6
	switch n := len(g.Clicks); {
	case n <= 500:
		radius = 4
	case n <= 3000:
		radius = 3.2
	}
	d := newDot(radius)
	var srcs [NumBands]*image.Uniform
	for b := range srcs {
		srcs[b] = image.NewUniform(withAlpha(lighten(Band(b).Color(), 0.12), 0.85))
	}
	for _, c := range g.Clicks {
		x, y := at(c)
		d.stamp(cc.img, x, y, srcs[c.Band])
	}

	// Band names in the gutter.
	right, _ := cc.toPixel(dataC.Max.X, 0)
	for b := 0; b < NumBands; b++ {
		_, yc := cc.toPixel(0, trY(hours*(float64(b)+0.5)/NumBands))
		if _, err := cc.text(Band(b).String(), right+12, yc+5, textOpts{tf: faceBold, px: 14, c: lighten(Band(b).Color(), 0.25), maxWidth: labelGutter - 8}); err != nil {
			return Image{}, err
		}
	}

	// Records: ring the lowest click of each band and label it.
	dataRect := pixelRect(cc, dataC)
	var placed []rectF
	ring := newDot(6.5)
	hole := newDot(4.5)
	for b := NumBands - 1; b >= 0; b-- {
		i := s.record[b]
		if i < 0 {
			continue
		}
		c := g.Clicks[i]
		x, y := at(c)
		ring.stamp(cc.img, x, y, image.NewUniform(color.RGBA{255, 255, 255, 255}))
		hole.stamp(cc.img, x, y, image.NewUniform(Band(b).Color()))
		label := cleanName(c.Player) + " · " + formatHMS(c.Value)
		r, err := cc.callout(label, x, y, dataRect, placed, Band(b).Color())
		if err != nil {
			return Image{}, err
		}
		placed = append(placed, r)
	}
	return cc.encode("timeline.png")
}

// finishEmpty writes the "no clicks yet" note into a panel and encodes.
func finishEmpty(cc *chartCanvas, x, y, w, h float64, name string) (Image, error) {
	if err := cc.emptyNote(x, y, w, h, "No clicks yet", "The chart fills in once the button is pressed."); err != nil {
		return Image{}, err
	}
	return cc.encode(name)
}

// rectF is a rectangle in pixels.
type rectF struct{ x0, y0, x1, y1 float64 }

func (r rectF) overlaps(o rectF) bool {
	return r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1
}

func (r rectF) inside(o rectF) bool {
	return r.x0 >= o.x0 && r.x1 <= o.x1 && r.y0 >= o.y0 && r.y1 <= o.y1
}

// pixelRect returns the pixel rectangle of a plot canvas.
func pixelRect(cc *chartCanvas, c draw.Canvas) rectF {
	x0, y1 := cc.toPixel(c.Min.X, c.Min.Y)
	x1, y0 := cc.toPixel(c.Max.X, c.Max.Y)
	return rectF{x0, y0, x1, y1}
}

// callout draws a small labelled box pointing at (x, y), placed where it
// stays inside bounds and clear of the boxes already placed (first of:
// above right, below right, above left, below left). It returns the box.
func (cc *chartCanvas) callout(label string, x, y float64, bounds rectF, placed []rectF, accent color.RGBA) (rectF, error) {
	o := textOpts{tf: faceBold, px: 13, c: themeText, maxWidth: 260}
	f, label, err := cc.fit(label, o)
	if err != nil {
		return rectF{}, err
	}
	w, h := textWidth(f, label)+20, 26.0
	const gap = 12.0
	cands := []rectF{
		{x + gap, y - gap - h, x + gap + w, y - gap},
		{x + gap, y + gap, x + gap + w, y + gap + h},
		{x - gap - w, y - gap - h, x - gap, y - gap},
		{x - gap - w, y + gap, x - gap, y + gap + h},
	}
	// First choice: inside and clear of the others; then: inside; last:
	// the first candidate pushed inside.
	var fits []rectF
	for _, r := range cands {
		if r.inside(bounds) {
			fits = append(fits, r)
		}
	}
	var best rectF
	switch {
	case len(fits) == 0:
		r := cands[0]
		dx := math.Max(0, bounds.x0-r.x0) - math.Max(0, r.x1-bounds.x1)
		dy := math.Max(0, bounds.y0-r.y0) - math.Max(0, r.y1-bounds.y1)
		best = rectF{r.x0 + dx, r.y0 + dy, r.x1 + dx, r.y1 + dy}
	default:
		best = fits[0]
	search:
		for _, r := range fits {
			for _, p := range placed {
				if r.overlaps(p) {
					continue search
				}
			}
			best = r
			break
		}
	}
	r := best
	dc := cc.dc
	// Leader line from the dot to the nearest corner of the box.
	cx := r.x0
	if r.x1 < x {
		cx = r.x1
	}
	cy := r.y1
	if r.y0 > y {
		cy = r.y0
	}
	dc.SetColor(color.RGBA{255, 255, 255, 200})
	dc.SetLineWidth(1.2)
	dc.DrawLine(x, y, cx, cy)
	dc.Stroke()
	dc.SetColor(color.RGBA{0x18, 0x19, 0x1C, 0xF0})
	dc.DrawRoundedRectangle(r.x0, r.y0, w, h, 6)
	dc.Fill()
	dc.SetColor(accent)
	dc.SetLineWidth(1.5)
	dc.DrawRoundedRectangle(r.x0+0.75, r.y0+0.75, w-1.5, h-1.5, 6)
	dc.Stroke()
	dc.SetFontFace(f)
	dc.SetColor(themeText)
	dc.DrawString(label, r.x0+10, r.y0+18)
	if traceText != nil {
		traceText(drawnText{text: label, x0: r.x0, y0: r.y0, x1: r.x1, y1: r.y1, maxWidth: o.maxWidth + 20, w: cc.w, h: cc.h})
	}
	return r, nil
}
