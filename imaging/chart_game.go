package imaging

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"
	"time"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/thebutton-game/thebutton/timefmt"
)

// RenderGameChart draws the statistics chart of a game as a PNG (Name
// "game-stats.png", ChartWidth×ChartHeight): a summary box (clicks,
// players, time elapsed, clicks per player and per hour), clicks and time
// claimed per colour, a heat map of clicks by hour of day × weekday (UTC)
// and the top 10 players by time claimed, each coloured by their best
// (lowest) click. A game without clicks gives a chart saying so. It fails,
// wrapping ErrInvalidInput, if a click has an unknown band. Safe for
// concurrent use.
func RenderGameChart(g GameStats) (Image, error) {
	if err := invalidClicks(g.Clicks); err != nil {
		return Image{}, fmt.Errorf("render game chart: %w", err)
	}
	img, err := renderGameChart(g)
	if err != nil {
		return Image{}, fmt.Errorf("render game chart: %w", err)
	}
	return img, nil
}

// TopRow is one line of a top-10 table.
type topRow struct {
	name    string
	claimed time.Duration
	clicks  int
	best    Band
	bestVal time.Duration
}

// topByClaimed returns up to n players by total time claimed, ties broken
// by fewer clicks, then name.
func topByClaimed(cs []Click, n int) []topRow {
	idx := map[string]int{}
	var rows []topRow
	for _, c := range cs {
		k := c.playerKey()
		i, ok := idx[k]
		if !ok {
			i = len(rows)
			idx[k] = i
			rows = append(rows, topRow{name: c.Player, best: c.Band, bestVal: c.Value})
		}
		r := &rows[i]
		r.claimed += max(c.Claimed, 0)
		r.clicks++
		if c.Value < r.bestVal {
			r.best, r.bestVal = c.Band, c.Value
		}
		if c.Player != "" {
			r.name = c.Player // the latest name seen
		}
	}
	slices.SortFunc(rows, func(a, b topRow) int {
		switch {
		case a.claimed != b.claimed:
			if a.claimed > b.claimed {
				return -1
			}
			return 1
		case a.clicks != b.clicks:
			return a.clicks - b.clicks
		}
		return strings.Compare(a.name, b.name)
	})
	return rows[:min(n, len(rows))]
}

func renderGameChart(g GameStats) (Image, error) {
	s := summarize(g)
	cc, err := newChartCanvas(ChartWidth, ChartHeight)
	if err != nil {
		return Image{}, err
	}
	if err := cc.titleBar(gameTitle(g, "statistics"), gameSubtitle(g)); err != nil {
		return Image{}, err
	}

	// Summary.
	elapsed := s.end.Sub(s.start)
	perPlayer, perHour, elapsedText := "—", "—", "—"
	if s.clicks > 0 || !g.Start.IsZero() {
		elapsedText = formatSpan(elapsed)
	}
	if s.players > 0 {
		perPlayer = fmt.Sprintf("%.1f", float64(s.clicks)/float64(s.players))
	}
	if elapsed >= time.Minute && s.clicks > 0 {
		perHour = fmt.Sprintf("%.2f", float64(s.clicks)/elapsed.Hours())
	}
	stats := []stat{
		{label: "Clicks", value: formatCount(s.clicks)},
		{label: "Players", value: formatCount(s.players)},
		{label: "Time elapsed", value: elapsedText},
		{label: "Clicks per player", value: perPlayer},
		{label: "Clicks per hour", value: perHour},
		{label: "Clock", value: formatSpan(s.duration)},
	}
	if i := lowestOverall(s); i >= 0 {
		c := g.Clicks[i]
		stats = append(stats, stat{label: "Lowest click", value: formatHMS(c.Value), swatch: c.Band.Color()})
	}
	if err := cc.statBox(24, 96, 360, 340, "Summary", stats); err != nil {
		return Image{}, err
	}

	// Panels.
	const (
		barsX, barsY, barsW, barsH = 400.0, 96.0, ChartWidth - 424.0, 340.0
		heatX, heatY, heatW, heatH = 24.0, 452.0, 700.0, ChartHeight - 452.0 - 24
		topX, topY, topW, topH     = 740.0, 452.0, ChartWidth - 764.0, ChartHeight - 452.0 - 24
	)
	cc.panel(barsX, barsY, barsW, barsH)
	cc.panel(heatX, heatY, heatW, heatH)
	cc.panel(topX, topY, topW, topH)
	if s.clicks == 0 {
		for _, r := range [][4]float64{{barsX, barsY, barsW, barsH}, {heatX, heatY, heatW, heatH}, {topX, topY, topW, topH}} {
			if err := cc.emptyNote(r[0], r[1], r[2], r[3], "No clicks yet", ""); err != nil {
				return Image{}, err
			}
		}
		return cc.encode("game-stats.png")
	}
	if err := cc.bandBars(s, barsX, barsY, barsW, barsH); err != nil {
		return Image{}, err
	}
	if err := cc.heatMap(g.Clicks, heatX, heatY, heatW, heatH); err != nil {
		return Image{}, err
	}
	if err := cc.topTen(topByClaimed(g.Clicks, 10), topX, topY, topW, topH); err != nil {
		return Image{}, err
	}
	return cc.encode("game-stats.png")
}

