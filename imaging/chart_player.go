package imaging

import (
	"fmt"
	"image"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlayerStats is what the player chart shows about one player in one game.
type PlayerStats struct {
	Name string // display name (up to 32 characters are shown)
	Game int    // game number, shown as "Game #N"; 0 hides it
	// Rank is the player's 1-based place among Players on the caller's
	// leaderboard; 0 hides the rank and the "better than" figure.
	Rank, Players int
	// Duration is the game's full clock; 0 = the largest Duration among
	// the clicks.
	Duration time.Duration
	// Clicks are the player's own clicks, in any order.
	Clicks []Click
}

// RenderPlayerChart draws a player's statistics as a PNG (Name
// "player-stats.png", ChartWidth×ChartHeight): a summary box (rank, clicks,
// time claimed, best click, share of players beaten), the player's clicks
// per colour and their clicks over time (UTC) against the colour bands.
// A player without clicks gives a chart saying so. It fails, wrapping
// ErrInvalidInput, if a click has an unknown band. Safe for concurrent use.
func RenderPlayerChart(ps PlayerStats) (Image, error) {
	if err := invalidClicks(ps.Clicks); err != nil {
		return Image{}, fmt.Errorf("render player chart: %w", err)
	}
	img, err := renderPlayerChart(ps)
	if err != nil {
		return Image{}, fmt.Errorf("render player chart: %w", err)
	}
	return img, nil
}

func renderPlayerChart(ps PlayerStats) (Image, error) {
	s := summarize(GameStats{Duration: ps.Duration, Clicks: ps.Clicks})
	cc, err := newChartCanvas(ChartWidth, ChartHeight)
	if err != nil {
		return Image{}, err
	}
	name := cleanName(ps.Name)
	sub := "times in UTC"
	if ps.Game > 0 {
		sub = fmt.Sprintf("Game #%d · %s", ps.Game, sub)
	}
	if err := cc.titleBar(name+"’s button stats", sub); err != nil {
		return Image{}, err
	}

	var claimed time.Duration
	for _, c := range ps.Clicks {
		claimed += max(c.Claimed, 0)
	}
	stats := []stat{}
	if ps.Rank > 0 {
		r := fmt.Sprintf("#%d", ps.Rank)
		if ps.Players > 0 {
			r += " of " + formatCount(ps.Players)
		}
		stats = append(stats, stat{label: "Rank", value: r})
	}
	stats = append(stats,
		stat{label: "Total clicks", value: formatCount(s.clicks)},
		stat{label: "Time claimed", value: formatHMS(claimed)},
	)
	if i := lowestOverall(s); i >= 0 {
		c := ps.Clicks[i]
		stats = append(stats, stat{label: "Best click", value: formatHMS(c.Value), swatch: c.Band.Color()})
	} else {
		stats = append(stats, stat{label: "Best click", value: "—"})
	}
	if ps.Rank > 0 && ps.Players > 1 && ps.Rank <= ps.Players {
		pct := 100 * float64(ps.Players-ps.Rank) / float64(ps.Players-1)
		stats = append(stats, stat{label: "Better than", value: fmt.Sprintf("%.0f%% of players", pct)})
	}
	if s.clicks > 0 {
		stats = append(stats,
			stat{label: "First click", value: s.first.UTC().Format("2 Jan 2006 15:04")},
			stat{label: "Last click", value: s.last.UTC().Format("2 Jan 2006 15:04")},
		)
	}
	if err := cc.statBox(24, 96, 390, 340, "Summary", stats); err != nil {
		return Image{}, err
	}

	const (
		barsX, barsY, barsW, barsH = 24.0, 452.0, 390.0, ChartHeight - 452.0 - 24
		dotsX, dotsY, dotsW, dotsH = 430.0, 96.0, ChartWidth - 454.0, ChartHeight - 96.0 - 24
	)
	cc.panel(barsX, barsY, barsW, barsH)
	cc.panel(dotsX, dotsY, dotsW, dotsH)
	if s.clicks == 0 {
		if err := cc.emptyNote(barsX, barsY, barsW, barsH, "No clicks yet", ""); err != nil {
			return Image{}, err
		}
		if err := cc.emptyNote(dotsX, dotsY, dotsW, dotsH, "No clicks yet", "Press the button to start a journey."); err != nil {
			return Image{}, err
		}
		return cc.encode("player-stats.png")
	}
	if err := cc.colourCounts(s, barsX, barsY, barsW, barsH); err != nil {
		return Image{}, err
	}
	if err := cc.clicksOverTime(ps.Clicks, s, dotsX, dotsY, dotsW, dotsH); err != nil {
		return Image{}, err
	}
	return cc.encode("player-stats.png")
}

// colourCounts draws horizontal bars of clicks per colour, Purple on top.
func (cc *chartCanvas) colourCounts(s gameSummary, x, y, w, h float64) error {
	if _, err := cc.text("Clicks per colour", x+20, y+32, textOpts{tf: faceBold, px: 17, c: themeText}); err != nil {
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
	p.Add(verticalGrid{})
	names := make([]string, NumBands)
	for b := 0; b < NumBands; b++ { // row b from the bottom: Red at the bottom
		names[b] = Band(b).String()
		bc, err := plotter.NewBarChart(plotter.Values{float64(s.perBand[b])}, vg.Length(26))
		if err != nil {
			return fmt.Errorf("colour counts: %w", err)
		}
		bc.Color = Band(b).Color()
		bc.LineStyle.Width = 0
		bc.Horizontal = true
		bc.XMin = float64(b)
		p.Add(bc)
	}
	p.NominalY(names...)
	p.X.Min, p.X.Max = 0, float64(maxN)*1.22
	p.X.Tick.Marker = countTicker{}
	area := cc.area(x+14, y+44, w-28, h-54)
	p.Draw(area)
	dataC := p.DataCanvas(area)
	trX, trY := p.Transforms(&dataC)
	for b := 0; b < NumBands; b++ {
		bx, by := cc.toPixel(trX(float64(s.perBand[b])), trY(float64(b)))
		if _, err := cc.text(formatCount(s.perBand[b]), bx+6, by+5, textOpts{tf: faceBold, px: 13, c: themeText}); err != nil {
			return err
		}
	}
	return nil
}

// verticalGrid draws vertical grid lines at the x ticks.
type verticalGrid struct{}

func (verticalGrid) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, t := range p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max) {
		if t.IsMinor() {
			continue
		}
		x := trX(t.Value)
		c.StrokeLine2(gridStyle, x, c.Min.Y, x, c.Max.Y)
	}
}

