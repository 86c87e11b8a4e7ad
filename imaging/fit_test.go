package imaging

import (
	"errors"
	"fmt"
	"image"
	"math"
	"strings"
	"testing"
	"time"
)

// TestClockFitsCard measures the clock text against its box for the
// longest clocks, at every card width, and checks that it is centred.
func TestClockFitsCard(t *testing.T) {
	for _, w := range []int{MinCardWidth, DefaultCardWidth, 640, MaxCardWidth} {
		L := layoutFor(w)
		for _, text := range []string{"00:00:00", "99:59:59", "999:59:59", "9999:59:59", "123456:00:00"} {
			a, err := digitAtlasFor(L, len(text))
			if err != nil {
				t.Fatal(err)
			}
			if got := a.width([]byte(text)) + 2*a.outline; got > L.digitsBox {
				t.Errorf("%dpx card, %s: text %.1fpx wide, box %.1fpx", w, text, got, L.digitsBox)
			}
			minX, maxX := L.w, 0
			a.each([]byte(text), float64(L.w)/2, L.digitsBase, func(g *glyph, p image.Point) {
				b := g.outline.Bounds().Sub(g.outline.Bounds().Min).Add(p)
				minX, maxX = min(minX, b.Min.X), max(maxX, b.Max.X)
				if b.Min.Y < 0 || b.Max.Y > L.h {
					t.Errorf("%dpx card, %s: glyph rows %d…%d outside the card", w, text, b.Min.Y, b.Max.Y)
				}
			})
			if minX < 0 || maxX > L.w {
				t.Errorf("%dpx card, %s: text spans %d…%d, card is %d wide", w, text, minX, maxX, L.w)
			}
			// Digits sit in equal cells, so ink can be off by a little ("1").
			if off := float64((minX+maxX)-L.w) / 2; math.Abs(off) > 2*L.s+1 {
				t.Errorf("%dpx card, %s: text off centre by %.1fpx", w, text, off)
			}
		}
		for _, over := range []bool{false, true} {
			lm, err := labelMasksFor(L, over)
			if err != nil {
				t.Fatal(err)
			}
			b := lm.fill.Bounds().Sub(lm.fill.Bounds().Min).Add(lm.at)
			if b.Min.X < 0 || b.Max.X > L.w || b.Min.Y < int(L.panelY+L.panelH) {
				t.Errorf("%dpx card: label %v does not fit under the strip", w, b)
			}
		}
	}
}

// TestRenderedClockIsCentred finds the white clock digits in rendered
// cards and checks they are horizontally centred and inside the card.
func TestRenderedClockIsCentred(t *testing.T) {
	for _, b := range Bands() {
		for _, left := range []time.Duration{1 * time.Second, 999*time.Hour + 59*time.Minute + 59*time.Second} {
			img, err := RenderTimer(TimerCard{Band: b, Remaining: left, Static: true})
			if err != nil {
				t.Fatal(err)
			}
			m := toRGBA(decodePNG(t, img.Data))
			L := layoutFor(DefaultCardWidth)
			minX, maxX := m.Rect.Dx(), -1
			for y := int(L.digitsBase - L.digitsPx); y < int(L.digitsBase); y++ {
				for x := 0; x < m.Rect.Dx(); x++ {
					p := m.RGBAAt(x, y)
					if p.R > 245 && p.G > 245 && p.B > 245 {
						minX, maxX = min(minX, x), max(maxX, x)
					}
				}
			}
			if maxX < 0 {
				t.Fatalf("%v %v: no white digits found", b, left)
			}
			if l, r := minX, m.Rect.Dx()-1-maxX; absInt(l-r) > 6 || l < 20 || r < 20 {
				t.Errorf("%v %v: digits from x=%d to %d (margins %d and %d)", b, left, minX, maxX, l, r)
			}
		}
	}
}

// traceTexts runs f with text tracing on and returns what was drawn.
func traceTexts(t *testing.T, f func() error) []drawnText {
	t.Helper()
	var got []drawnText
	traceText = func(d drawnText) { got = append(got, d) }
	defer func() { traceText = nil }()
	if err := f(); err != nil {
		t.Fatal(err)
	}
	return got
}

func checkTextsFit(t *testing.T, what string, texts []drawnText) {
	t.Helper()
	if len(texts) == 0 {
		t.Fatalf("%s: no text traced", what)
	}
	for _, d := range texts {
		if d.x0 < 0 || d.y0 < 0 || d.x1 > float64(d.w) || d.y1 > float64(d.h) {
			t.Errorf("%s: %q at (%.0f,%.0f)-(%.0f,%.0f) leaves the %d×%d picture", what, d.text, d.x0, d.y0, d.x1, d.y1, d.w, d.h)
		}
		if d.maxWidth > 0 && d.x1-d.x0 > d.maxWidth+0.5 {
			t.Errorf("%s: %q is %.1fpx wide, its box %.1fpx", what, d.text, d.x1-d.x0, d.maxWidth)
		}
		if strings.TrimSpace(d.text) == "" {
			t.Errorf("%s: empty text drawn", what)
		}
	}
}

