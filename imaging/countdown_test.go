package imaging

import (
	"bytes"
	"image"
	"image/draw"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestCountdownPlanFollowsTheDeadline: at the moment of posting, every
// frame of the plan starts when the clock it shows really begins (to within
// 10 ms, far less than one frame), and the game-over frame at the deadline.
func TestCountdownPlanFollowsTheDeadline(t *testing.T) {
	for _, r := range []time.Duration{
		time.Minute + 59*time.Second + 437*time.Millisecond, 10 * time.Second, 7500 * time.Millisecond,
		1003 * time.Millisecond, 15 * time.Millisecond, 998 * time.Millisecond, 0,
	} {
		posted := time.Date(2026, 12, 7, 5, 0, 0, 123e6, time.UTC)
		deadline := posted.Add(r)
		plan := Countdown{Band: Red, Remaining: r}.Plan()
		if !plan[len(plan)-1].Over {
			t.Fatalf("r=%v: the last frame is not the game-over card", r)
		}
		var at time.Duration
		for i, f := range plan {
			if f.At != at {
				t.Errorf("r=%v frame %d: At %v, but the delays before it add up to %v", r, i, f.At, at)
			}
			at += time.Duration(f.Delay) * 10 * time.Millisecond
			shown := posted.Add(f.At)
			if f.Over {
				if d := shown.Sub(deadline).Abs(); d > 5*time.Millisecond {
					t.Errorf("r=%v: game over shown %v from the deadline", r, d)
				}
				continue
			}
			if f.Delay < minDelay {
				t.Errorf("r=%v frame %d: delay %d cs, shorter than browsers honour", r, i, f.Delay)
			}
			// What a clock truncated to the second shows just after the
			// frame starts and just before it ends.
			if s0 := int64(r / time.Second); i == 0 {
				if f.Seconds != s0 && (f.Seconds != s0-1 || r%time.Second >= 20*time.Millisecond) {
					t.Errorf("r=%v: first frame shows %d s", r, f.Seconds)
				}
			} else if start := int64(deadline.Sub(shown.Add(6*time.Millisecond)) / time.Second); start != f.Seconds {
				t.Errorf("r=%v frame %d (at %v) shows %d s, the clock then shows %d", r, i, f.At, f.Seconds, start)
			}
			end := shown.Add(time.Duration(f.Delay)*10*time.Millisecond - 6*time.Millisecond)
			if got := int64(deadline.Sub(end) / time.Second); got != f.Seconds {
				t.Errorf("r=%v frame %d shows %d s, the clock shows %d s at its end", r, i, f.Seconds, got)
			}
		}
		if want := int(r/time.Second) + 2; r >= time.Second && len(plan) != want && len(plan) != want-1 {
			t.Errorf("r=%v: %d frames, want about %d", r, len(plan), want)
		}
	}
}

// TestCountdownGIFCountsDown decodes the GIF: it plays once, its frames
// and delays are the plan's, and each frame, composed as a browser does,
// shows the plan's number: it is closer to the static card of that number
// than to the card of the next one.
func TestCountdownGIFCountsDown(t *testing.T) {
	c := Countdown{Duration: 40 * time.Second, Remaining: 12345 * time.Millisecond}
	img, err := RenderCountdown(c)
	if err != nil {
		t.Fatal(err)
	}
	if img.ContentType != ContentTypeGIF {
		t.Fatalf("content type %q", img.ContentType)
	}
	g, err := gif.DecodeAll(bytes.NewReader(img.Data))
	if err != nil {
		t.Fatal(err)
	}
	plan := c.Plan()
	if len(g.Image) != len(plan) {
		t.Fatalf("%d frames, plan has %d", len(g.Image), len(plan))
	}
	if g.LoopCount != -1 {
		t.Errorf("LoopCount %d: a countdown must play once, not start over", g.LoopCount)
	}
	canvas := image.NewRGBA(image.Rect(0, 0, g.Config.Width, g.Config.Height))
	ref := func(f CountdownFrame) *image.RGBA {
		tc := TimerCard{Band: f.Band, Remaining: time.Duration(f.Seconds)*time.Second + 500*time.Millisecond, Static: true, Over: f.Over}
		im, err := RenderTimer(tc)
		if err != nil {
			t.Fatal(err)
		}
		p, err := png.Decode(bytes.NewReader(im.Data))
		if err != nil {
			t.Fatal(err)
		}
		out := image.NewRGBA(p.Bounds())
		draw.Draw(out, out.Bounds(), p, image.Point{}, draw.Src)
		return out
	}
	bands := map[Band]bool{}
	for i, f := range plan {
		if g.Delay[i] != f.Delay {
			t.Errorf("frame %d: delay %d cs, plan %d", i, g.Delay[i], f.Delay)
		}
		draw.Draw(canvas, g.Image[i].Bounds(), g.Image[i], g.Image[i].Bounds().Min, draw.Over)
		if os.Getenv("COUNTDOWN_FRAMES") != "" {
			writePNG(t, filepath.Join(os.Getenv("COUNTDOWN_FRAMES"), "frame"+strconv.Itoa(i)+".png"), canvas)
		}
		own := diff(canvas, ref(f))
		if f.Over {
			if other := diff(canvas, ref(CountdownFrame{Band: Red})); own >= other {
				t.Errorf("last frame: not the game-over card (%.1f vs %.1f)", own, other)
			}
			continue
		}
		bands[f.Band] = true
		next := f
		next.Seconds++
		if other := diff(canvas, ref(next)); own*3 >= other {
			t.Errorf("frame %d: shows %d? difference %.2f to its card, %.2f to %d's", i, f.Seconds, own, other, next.Seconds)
		}
	}
	// 12.3 s of a 40 s clock cross the Yellow → Orange → Red edges.
	if len(bands) != 2 {
		t.Errorf("bands over the countdown: %v, want Orange and Red", bands)
	}
}

func diff(a, b *image.RGBA) float64 {
	var sum int64
	for i := range a.Pix {
		d := int64(a.Pix[i]) - int64(b.Pix[i])
		sum += d * d
	}
	return float64(sum) / float64(len(a.Pix))
}

func writePNG(t *testing.T, path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestCountdownSize: the countdown of the whole window stays small, as it
// is uploaded with every click in the last minutes.
func TestCountdownSize(t *testing.T) {
	img, err := RenderCountdown(Countdown{Duration: 12 * time.Hour, Remaining: CountdownWindow})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v countdown: %d bytes", CountdownWindow, len(img.Data))
	if len(img.Data) > 250<<10 {
		t.Errorf("countdown of %v is %d bytes", CountdownWindow, len(img.Data))
	}
}

func BenchmarkRenderCountdown(b *testing.B) {
	for b.Loop() {
		if _, err := RenderCountdown(Countdown{Duration: 12 * time.Hour, Remaining: CountdownWindow}); err != nil {
			b.Fatal(err)
		}
	}
}
