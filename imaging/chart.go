package imaging

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fogleman/gg"
	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	pfont "gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/thebutton-game/thebutton/timefmt"
)

// Click is one accepted click, as the charts need it. Charts never
// reclassify: Band is the band recorded with the click.
type Click struct {
	At       time.Time     // when the click was accepted (shown in UTC)
	Value    time.Duration // time left on the clock when clicked
	Duration time.Duration // the game's duration at that click (full clock)
	Band     Band          // the click's recorded band
	Claimed  time.Duration // time claimed as recorded (normally Duration − Value)
	PlayerID string        // stable player identity; Player is used when empty
	Player   string        // display name
}

func (c Click) playerKey() string {
	if c.PlayerID != "" {
		return c.PlayerID
	}
	return c.Player
}

// Chart size in pixels: a 3:2 picture that Discord shows large and that
// stays legible when scaled down.
const (
	ChartWidth  = 1200
	ChartHeight = 800
)

// Dark theme, close to Discord's own dark colours so charts sit well in
// a channel.
var (
	themeBG      = color.RGBA{0x1E, 0x1F, 0x22, 0xFF}
	themePanel   = color.RGBA{0x2B, 0x2D, 0x31, 0xFF}
	themeBorder  = color.RGBA{0x3F, 0x41, 0x47, 0xFF}
	themeText    = color.RGBA{0xF2, 0xF3, 0xF5, 0xFF}
	themeMuted   = color.RGBA{0xB5, 0xBA, 0xC1, 0xFF}
	themeDim     = color.RGBA{0x80, 0x84, 0x8E, 0xFF}
	themeGrid    = color.RGBA{0x3A, 0x3C, 0x42, 0xFF}
	themeAccent  = color.RGBA{0x58, 0x65, 0xF2, 0xFF}
	themeTitleBG = color.RGBA{0x25, 0x26, 0x2A, 0xFF}
)

var (
	plotFontsOnce sync.Once
	plotFonts     *pfont.Cache
	plotFontsErr  error
)

// plotHandler returns a plain-text handler for gonum/plot that uses the
// embedded Go fonts (typeface "Go"), without touching plot's globals.
func plotHandler() (text.Handler, error) {
	plotFontsOnce.Do(func() {
		fs, err := parsedFonts()
		if err != nil {
			plotFontsErr = err
			return
		}
		plotFonts = pfont.NewCache(pfont.Collection{
			{Font: pfont.Font{Typeface: "Go"}, Face: fs[faceRegular]},
			{Font: pfont.Font{Typeface: "Go", Weight: xfont.WeightMedium}, Face: fs[faceMedium]},
			{Font: pfont.Font{Typeface: "Go", Weight: xfont.WeightBold}, Face: fs[faceBold]},
		})
	})
	if plotFontsErr != nil {
		return nil, plotFontsErr
	}
	return text.Plain{Fonts: plotFonts}, nil
}

func plotFont(size float64, w xfont.Weight) pfont.Font {
	return pfont.Font{Typeface: "Go", Weight: w, Size: pfont.Length(size)}
}

// newDarkPlot returns a plot styled for the dark theme, with a transparent
// background (the panel behind it shows through).
func newDarkPlot() (*plot.Plot, error) {
	h, err := plotHandler()
	if err != nil {
		return nil, err
	}
	p := plot.New()
	p.BackgroundColor = nil
	p.TextHandler = h
	style := func(s *text.Style, size float64, c color.Color) {
		s.Handler = h
		s.Font = plotFont(size, xfont.WeightNormal)
		s.Color = c
	}
	style(&p.Title.TextStyle, 15, themeText)
	p.Title.TextStyle.Font.Weight = xfont.WeightBold
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Color = themeBorder
		a.LineStyle.Color = themeBorder
		a.Tick.Color = themeBorder
		a.Tick.LineStyle.Color = themeBorder
		style(&a.Label.TextStyle, 13, themeMuted)
		style(&a.Tick.Label, 12, themeMuted)
		a.Padding = 0
	}
	style(&p.Legend.TextStyle, 12, themeMuted)
	return p, nil
}