func lowestOverall(s gameSummary) int {
	for b := 0; b < NumBands; b++ { // the lowest band's record is the lowest click
		if s.record[b] >= 0 {
			return s.record[b]
		}
	}
	return -1
}

// bandBars draws clicks per colour as vertical bars, Purple to Red, each
// labelled with its count, share and time claimed.
func (cc *chartCanvas) bandBars(s gameSummary, x, y, w, h float64) error {
	if _, err := cc.text("Clicks per colour", x+20, y+32, textOpts{tf: faceBold, px: 17, c: themeText}); err != nil {
		return err
	}
	if _, err := cc.text("label: clicks · share · time claimed", x+w-20, y+32, textOpts{tf: faceRegular, px: 13, c: themeDim, ax: 1}); err != nil {
		return err
	}
	p, err := newDarkPlot()
	if err != nil {
		return err
	}
	maxN := 1
	for _, n := range s.perBand {
		maxN = max(maxN, n)
	}
	p.Add(gridLines{})
	names := make([]string, NumBands)
	for i := 0; i < NumBands; i++ {
		b := Band(NumBands - 1 - i)
		names[i] = b.String()
		bc, err := plotter.NewBarChart(plotter.Values{float64(s.perBand[b])}, vg.Length(64))
		if err != nil {
			return fmt.Errorf("band bars: %w", err)
		}
		bc.Color = b.Color()
		bc.LineStyle.Width = 0
		bc.XMin = float64(i)
		p.Add(bc)
	}
	p.NominalX(names...)
	p.X.Tick.Label.Font.Weight = xfont.WeightBold
	p.X.Tick.Label.Color = themeText
	p.X.Min, p.X.Max = -0.6, NumBands-0.4
	p.Y.Min, p.Y.Max = 0, float64(maxN)*1.32 // head room for the labels
	p.Y.Tick.Marker = countTicker{}
	area := cc.area(x+16, y+46, w-32, h-58)
	p.Draw(area)
	dataC := p.DataCanvas(area)
	trX, trY := p.Transforms(&dataC)
	for i := 0; i < NumBands; i++ {
		b := Band(NumBands - 1 - i)
		n := s.perBand[b]
		bx, by := cc.toPixel(trX(float64(i)), trY(float64(n)))
		share := 0.0
		if s.clicks > 0 {
			share = 100 * float64(n) / float64(s.clicks)
		}
		if _, err := cc.text(formatCount(n), bx, by-30, textOpts{tf: faceBold, px: 15, c: themeText, ax: 0.5, maxWidth: 110}); err != nil {
			return err
		}
		sub := fmt.Sprintf("%.1f%% · %s", share, shortSpan(s.claimedPerBand[b]))
		if _, err := cc.text(sub, bx, by-12, textOpts{tf: faceRegular, px: 12, c: themeMuted, ax: 0.5, maxWidth: 118, minPx: 9}); err != nil {
			return err
		}
	}
	return nil
}

