package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"math"
	"slices"
)

// motion describes how an animated card moves at one urgency level.
type motion struct {
	frames int // frames per loop
	delay  int // per frame, in 1/100 s
	shake  float64
	float  bool // a gentle vertical float instead of a shake
	pulses int  // glow pulses per loop

	glowGrow, glowBlur float64 // glow: brightness boost (gain 1+grow/3) and blur radius (design px)
	glowA0, glowA1     float64 // glow opacity range over a pulse
	glow0, glow1       color.RGBA
	outline            color.RGBA
	fill0, fill1       color.RGBA
}

func motionFor(k CardKey) motion {
	band := k.Band.Color()
	white := color.RGBA{255, 255, 255, 255}
	m := motion{fill0: white, fill1: white, outline: darken(band, 0.58)}
	switch k.Urgency {
	case UrgencyAlert:
		m.frames, m.delay, m.shake, m.float, m.pulses = 12, 10, 1.6, true, 1
		m.glowGrow, m.glowBlur, m.glowA0, m.glowA1 = 3, 4, 0.25, 0.7
		m.glow0, m.glow1 = lighten(band, 0.45), lighten(band, 0.75)
	case UrgencyEmergency:
		m.frames, m.delay, m.shake, m.pulses = 16, 7, 2.5, 2
		m.glowGrow, m.glowBlur, m.glowA0, m.glowA1 = 3.5, 4.5, 0.45, 0.95
		m.glow0, m.glow1 = color.RGBA{0xFF, 0x7A, 0x2E, 0xFF}, color.RGBA{0xFF, 0xC8, 0x7A, 0xFF}
	case UrgencyCritical:
		m.frames, m.delay, m.shake, m.pulses = 16, 6, 4.5, 3
		m.glowGrow, m.glowBlur, m.glowA0, m.glowA1 = 4, 5, 0.6, 1
		m.glow0, m.glow1 = color.RGBA{0xFF, 0x30, 0x2A, 0xFF}, color.RGBA{0xFF, 0xD6, 0xD0, 0xFF}
		m.outline = color.RGBA{0x4A, 0x0C, 0x0C, 0xFF}
	default: // UrgencyApocalypse
		// The shake grows from 6 to 10 design pixels as the last 30 s run out.
		left := clamp01(float64(k.Seconds) / ApocalypseAt.Seconds())
		m.frames, m.delay, m.shake, m.pulses = 16, 5, 6+4*(1-left), 4
		m.glowGrow, m.glowBlur, m.glowA0, m.glowA1 = 5, 6, 0.75, 1
		m.glow0, m.glow1 = color.RGBA{0xFF, 0x5A, 0x1E, 0xFF}, color.RGBA{0xFF, 0xF6, 0xD8, 0xFF}
		m.outline = color.RGBA{0x3A, 0x00, 0x00, 0xFF}
		m.fill1 = color.RGBA{0xFF, 0xF1, 0xC0, 0xFF}
	}
	return m
}

// offset returns the text displacement of frame i, in pixels. The pattern
// is a sum of sines with whole frequencies, so the loop is seamless.
func (m motion) offset(i int, s float64) image.Point {
	t := 2 * math.Pi * float64(i) / float64(m.frames)
	a := m.shake * s
	if m.float {
		return image.Pt(0, int(math.Round(a*math.Sin(t))))
	}
	dx := a * (0.65*math.Sin(3*t+0.3) + 0.35*math.Sin(7*t+1.9))
	dy := a * (0.6*math.Sin(5*t+1.1) + 0.4*math.Sin(2*t+2.7))
	return image.Pt(int(math.Round(dx)), int(math.Round(dy)))
}

// pulse returns the glow phase of frame i in [0, 1].
func (m motion) pulse(i int) float64 {
	return 0.5 - 0.5*math.Cos(2*math.Pi*float64(m.pulses*i)/float64(m.frames))
}

// textBlock holds the masks of the moving text (label and clock) inside a
// region of the card that is large enough for the text, its glow and the
// largest shake.
type textBlock struct {
	region              image.Rectangle // in card coordinates
	fill, outline, glow *image.Alpha    // region-sized, text unshaken
}