// chartCanvas is a chart picture being drawn: a gonum/plot image canvas at
// 72 DPI (one point is one pixel) and a gg context on the same pixels for
// titles, panels and annotations.
type chartCanvas struct {
	w, h int
	vc   *vgimg.Canvas
	img  *image.RGBA
	dc   *gg.Context
	// faces by (typeface, pixel size), made on demand; a canvas is used by
	// one goroutine only.
	faces map[faceKey]xfont.Face
}

type faceKey struct {
	tf typeface
	px float64
}

func newChartCanvas(w, h int) (*chartCanvas, error) {
	vc := vgimg.NewWith(vgimg.UseWH(vg.Length(w), vg.Length(h)), vgimg.UseDPI(72), vgimg.UseBackgroundColor(themeBG))
	img, ok := vc.Image().(*image.RGBA)
	if !ok {
		return nil, fmt.Errorf("chart canvas: unexpected image type %T", vc.Image())
	}
	return &chartCanvas{w: w, h: h, vc: vc, img: img, dc: gg.NewContextForRGBA(img), faces: map[faceKey]xfont.Face{}}, nil
}

func (cc *chartCanvas) face(tf typeface, px float64) (xfont.Face, error) {
	k := faceKey{tf, px}
	if f := cc.faces[k]; f != nil {
		return f, nil
	}
	f, err := newFace(tf, px)
	if err != nil {
		return nil, err
	}
	cc.faces[k] = f
	return f, nil
}

// area returns the plot canvas for the pixel rectangle with top-left (x, y)
// and size w×h.
func (cc *chartCanvas) area(x, y, w, h float64) draw.Canvas {
	H := float64(cc.h)
	return draw.Canvas{
		Canvas: cc.vc,
		Rectangle: vg.Rectangle{
			Min: vg.Point{X: vg.Length(x), Y: vg.Length(H - y - h)},
			Max: vg.Point{X: vg.Length(x + w), Y: vg.Length(H - y)},
		},
	}
}

// toPixel converts plot coordinates to pixel coordinates.
func (cc *chartCanvas) toPixel(x, y vg.Length) (float64, float64) {
	return float64(x), float64(cc.h) - float64(y)
}

// panel draws a rounded panel with a hairline border.
func (cc *chartCanvas) panel(x, y, w, h float64) {
	dc := cc.dc
	dc.SetColor(themePanel)
	dc.DrawRoundedRectangle(x, y, w, h, 12)
	dc.Fill()
	dc.SetLineWidth(1)
	dc.SetColor(themeBorder)
	dc.DrawRoundedRectangle(x+0.5, y+0.5, w-1, h-1, 12)
	dc.Stroke()
}

// textOpts says how to draw one line of text.
type textOpts struct {
	tf       typeface
	px       float64
	c        color.Color
	ax       float64 // 0 left, 0.5 centre, 1 right of x
	maxWidth float64 // shrink, then ellipsize, to fit; 0 = no limit
	minPx    float64 // smallest size when shrinking (default 0.75·px)
}

// drawnText describes one text drawn on a chart, for the fit tests.
type drawnText struct {
	text           string
	x0, y0, x1, y1 float64 // pixel box: advance width × ascent+descent
	maxWidth       float64
	w, h           int // canvas size
}

// traceText, when set (by tests only; not safe for concurrent renders),
// is called for every text drawn on a chart.
var traceText func(drawnText)

// text draws s with its baseline at y and returns the width drawn.
func (cc *chartCanvas) text(s string, x, y float64, o textOpts) (float64, error) {
	f, s, err := cc.fit(s, o)
	if err != nil {
		return 0, err
	}
	w := textWidth(f, s)
	x0 := x - o.ax*w
	cc.dc.SetFontFace(f)
	cc.dc.SetColor(o.c)
	cc.dc.DrawString(s, x0, y)
	if traceText != nil {
		m := f.Metrics()
		traceText(drawnText{
			text: s, x0: x0, x1: x0 + w,
			y0: y - float64(m.Ascent)/64, y1: y + float64(m.Descent)/64,
			maxWidth: o.maxWidth, w: cc.w, h: cc.h,
		})
	}
	return w, nil
}