// shortSpan formats a total of claimed time by its two largest units, as
// everywhere (timefmt.Rough): "51 d 10 h", "36 min 5 s".
func shortSpan(d time.Duration) string { return timefmt.Rough(d.Milliseconds()) }

// countTicker labels a count axis with about five round steps.
type countTicker struct{}

func (countTicker) Ticks(lo, hi float64) []plot.Tick {
	span := hi - lo
	if span <= 0 {
		return []plot.Tick{{Value: lo, Label: formatCount(int(lo))}}
	}
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	step = math.Max(1, math.Round(step))
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: formatCount(int(v))})
	}
	return ticks
}

// heatGrid is clicks by hour of day (columns) × weekday (rows, Monday on
// top) in UTC.
type heatGrid struct {
	z   [7][24]float64
	max float64
}

func (h *heatGrid) Dims() (int, int)   { return 24, 7 }
func (h *heatGrid) Z(c, r int) float64 { return h.z[r][c] }
func (h *heatGrid) X(c int) float64    { return float64(c) }
func (h *heatGrid) Y(r int) float64    { return float64(r) }
func (h *heatGrid) Min() float64       { return 0 }
func (h *heatGrid) Max() float64       { return math.Max(1, h.max) }
func (h *heatGrid) add(t time.Time)    { t = t.UTC(); r := 6 - (int(t.Weekday())+6)%7; h.z[r][t.Hour()]++ }
func weekdayRowName(r int) string {
	return [...]string{"Sun", "Sat", "Fri", "Thu", "Wed", "Tue", "Mon"}[r]
}
func (p heatPalette) Colors() []color.Color { return p }

// heatPalette runs from the panel colour through the bands' blue and
// purple to yellow and white: empty hours disappear, busy hours glow.
type heatPalette []color.Color

func newHeatPalette(n int) heatPalette {
	stops := []color.RGBA{
		{0x31, 0x33, 0x38, 0xFF},
		{0x35, 0x4A, 0x8C, 0xFF},
		Purple.Color(),
		{0xC2, 0x41, 0x7A, 0xFF},
		Orange.Color(),
		{0xF5, 0xD5, 0x6A, 0xFF},
		{0xFF, 0xF8, 0xE0, 0xFF},
	}
	p := make(heatPalette, n)
	for i := range p {
		t := float64(i) / float64(n-1) * float64(len(stops)-1)
		j := min(int(t), len(stops)-2)
		p[i] = mix(stops[j], stops[j+1], t-float64(j))
	}
	return p
}

