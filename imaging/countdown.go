package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"time"
)

// CountdownWindow is how close to zero a clock is shown by a [Countdown]
// GIF: in the last minutes the picture itself counts down; earlier a
// deadline card (TimerCard.Deadline) and Discord's live <t:R> do. Each
// second of countdown costs about 1.5 KB of GIF (the changed digits), so
// two minutes keep one upload near 200 KB.
const CountdownWindow = 2 * time.Minute

// Countdown is a timer card that really counts down: an animated GIF, played
// once, whose frames show the time left second by second from the moment it
// is posted (Remaining then) down to zero, and end on the game-over card —
// what the game will show at its deadline unless someone presses, in which
// case a new countdown replaces it. Frame times follow the deadline, not
// the frame count: the first frame lasts until the next whole second of
// time left.
type Countdown struct {
	// Band is unused when Duration is set (each frame gets the band of its
	// own time left); otherwise every frame shows it.
	Band Band
	// Duration is the game's full clock, to colour each frame by the band
	// of its time left (BandOf's arithmetic: min(5, ⌊6·left/duration⌋)).
	Duration time.Duration
	// Remaining is the time left at the moment of posting; it is clamped
	// to CountdownWindow (a longer countdown would be a huge file).
	Remaining time.Duration
	// Width as TimerCard.Width.
	Width int
}

// CountdownFrame is one frame of a countdown's plan.
type CountdownFrame struct {
	At      time.Duration // when the frame starts, after posting (as the GIF's delays add up)
	Delay   int           // how long it shows, in 1/100 s (the GIF's unit)
	Seconds int64         // whole seconds of time left it shows
	Band    Band
	Over    bool // the game-over card: the deadline has passed
}

// minDelay is the shortest frame delay browsers honour (shorter ones are
// shown for 1/10 s); a shorter first frame is left out.
const minDelay = 2

// Plan returns the frames of the countdown: one per whole second of time
// left (truncated, as every clock), the first shortened to the fraction of
// a second left at posting, then the game-over card at the deadline. The
// delays are rounded so that each frame starts within 5 ms of its true
// time.
func (c Countdown) Plan() []CountdownFrame {
	r := min(max(c.Remaining, 0), CountdownWindow).Milliseconds()
	bandAt := func(left int64) Band {
		if c.Duration <= 0 {
			return c.Band
		}
		d := c.Duration.Milliseconds()
		if left <= 0 {
			return Red
		}
		return Band(min(5, 6*left/d))
	}
	cs := func(ms int64) int64 { return (ms + 5) / 10 } // to 1/100 s, rounded
	var frames []CountdownFrame
	for s := r / 1000; s >= 0; s-- {
		// Shows s from the moment r−(s+1)·1000 ms is left until r−s·1000.
		from, to := max(0, r-(s+1)*1000), r-s*1000
		delay := cs(to) - cs(from)
		if delay < minDelay && len(frames) == 0 {
			continue
		}
		f := CountdownFrame{At: time.Duration(cs(from)) * 10 * time.Millisecond, Delay: int(delay), Seconds: s,
			// The band of the time left just after the frame starts.
			Band: bandAt(min(r, (s+1)*1000-1))}
		if len(frames) == 0 && f.At > 0 {
			// The skipped sliver before it is shown by this frame.
			f.Delay += int(cs(from))
			f.At = 0
		}
		frames = append(frames, f)
	}
	// The deadline's own state closes the animation, shown for good.
	frames = append(frames, CountdownFrame{At: time.Duration(cs(r)) * 10 * time.Millisecond, Delay: 0, Band: Red, Over: true})
	return frames
}

// RenderCountdown draws the countdown c as an animated GIF (Name
// "countdown.gif") that plays once. Only the first frame and a change of
// band redraw the whole card; the other frames carry the changed digits
// only. Safe for concurrent use.
func RenderCountdown(c Countdown) (Image, error) {
	if c.Duration <= 0 && !c.Band.Valid() {
		return Image{}, fmt.Errorf("render countdown: band %d: %w", int(c.Band), ErrInvalidInput)
	}
	data, err := renderCountdownGIF(c)
	if err != nil {
		return Image{}, fmt.Errorf("render countdown: %w", err)
	}
	return Image{Data: data, ContentType: ContentTypeGIF, Name: "countdown.gif"}, nil
}