// fit returns the face and the text to draw so that s fits o.maxWidth: the
// size shrinks down to o.minPx, then the text is cut with an ellipsis.
func (cc *chartCanvas) fit(s string, o textOpts) (xfont.Face, string, error) {
	f, err := cc.face(o.tf, o.px)
	if err != nil {
		return nil, "", err
	}
	if o.maxWidth <= 0 || textWidth(f, s) <= o.maxWidth {
		return f, s, nil
	}
	minPx := o.minPx
	if minPx <= 0 {
		minPx = math.Round(o.px * 0.75)
	}
	for px := o.px - 1; px >= minPx; px-- {
		if f, err = cc.face(o.tf, px); err != nil {
			return nil, "", err
		}
		if textWidth(f, s) <= o.maxWidth {
			return f, s, nil
		}
	}
	return f, ellipsize(f, s, o.maxWidth), nil
}

// ellipsize cuts s (at rune boundaries) and appends "…" so that it fits
// width in face f.
func ellipsize(f xfont.Face, s string, width float64) string {
	if textWidth(f, s) <= width {
		return s
	}
	r := []rune(s)
	for n := len(r) - 1; n > 0; n-- {
		t := strings.TrimRight(string(r[:n]), " ") + "…"
		if textWidth(f, t) <= width {
			return t
		}
	}
	return "…"
}

// cleanName makes a display name safe to draw: no control characters,
// trimmed, at most 32 runes (Discord's limit), "?" when empty.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > 32 {
		s = string([]rune(s)[:31]) + "…"
	}
	if s == "" {
		return "?"
	}
	return s
}

// titleBar draws the chart title and subtitle across the top.
func (cc *chartCanvas) titleBar(title, subtitle string) error {
	cc.dc.SetColor(themeTitleBG)
	cc.dc.DrawRectangle(0, 0, float64(cc.w), 72)
	cc.dc.Fill()
	// A thin strip of the six bands under the title: the game's signature.
	segW := float64(cc.w) / NumBands
	for i := 0; i < NumBands; i++ {
		cc.dc.SetColor(Band(NumBands - 1 - i).Color())
		cc.dc.DrawRectangle(float64(i)*segW, 72, segW+1, 4)
		cc.dc.Fill()
	}
	if _, err := cc.text(title, 32, 44, textOpts{tf: faceBold, px: 28, c: themeText, maxWidth: float64(cc.w) - 64 - 360, minPx: 20}); err != nil {
		return err
	}
	if subtitle != "" {
		if _, err := cc.text(subtitle, float64(cc.w)-32, 42, textOpts{tf: faceMedium, px: 16, c: themeMuted, ax: 1, maxWidth: 340, minPx: 12}); err != nil {
			return err
		}
	}
	return nil
}

// stat is one line of a summary box.
type stat struct {
	label, value string
	swatch       color.Color // optional colour dot before the value
}

// statBox draws a titled list of label/value lines in a panel.
func (cc *chartCanvas) statBox(x, y, w, h float64, title string, stats []stat) error {
	cc.panel(x, y, w, h)
	if _, err := cc.text(title, x+20, y+34, textOpts{tf: faceBold, px: 17, c: themeText, maxWidth: w - 40}); err != nil {
		return err
	}
	lineH := math.Min(36, (h-56)/math.Max(1, float64(len(stats))))
	for i, s := range stats {
		by := y + 56 + lineH*float64(i) + lineH*0.62
		if _, err := cc.text(s.label, x+20, by, textOpts{tf: faceRegular, px: 15, c: themeMuted, maxWidth: w*0.5 - 24}); err != nil {
			return err
		}
		vx := x + w - 20
		vw := w*0.5 - 20
		if s.swatch != nil {
			vw -= 18
		}
		tw, err := cc.text(s.value, vx, by, textOpts{tf: faceBold, px: 16, c: themeText, ax: 1, maxWidth: vw, minPx: 11})
		if err != nil {
			return err
		}
		if s.swatch != nil {
			cc.dc.SetColor(s.swatch)
			cc.dc.DrawCircle(vx-tw-11, by-5.5, 6)
			cc.dc.Fill()
		}
		if i < len(stats)-1 {
			cc.dc.SetColor(color.RGBA{0x35, 0x37, 0x3C, 0xFF})
			cc.dc.DrawRectangle(x+20, y+56+lineH*float64(i+1)-0.5, w-40, 1)
			cc.dc.Fill()
		}
	}
	return nil
}