// clicksOverTime draws the player's clicks at their time (x) and value (y)
// over the band stripes.
func (cc *chartCanvas) clicksOverTime(cs []Click, s gameSummary, x, y, w, h float64) error {
	if _, err := cc.text("Clicks over time", x+20, y+32, textOpts{tf: faceBold, px: 17, c: themeText}); err != nil {
		return err
	}
	p, err := newDarkPlot()
	if err != nil {
		return err
	}
	hours := s.duration.Hours()
	x0, x1 := unixSeconds(s.first), unixSeconds(s.last)
	pad := math.Max((x1-x0)*0.04, 1800)
	p.X.Min, p.X.Max = x0-pad, x1+pad
	p.Y.Min, p.Y.Max = 0, hours
	p.X.Tick.Marker = timeTicker(6)
	p.Y.Tick.Marker = clockTicker(s.duration)
	p.Y.Label.Text = "time left when clicked"
	p.Add(bandStripes{hours: hours, alpha: 0.12}, gridLines{vertical: true})
	const gutter = 70
	area := cc.area(x+14, y+46, w-28-gutter, h-58)
	p.Draw(area)
	dataC := p.DataCanvas(area)
	trX, trY := p.Transforms(&dataC)
	right, _ := cc.toPixel(dataC.Max.X, 0)
	for b := 0; b < NumBands; b++ {
		_, yc := cc.toPixel(0, trY(hours*(float64(b)+0.5)/NumBands))
		if _, err := cc.text(Band(b).String(), right+10, yc+5, textOpts{tf: faceBold, px: 13, c: lighten(Band(b).Color(), 0.25), maxWidth: gutter - 6}); err != nil {
			return err
		}
	}
	// Fewer dots than on the timeline: draw them larger, with a rim.
	radius := 5.0
	if len(cs) > 300 {
		radius = 3.2
	}
	rim, fill := newDot(radius+1.3), newDot(radius)
	rimSrc := image.NewUniform(withAlpha(themeBG, 0.9))
	var srcs [NumBands]*image.Uniform
	for b := range srcs {
		srcs[b] = image.NewUniform(lighten(Band(b).Color(), 0.1))
	}
	for _, c := range cs {
		px, py := cc.toPixel(trX(unixSeconds(c.At)), trY(clampValue(c.Value, s.duration).Hours()))
		rim.stamp(cc.img, px, py, rimSrc)
		fill.stamp(cc.img, px, py, srcs[c.Band])
	}
	return nil
}
