package imaging

import (
	"context"
	"testing"
	"time"
)

// BenchmarkTimerPNG measures a static timer card, render + PNG encode, with
// the background layer and digit glyphs already prepared (the steady state).
func BenchmarkTimerPNG(b *testing.B) {
	c := TimerCard{Band: Blue, Remaining: 9*time.Hour + 3*time.Minute + 7*time.Second}
	if _, err := RenderTimer(c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		img, err := RenderTimer(c)
		if err != nil {
			b.Fatal(err)
		}
		size = len(img.Data)
	}
	b.ReportMetric(float64(size)/1024, "KB")
}

// BenchmarkTimerCacheHit measures a Renderer answering from its cache.
func BenchmarkTimerCacheHit(b *testing.B) {
	r := NewRenderer(0)
	ctx := context.Background()
	c := TimerCard{Band: Green, Remaining: 7 * time.Hour}
	if _, err := r.Timer(ctx, c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Timer(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimerGIF measures producing each animated card (render, quantise,
// encode), and reports its size.
func BenchmarkTimerGIF(b *testing.B) {
	for _, tc := range []struct {
		name string
		left time.Duration
	}{
		{"alert", 29*time.Minute + 59*time.Second},
		{"emergency", 4*time.Minute + 59*time.Second},
		{"critical", 59 * time.Second},
		{"apocalypse", 3 * time.Second},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := TimerCard{Band: Red, Remaining: tc.left}
			b.ReportAllocs()
			var size int
			for b.Loop() {
				img, err := RenderTimer(c)
				if err != nil {
					b.Fatal(err)
				}
				size = len(img.Data)
			}
			b.ReportMetric(float64(size)/1024, "KB")
		})
	}
}

// benchChart measures one chart of a 10,000-click game.
func benchChart(b *testing.B, render func(GameStats) (Image, error)) {
	g := SyntheticGame(1, 10000, true)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		img, err := render(g)
		if err != nil {
			b.Fatal(err)
		}
		size = len(img.Data)
	}
	b.ReportMetric(float64(size)/1024, "KB")
}

func BenchmarkChartPlayer(b *testing.B) {
	benchChart(b, func(g GameStats) (Image, error) {
		// The most active player: every one of their clicks is drawn.
		return RenderPlayerChart(SyntheticPlayer(g, "p000"))
	})
}

func BenchmarkChartGame(b *testing.B)     { benchChart(b, RenderGameChart) }
func BenchmarkChartTimeline(b *testing.B) { benchChart(b, RenderTimeline) }

func BenchmarkEndPicture(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderEndPicture(EndPicture{Game: 42, Clicks: 10000, Players: 120, Lifetime: 300 * 24 * time.Hour, PerBand: [NumBands]int{80, 120, 180, 290, 480, 8850}}); err != nil {
			b.Fatal(err)
		}
	}
}