// emptyNote draws a centred message in an area, for charts without data.
func (cc *chartCanvas) emptyNote(x, y, w, h float64, msg, detail string) error {
	cy := y + h/2
	if _, err := cc.text(msg, x+w/2, cy, textOpts{tf: faceBold, px: 26, c: themeMuted, ax: 0.5, maxWidth: w - 40}); err != nil {
		return err
	}
	if detail != "" {
		if _, err := cc.text(detail, x+w/2, cy+32, textOpts{tf: faceRegular, px: 16, c: themeDim, ax: 0.5, maxWidth: w - 40}); err != nil {
			return err
		}
	}
	return nil
}

// encode finishes the chart as a PNG image.
func (cc *chartCanvas) encode(name string) (Image, error) {
	data, err := encodePNG(cc.img)
	if err != nil {
		return Image{}, err
	}
	return Image{Data: data, ContentType: ContentTypePNG, Name: name}, nil
}

// dot is a pre-rendered anti-aliased disc.
type dot struct {
	m *image.Alpha
	r int
}

func newDot(radius float64) dot {
	r := int(math.Ceil(radius)) + 1
	m := image.NewAlpha(image.Rect(0, 0, 2*r+1, 2*r+1))
	for y := 0; y <= 2*r; y++ {
		for x := 0; x <= 2*r; x++ {
			d := math.Hypot(float64(x-r), float64(y-r))
			m.Pix[y*m.Stride+x] = uint8(255 * clamp01(radius+0.5-d))
		}
	}
	return dot{m, r}
}

// stamp draws the dot centred at pixel (x, y) in src.
func (d dot) stamp(dst *image.RGBA, x, y float64, src *image.Uniform) {
	drawMaskAt(dst, d.m, image.Pt(int(math.Round(x))-d.r, int(math.Round(y))-d.r), src)
}

// Formatting helpers shared by the charts.

// formatHMS writes a click's value or claimed time as everywhere else:
// timefmt.Value (HH:MM:SS.mmm).
func formatHMS(d time.Duration) string { return timefmt.Value(d.Milliseconds()) }

// formatSpan writes a long span by its two largest units (timefmt.Rough):
// "300 d 4 h", "12 h", "1 h 30 min", "40 s".
func formatSpan(d time.Duration) string { return timefmt.Rough(d.Milliseconds()) }

// formatCount formats n with thousands separators: 10,000.
func formatCount(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// clampValue keeps a click's value inside [0, duration] for plotting.
func clampValue(v, duration time.Duration) time.Duration {
	return min(max(v, 0), max(duration, 0))
}

// clockTicker labels a value axis (in hours) of a clock of duration d at
// each band boundary (every sixth), in the unit that tells them apart on
// any clock: "6 s", "13 s" … on 40 s, "2 h", "4 h" … on 12 h, "50 d" … on
// 300 days (timefmt.Axis).
func clockTicker(d time.Duration) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		var ticks []plot.Tick
		step := d.Milliseconds() / NumBands
		for i := 0; i <= NumBands; i++ {
			v := d.Hours() * float64(i) / NumBands
			if v < lo-1e-9 || v > hi+1e-9 {
				continue
			}
			ms := d.Milliseconds() * int64(i) / NumBands
			ticks = append(ticks, plot.Tick{Value: v, Label: timefmt.Axis(ms, step)})
		}
		return ticks
	})
}