// extremeGame is 10,000 clicks by 15 players who all have 32-character
// names of the widest letters.
func extremeGame() GameStats {
	g := SyntheticGame(3, 10000, true)
	for i := range g.Clicks {
		n := i % 15
		g.Clicks[i].PlayerID = fmt.Sprintf("x%02d", n)
		g.Clicks[i].Player = fmt.Sprintf("%02d", n) + strings.Repeat("W", 30)
	}
	g.Game = 999999
	g.Status = "ended after a very long and unusual administrative procedure"
	return g
}

func TestChartTextsFit(t *testing.T) {
	g := extremeGame()
	checkTextsFit(t, "game chart", traceTexts(t, func() error { _, err := RenderGameChart(g); return err }))
	checkTextsFit(t, "timeline", traceTexts(t, func() error { _, err := RenderTimeline(g); return err }))
	ps := SyntheticPlayer(g, "x00")
	ps.Game, ps.Rank, ps.Players = 999999, 9999, 10000
	checkTextsFit(t, "player chart", traceTexts(t, func() error { _, err := RenderPlayerChart(ps); return err }))
	checkTextsFit(t, "end picture", traceTexts(t, func() error {
		_, err := RenderEndPicture(EndPicture{
			Game: 999999, Clicks: 10_000_000, Players: 99_999, Lifetime: 9999 * 24 * time.Hour,
			Ended: time.Date(2099, 12, 31, 23, 59, 0, 0, time.UTC), PerBand: [NumBands]int{1, 2, 3, 4, 5, 10_000_000},
		})
		return err
	}))
}

func TestChartsSurviveOddInput(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	odd := []Click{
		{At: at, Value: -time.Hour, Duration: 12 * time.Hour, Band: Red, Claimed: -time.Minute, Player: ""},
		{At: at, Value: 50 * time.Hour, Duration: 12 * time.Hour, Band: Purple, Player: "\x00\x1b[31mevil\n"},
		{At: at.Add(-time.Hour), Value: time.Hour, Duration: 0, Band: Orange, Player: "a"},
		{At: time.Time{}, Value: 0, Duration: -time.Hour, Band: Red, Player: "zero time"},
	}
	games := map[string]GameStats{
		"one click":      {Clicks: odd[:1]},
		"odd clicks":     {Clicks: odd, Duration: -time.Hour},
		"same instant":   {Clicks: odd[:2]},
		"end before now": {Clicks: odd[:3], Start: at, End: at.Add(-48 * time.Hour)},
		"nil clicks":     {},
	}
	for name, g := range games {
		t.Run(name, func(t *testing.T) {
			for _, render := range []func(GameStats) (Image, error){RenderGameChart, RenderTimeline} {
				img, err := render(g)
				if err != nil {
					t.Fatal(err)
				}
				decodePNG(t, img.Data)
			}
			img, err := RenderPlayerChart(PlayerStats{Name: "", Rank: 5, Players: 2, Duration: -time.Second, Clicks: g.Clicks})
			if err != nil {
				t.Fatal(err)
			}
			decodePNG(t, img.Data)
		})
	}
	if _, err := RenderEndPicture(EndPicture{Clicks: -5, Players: -1, Lifetime: -time.Hour, PerBand: [NumBands]int{-3, 0, 0, 0, 0, 0}}); err != nil {
		t.Fatal(err)
	}
}

func TestChartsRejectUnknownBands(t *testing.T) {
	g := GameStats{Clicks: []Click{{At: time.Now(), Band: 6, Duration: time.Hour}}}
	for name, err := range map[string]error{
		"game":     second(RenderGameChart(g)),
		"timeline": second(RenderTimeline(g)),
		"player":   second(RenderPlayerChart(PlayerStats{Clicks: g.Clicks})),
	} {
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: err = %v, want ErrInvalidInput", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestTopByClaimed(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cs := []Click{
		{At: at, PlayerID: "1", Player: "old name", Claimed: time.Hour, Value: 11 * time.Hour, Band: Purple},
		{At: at, PlayerID: "2", Player: "b", Claimed: 3 * time.Hour, Value: 9 * time.Hour, Band: Blue},
		{At: at, PlayerID: "1", Player: "new name", Claimed: 3 * time.Hour, Value: time.Hour, Band: Red},
		{At: at, PlayerID: "3", Player: "c", Claimed: 30 * time.Minute, Value: 11*time.Hour + 30*time.Minute, Band: Purple},
	}
	rows := topByClaimed(cs, 2)
	if len(rows) != 2 || rows[0].name != "new name" || rows[0].claimed != 4*time.Hour || rows[0].best != Red || rows[1].name != "b" {
		t.Errorf("top rows = %+v", rows)
	}
}