func renderCountdownGIF(c Countdown) ([]byte, error) {
	plan := c.Plan()
	w := c.Width
	if w == 0 {
		w = DefaultCardWidth
	}
	w = min(max(w, MinCardWidth), MaxCardWidth)
	L := layoutFor(w)

	y0, y1, err := digitRows(L)
	if err != nil {
		return nil, err
	}
	digitBand := image.Rect(0, y0, L.w, y1)
	// draw paints frame f into dst, the whole card or (rows) only the rows
	// of the digits, as the static card does (same base, same sprites).
	draw := func(dst *image.RGBA, f CountdownFrame, rows bool) error {
		base, err := baseForLabel(f.Band, w, f.Over, labelFor(f.Over))
		if err != nil {
			return err
		}
		if rows {
			copy(dst.Pix[dst.PixOffset(0, y0):dst.PixOffset(0, y1)], base.img.Pix[base.img.PixOffset(0, y0):base.img.PixOffset(0, y1)])
		} else {
			copy(dst.Pix, base.img.Pix)
		}
		var buf [24]byte
		text := appendClock(buf[:0], f.Seconds)
		atlas, err := digitAtlasFor(L, len(text))
		if err != nil {
			return err
		}
		if atlas.separate {
			sprites, err := spritesFor(base, L, atlas, len(text))
			if err != nil {
				return err
			}
			sprites.draw(dst, L, atlas, text)
		} else {
			drawDigits(dst, L, atlas, text, base.fill, base.outline, base.shadow, image.Point{})
		}
		return nil
	}

	// The palette: the colours of the first card of each band and of the
	// game-over card (digits are drawn in the same inks on every frame).
	q := new(quantizer)
	img := image.NewRGBA(image.Rect(0, 0, L.w, L.h))
	counted := map[[2]int]bool{}
	for _, f := range plan {
		k := [2]int{int(f.Band), boolInt(f.Over)}
		if counted[k] {
			continue
		}
		counted[k] = true
		if err := draw(img, f, false); err != nil {
			return nil, err
		}
		q.countOutside(keysOf(img), L.w, image.Rectangle{})
	}
	pal := q.palette()

	g := &gif.GIF{LoopCount: -1, Config: image.Config{ColorModel: pal, Width: L.w, Height: L.h}}
	// The whole card's keys, of the frame before and of this one (two
	// buffers, swapped).
	prev, keys := make([]qkey, L.w*L.h), make([]qkey, L.w*L.h)
	for i, f := range plan {
		// A new band or the game-over card changes the whole card; else
		// only the digit rows change.
		full := i == 0 || f.Band != plan[i-1].Band || f.Over != plan[i-1].Over
		if err := draw(img, f, !full); err != nil {
			return nil, err
		}
		r := img.Bounds()
		if full {
			copy(keys, keysOf(img))
		} else {
			copy(keys, prev)
			copy(keys[y0*L.w:y1*L.w], keysOf(img.SubImage(digitBand).(*image.RGBA)))
		}
		if i > 0 {
			r = changed(prev, keys, L.w, L.h)
		}
		sub := make([]qkey, 0, r.Dx()*r.Dy())
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				k := keys[y*L.w+x]
				if i > 0 && prev[y*L.w+x] == k {
					// Unchanged: transparent, the previous frame shows
					// through (and runs of it compress to nearly nothing).
					k = keyTransparent
				}
				sub = append(sub, k)
			}
		}
		g.Image = append(g.Image, q.apply(sub, r, pal))
		g.Delay = append(g.Delay, f.Delay)
		g.Disposal = append(g.Disposal, gif.DisposalNone)
		prev, keys = keys, prev
	}
	var out bytes.Buffer
	if err := gif.EncodeAll(&out, g); err != nil {
		return nil, fmt.Errorf("encode gif: %w", err)
	}
	return out.Bytes(), nil
}

// changed returns the bounding box of the keys that differ between two
// w×h key images; at least one pixel, so every frame has an image.
func changed(a, b []qkey, w, h int) image.Rectangle {
	r := image.Rectangle{Min: image.Pt(w, h)}
	for y := range h {
		row := y * w
		for x := range w {
			if a[row+x] != b[row+x] {
				r.Min.X, r.Min.Y = min(r.Min.X, x), min(r.Min.Y, y)
				r.Max.X, r.Max.Y = max(r.Max.X, x+1), max(r.Max.Y, y+1)
			}
		}
	}
	if r.Empty() {
		return image.Rect(0, 0, 1, 1)
	}
	return r
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