// timeTicker labels a time axis (Unix seconds, shown in UTC) with at most
// about n round steps: minutes to days, then weeks starting on Monday, then
// calendar months.
func timeTicker(n int) plot.Ticker {
	steps := []time.Duration{
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour,
	}
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		span := time.Duration((hi - lo) * float64(time.Second))
		if span <= 0 {
			return nil
		}
		loT := time.Unix(int64(math.Ceil(lo)), 0).UTC()
		for _, step := range steps {
			if span/step > time.Duration(n) {
				continue
			}
			var first time.Time
			if step == 7*24*time.Hour || step == 14*24*time.Hour {
				d := time.Date(loT.Year(), loT.Month(), loT.Day(), 0, 0, 0, 0, time.UTC)
				for d.Before(loT) || d.Weekday() != time.Monday {
					d = d.AddDate(0, 0, 1)
				}
				first = d
			} else {
				first = loT.Truncate(step)
				if first.Before(loT) {
					first = first.Add(step)
				}
			}
			var ticks []plot.Tick
			for t := first; unixSeconds(t) <= hi; t = t.Add(step) {
				label := t.Format("15:04")
				if step < time.Minute {
					label = t.Format("15:04:05")
				}
				if step >= 24*time.Hour || (t.Hour() == 0 && t.Minute() == 0) {
					label = t.Format("2 Jan")
				}
				ticks = append(ticks, plot.Tick{Value: unixSeconds(t), Label: label})
			}
			return ticks
		}
		// Months, or several months for long games.
		months := 1
		for _, m := range []int{1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200, 2400, 6000, 12000} {
			months = m
			if int(span.Hours()/24/30.4)/m <= n {
				break
			}
		}
		t := time.Date(loT.Year(), loT.Month(), 1, 0, 0, 0, 0, time.UTC)
		for t.Before(loT) || (int(t.Month())-1)%months != 0 {
			t = t.AddDate(0, 1, 0)
		}
		var ticks []plot.Tick
		for ; unixSeconds(t) <= hi; t = t.AddDate(0, months, 0) {
			label := t.Format("Jan")
			switch {
			case months >= 12:
				label = t.Format("2006")
			case t.Month() == time.January || len(ticks) == 0:
				label = t.Format("Jan 2006")
			}
			ticks = append(ticks, plot.Tick{Value: unixSeconds(t), Label: label})
		}
		return ticks
	})
}

// unixSeconds converts t to plot x.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// gridLines draws horizontal (and optionally vertical) grid lines at the
// plot's ticks.
type gridLines struct {
	vertical bool
}

var gridStyle = draw.LineStyle{Color: themeGrid, Width: 1}

func (g gridLines) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, t := range p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max) {
		if t.IsMinor() {
			continue
		}
		y := trY(t.Value)
		c.StrokeLine2(gridStyle, c.Min.X, y, c.Max.X, y)
	}
	if g.vertical {
		for _, t := range p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max) {
			if t.IsMinor() {
				continue
			}
			x := trX(t.Value)
			c.StrokeLine2(gridStyle, x, c.Min.Y, x, c.Max.Y)
		}
	}
}

// bandStripes fills the horizontal band regions of a clock of duration
// hours (y axis in hours) with pale band colours.
type bandStripes struct {
	hours float64
	alpha float64
}

func (b bandStripes) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	for i := 0; i < NumBands; i++ {
		lo := b.hours * float64(i) / NumBands
		hi := b.hours * float64(i+1) / NumBands
		y0, y1 := trY(math.Max(lo, p.Y.Min)), trY(math.Min(hi, p.Y.Max))
		if y1 <= y0 {
			continue
		}
		c.SetColor(nrgba(Band(i).Color(), b.alpha))
		var path vg.Path
		path.Move(vg.Point{X: c.Min.X, Y: y0})
		path.Line(vg.Point{X: c.Max.X, Y: y0})
		path.Line(vg.Point{X: c.Max.X, Y: y1})
		path.Line(vg.Point{X: c.Min.X, Y: y1})
		path.Close()
		c.Fill(path)
	}
}
