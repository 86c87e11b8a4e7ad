package imaging

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata/golden")

// Pixel comparison tolerance: font rasterisation and anti-aliasing may move
// a few pixels by a few levels between platforms and library versions.
const (
	goldenChannelTolerance = 24    // per channel, out of 255
	goldenPixelShare       = 0.004 // share of pixels allowed beyond it
	goldenMinPixels        = 40    // … but always allow this many
)

func toRGBA(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok && r.Rect.Min == (image.Point{}) {
		return r
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}

func decodePNG(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	return img
}

func decodeGIF(t *testing.T, data []byte) *gif.GIF {
	t.Helper()
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode gif: %v", err)
	}
	return g
}

// compositeGIF returns the full picture shown at frame n of g, drawing
// frames 0…n over each other (every frame uses DisposalNone).
func compositeGIF(g *gif.GIF, n int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, g.Config.Width, g.Config.Height))
	for i := 0; i <= n && i < len(g.Image); i++ {
		draw.Draw(out, g.Image[i].Bounds(), g.Image[i], g.Image[i].Bounds().Min, draw.Over)
	}
	return out
}

// pixelDiff counts the pixels of a and b that differ by more than tol in
// any channel (colours compared straight, not premultiplied).
func pixelDiff(a, b *image.RGBA, tol int) (n int, worst int) {
	for i := 0; i+4 <= len(a.Pix); i += 4 {
		pa, pb := a.Pix[i:i+4], b.Pix[i:i+4]
		if pa[3] == 0 && pb[3] == 0 {
			continue
		}
		d := 0
		for c := 0; c < 4; c++ {
			d = max(d, absInt(int(pa[c])-int(pb[c])))
		}
		worst = max(worst, d)
		if d > tol {
			n++
		}
	}
	return n, worst
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// checkGolden compares img with testdata/golden/name.png, or rewrites that
// file with -update.
func checkGolden(t *testing.T, name string, img image.Image) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".png")
	got := toRGBA(img)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, got); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test ./imaging -update to create it): %v", err)
	}
	want := toRGBA(decodePNG(t, data))
	if got.Bounds() != want.Bounds() {
		t.Fatalf("%s: size %v, golden %v", name, got.Bounds().Size(), want.Bounds().Size())
	}
	n, worst := pixelDiff(got, want, goldenChannelTolerance)
	allowed := max(goldenMinPixels, int(goldenPixelShare*float64(len(got.Pix)/4)))
	if n > allowed {
		out := filepath.Join(t.TempDir(), name+".got.png")
		var buf bytes.Buffer
		_ = png.Encode(&buf, got)
		_ = os.WriteFile(out, buf.Bytes(), 0o644)
		t.Errorf("%s: %d pixels differ by more than %d (allowed %d, worst %d); got image written to %s",
			name, n, goldenChannelTolerance, allowed, worst, out)
	}
}

func TestTimerCardGolden(t *testing.T) {
	type tc struct {
		name string
		card TimerCard
	}
	var cases []tc
	for _, b := range Bands() {
		left := time.Duration(int(b)*2+1)*time.Hour + 23*time.Minute + 45*time.Second
		cases = append(cases, tc{fmt.Sprintf("timer-static-%d-%s", int(b), b), TimerCard{Band: b, Remaining: left}})
	}
	cases = append(cases,
		tc{"timer-game-over", TimerCard{Band: Red}},
		tc{"timer-aborted-blue", TimerCard{Band: Blue, Remaining: time.Hour, Over: true}},
		tc{"timer-longest", TimerCard{Band: Green, Remaining: 999*time.Hour + 59*time.Minute + 59*time.Second}},
		tc{"timer-static-when-urgent", TimerCard{Band: Red, Remaining: 42 * time.Second, Static: true}},
		tc{"timer-wide", TimerCard{Band: Orange, Remaining: 3*time.Hour + 33*time.Minute, Width: 800}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := RenderTimer(c.card)
			if err != nil {
				t.Fatal(err)
			}
			if img.ContentType != ContentTypePNG || img.Name != "timer.png" {
				t.Fatalf("got %s %q, want a PNG timer.png", img.ContentType, img.Name)
			}
			checkGolden(t, c.name, decodePNG(t, img.Data))
		})
	}
}

func TestAnimatedTimerGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		card TimerCard
	}{
		{"alert-red", TimerCard{Band: Red, Remaining: 29*time.Minute + 58*time.Second}},
		{"emergency-red", TimerCard{Band: Red, Remaining: 4*time.Minute + 33*time.Second}},
		{"critical-red", TimerCard{Band: Red, Remaining: 57 * time.Second}},
		{"apocalypse-red", TimerCard{Band: Red, Remaining: 7 * time.Second}},
		{"emergency-blue", TimerCard{Band: Blue, Remaining: 3 * time.Minute}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := RenderTimer(c.card)
			if err != nil {
				t.Fatal(err)
			}
			if img.ContentType != ContentTypeGIF || img.Name != "timer.gif" {
				t.Fatalf("got %s %q, want a GIF timer.gif", img.ContentType, img.Name)
			}
			g := decodeGIF(t, img.Data)
			checkGolden(t, "timer-anim-"+c.name+"-f0", compositeGIF(g, 0))
			checkGolden(t, "timer-anim-"+c.name+"-mid", compositeGIF(g, len(g.Image)/2))
		})
	}
}

func TestChartGolden(t *testing.T) {
	g := SyntheticGame(1, 10000, true)
	small := SyntheticGame(7, 150, false)
	s := summarize(g)
	cases := []struct {
		name   string
		render func() (Image, error)
	}{
		{"chart-player", func() (Image, error) { return RenderPlayerChart(SyntheticPlayer(g, "p000")) }},
		{"chart-player-few", func() (Image, error) { return RenderPlayerChart(SyntheticPlayer(small, "p003")) }},
		{"chart-game", func() (Image, error) { return RenderGameChart(g) }},
		{"chart-game-small", func() (Image, error) { return RenderGameChart(small) }},
		{"chart-timeline", func() (Image, error) { return RenderTimeline(g) }},
		{"chart-timeline-small", func() (Image, error) { return RenderTimeline(small) }},
		{"chart-game-empty", func() (Image, error) { return RenderGameChart(GameStats{Game: 3}) }},
		{"chart-timeline-empty", func() (Image, error) { return RenderTimeline(GameStats{Game: 3}) }},
		{"chart-player-empty", func() (Image, error) { return RenderPlayerChart(PlayerStats{Name: "Newcomer"}) }},
		{"end", func() (Image, error) {
			return RenderEndPicture(EndPicture{Game: g.Game, Clicks: s.clicks, Players: s.players, Lifetime: g.End.Sub(g.Start), Ended: g.End, PerBand: s.perBand})
		}},
		{"end-aborted-bare", func() (Image, error) { return RenderEndPicture(EndPicture{Aborted: true}) }},
		{"end-aborted-truthful", func() (Image, error) {
			return RenderEndPicture(EndPicture{Game: 7, Aborted: true, Left: time.Minute + 46*time.Second, By: "an admin",
				Why: "moving the game to #button-2", Clicks: 40, Players: 6, Lifetime: 3 * time.Hour,
				Ended: time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC), PerBand: [NumBands]int{1, 2, 3, 4, 10, 20}})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := c.render()
			if err != nil {
				t.Fatal(err)
			}
			if img.ContentType != ContentTypePNG {
				t.Fatalf("content type %s, want PNG", img.ContentType)
			}
			checkGolden(t, c.name, decodePNG(t, img.Data))
		})
	}
}

// TestGoldenToleranceCatchesOneDigit makes sure the golden tolerance is
// tight enough to notice a single changed digit on a card.
func TestGoldenToleranceCatchesOneDigit(t *testing.T) {
	a, err := RenderTimer(TimerCard{Band: Red, Remaining: time.Hour + 8*time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := RenderTimer(TimerCard{Band: Red, Remaining: time.Hour + 9*time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ga, gb := toRGBA(decodePNG(t, a.Data)), toRGBA(decodePNG(t, b.Data))
	n, _ := pixelDiff(ga, gb, goldenChannelTolerance)
	allowed := max(goldenMinPixels, int(goldenPixelShare*float64(len(ga.Pix)/4)))
	if n <= allowed {
		t.Errorf("a changed digit moves only %d pixels, within the tolerance of %d", n, allowed)
	}
}