func (cc *chartCanvas) heatMap(cs []Click, x, y, w, h float64) error {
	if _, err := cc.text("Clicks by hour and weekday (UTC)", x+20, y+32, textOpts{tf: faceBold, px: 17, c: themeText}); err != nil {
		return err
	}
	var grid heatGrid
	for _, c := range cs {
		grid.add(c.At)
	}
	for r := range grid.z {
		for c := range grid.z[r] {
			grid.max = math.Max(grid.max, grid.z[r][c])
		}
	}
	pal := newHeatPalette(64)
	hm := plotter.NewHeatMap(&grid, pal)
	hm.Min, hm.Max = 0, grid.Max()
	p, err := newDarkPlot()
	if err != nil {
		return err
	}
	p.Add(hm)
	p.X.Min, p.X.Max = -0.5, 23.5
	p.Y.Min, p.Y.Max = -0.5, 6.5
	p.X.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		var t []plot.Tick
		for hr := 0; hr < 24; hr += 3 {
			t = append(t, plot.Tick{Value: float64(hr), Label: fmt.Sprintf("%02d:00", hr)})
		}
		return t
	})
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		t := make([]plot.Tick, 7)
		for r := range t {
			t[r] = plot.Tick{Value: float64(r), Label: weekdayRowName(r)}
		}
		return t
	})
	p.X.Tick.Length, p.Y.Tick.Length = 0, 0
	p.X.LineStyle.Width, p.Y.LineStyle.Width = 0, 0
	legendW := 96.0
	area := cc.area(x+16, y+46, w-32-legendW, h-58)
	p.Draw(area)

	// Cell gaps: thin panel-coloured lines between cells read as tiles.
	dataC := p.DataCanvas(area)
	r := pixelRect(cc, dataC)
	cc.dc.SetColor(themePanel)
	cc.dc.SetLineWidth(2)
	for c := 1; c < 24; c++ {
		gx := r.x0 + (r.x1-r.x0)*float64(c)/24
		cc.dc.DrawLine(gx, r.y0, gx, r.y1)
	}
	for rr := 1; rr < 7; rr++ {
		gy := r.y0 + (r.y1-r.y0)*float64(rr)/7
		cc.dc.DrawLine(r.x0, gy, r.x1, gy)
	}
	cc.dc.Stroke()

	// Legend: a vertical gradient with 0 and the maximum.
	lx, ly0, ly1 := x+w-legendW+18, r.y0, r.y1
	for i := 0; i < len(pal); i++ {
		t0 := ly1 - (ly1-ly0)*float64(i+1)/float64(len(pal))
		cc.dc.SetColor(pal[i])
		cc.dc.DrawRectangle(lx, t0, 16, (ly1-ly0)/float64(len(pal))+1)
		cc.dc.Fill()
	}
	if _, err := cc.text(formatCount(int(grid.max)), lx+24, ly0+10, textOpts{tf: faceRegular, px: 12, c: themeMuted, maxWidth: legendW - 46}); err != nil {
		return err
	}
	if _, err := cc.text("0", lx+24, ly1, textOpts{tf: faceRegular, px: 12, c: themeMuted}); err != nil {
		return err
	}
	return nil
}

// topTen draws the players with the most time claimed as horizontal bars
// in the colour of their best click.
func (cc *chartCanvas) topTen(rows []topRow, x, y, w, h float64) error {
	title := fmt.Sprintf("Top %d by time claimed", min(len(rows), 10))
	switch len(rows) {
	case 0:
		title = "Time claimed"
	case 1:
		title = "The top player by time claimed"
	}
	if _, err := cc.text(title, x+20, y+32, textOpts{tf: faceBold, px: 17, c: themeText, maxWidth: w - 40}); err != nil {
		return err
	}
	const nameW, valueW = 196.0, 70.0
	top := y + 52
	rowH := math.Min(26, (h-64)/10)
	maxC := time.Duration(1)
	for _, r := range rows {
		maxC = max(maxC, r.claimed)
	}
	barX0 := x + 20 + nameW + 10
	barMax := w - 40 - nameW - 10 - valueW - 8
	for i, r := range rows {
		cy := top + rowH*float64(i) + rowH/2
		name := fmt.Sprintf("%d. %s", i+1, cleanName(r.name))
		if _, err := cc.text(name, x+20, cy+5, textOpts{tf: faceMedium, px: 13, c: themeText, maxWidth: nameW, minPx: 13}); err != nil {
			return err
		}
		bw := math.Max(3, barMax*float64(r.claimed)/float64(maxC))
		cc.dc.SetColor(r.best.Color())
		cc.dc.DrawRoundedRectangle(barX0, cy-rowH*0.34, bw, rowH*0.68, 4)
		cc.dc.Fill()
		if _, err := cc.text(shortSpan(r.claimed), barX0+bw+8, cy+5, textOpts{tf: faceRegular, px: 12, c: themeMuted, maxWidth: valueW}); err != nil {
			return err
		}
	}
	return nil
}