func newTextBlock(L cardLayout, k CardKey, m motion) (*textBlock, error) {
	var buf [24]byte
	text := appendClock(buf[:0], k.Seconds)
	atlas, err := digitAtlasFor(L, len(text))
	if err != nil {
		return nil, err
	}
	lm, err := labelMasksFor(L, k.Over)
	if err != nil {
		return nil, err
	}
	lfill, loutline, lat := lm.fill, lm.outline, lm.at
	// Bounds of the text with its outline, in card coordinates.
	bounds := loutline.Bounds().Sub(loutline.Bounds().Min).Add(lat)
	atlas.each(text, float64(L.w)/2, L.digitsBase, func(g *glyph, p image.Point) {
		bounds = bounds.Union(g.outline.Bounds().Sub(g.outline.Bounds().Min).Add(p))
	})
	extent := int(math.Ceil(3*m.glowBlur*L.s)) + 1
	margin := extent + int(math.Ceil(m.shake*L.s)) + 1
	region := bounds.Inset(-margin).Intersect(image.Rect(0, 0, L.w, L.h))

	tb := &textBlock{region: region}
	origin := region.Min
	tb.fill = image.NewAlpha(image.Rect(0, 0, region.Dx(), region.Dy()))
	tb.outline = image.NewAlpha(tb.fill.Bounds())
	put := func(dst, src *image.Alpha, at image.Point) {
		r := src.Bounds().Sub(src.Bounds().Min).Add(at.Sub(origin))
		// Masks are combined with "max" so overlapping outlines stay crisp.
		for y := r.Min.Y; y < r.Max.Y; y++ {
			if y < 0 || y >= dst.Rect.Dy() {
				continue
			}
			for x := r.Min.X; x < r.Max.X; x++ {
				if x < 0 || x >= dst.Rect.Dx() {
					continue
				}
				v := src.Pix[(y-r.Min.Y)*src.Stride+(x-r.Min.X)]
				if d := &dst.Pix[y*dst.Stride+x]; v > *d {
					*d = v
				}
			}
		}
	}
	put(tb.fill, lfill, lat)
	put(tb.outline, loutline, lat)
	atlas.each(text, float64(L.w)/2, L.digitsBase, func(g *glyph, p image.Point) {
		put(tb.fill, g.fill, p)
		put(tb.outline, g.outline, p)
	})
	// The glow is the outlined text blurred and brightened; a box blur is
	// far cheaper than growing the text first and looks the same.
	tb.glow = image.NewAlpha(tb.outline.Bounds())
	copy(tb.glow.Pix, tb.outline.Pix)
	blur(tb.glow, int(math.Round(m.glowBlur*L.s)))
	gain := 1 + m.glowGrow/3
	for i, v := range tb.glow.Pix {
		tb.glow.Pix[i] = uint8(min(float64(v)*gain, 255))
	}
	return tb, nil
}

// renderTimerGIF draws the animated card of k: the first frame is the whole
// card, the others only the region of the moving text (drawn over the
// previous frame), all sharing one palette.
func renderTimerGIF(k CardKey) ([]byte, error) {
	L := layoutFor(k.Width)
	base, err := baseFor(k.Band, k.Width, k.Over, false)
	if err != nil {
		return nil, err
	}
	m := motionFor(k)
	tb, err := newTextBlock(L, k, m)
	if err != nil {
		return nil, err
	}

	// Compose every frame straight into colour keys while counting the
	// histogram: frame 0 is the whole card, the others only the region.
	q := new(quantizer)
	bgKeys := base.keys
	full := slices.Clone(bgKeys)
	q.countOutside(full, L.w, tb.region)
	keys := make([][]qkey, m.frames)
	for i := range keys {
		ph := m.pulse(i)
		ink := blendInk{
			glow:    withAlpha(mix(m.glow0, m.glow1, ph), m.glowA0+(m.glowA1-m.glowA0)*ph),
			outline: m.outline,
			fill:    mix(m.fill0, m.fill1, ph),
		}
		off := m.offset(i, L.s)
		if i == 0 {
			q.composeRegion(full, true, base.img, bgKeys, tb, off, ink, true)
			keys[i] = full
			continue
		}
		k := make([]qkey, tb.region.Dx()*tb.region.Dy())
		q.composeRegion(k, false, base.img, bgKeys, tb, off, ink, i%2 == 0)
		keys[i] = k
	}
	pal := q.palette()
	g := &gif.GIF{
		Image:     make([]*image.Paletted, m.frames),
		Delay:     make([]int, m.frames),
		Disposal:  make([]byte, m.frames),
		LoopCount: 0,
		Config:    image.Config{ColorModel: pal, Width: L.w, Height: L.h},
	}
	for i, k := range keys {
		r := tb.region
		if i == 0 {
			r = base.img.Bounds()
		}
		g.Image[i] = q.apply(k, r, pal)
		g.Delay[i] = m.delay
		g.Disposal[i] = gif.DisposalNone
	}
	var out bytes.Buffer
	out.Grow(64 << 10)
	if err := gif.EncodeAll(&out, g); err != nil {
		return nil, fmt.Errorf("encode gif: %w", err)
	}
	return out.Bytes(), nil
}
