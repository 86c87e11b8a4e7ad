package imaging

import (
	"image"
	"image/color"
	"math"
)

// mix returns a·(1−t) + b·t per channel, opaque.
func mix(a, b color.RGBA, t float64) color.RGBA {
	t = clamp01(t)
	f := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-t) + float64(y)*t)) }
	return color.RGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 0xFF}
}

func lighten(c color.RGBA, t float64) color.RGBA { return mix(c, color.RGBA{255, 255, 255, 255}, t) }
func darken(c color.RGBA, t float64) color.RGBA  { return mix(c, color.RGBA{0, 0, 0, 255}, t) }

// withAlpha returns c (opaque) at alpha a as a premultiplied colour.
func withAlpha(c color.RGBA, a float64) color.RGBA {
	a = clamp01(a)
	return color.RGBA{
		uint8(math.Round(float64(c.R) * a)),
		uint8(math.Round(float64(c.G) * a)),
		uint8(math.Round(float64(c.B) * a)),
		uint8(math.Round(255 * a)),
	}
}

// nrgba converts an opaque colour plus alpha to a non-premultiplied colour,
// which is what gg's SetColor expects to be given through color.Color.
func nrgba(c color.RGBA, a float64) color.NRGBA {
	return color.NRGBA{c.R, c.G, c.B, uint8(math.Round(255 * clamp01(a)))}
}

func clamp01(t float64) float64 {
	switch {
	case t < 0 || math.IsNaN(t):
		return 0
	case t > 1:
		return 1
	}
	return t
}

// dilate returns m grown by a disc of radius r pixels, with a one-pixel
// soft edge. The result has the same bounds as m, so m should carry enough
// transparent padding.
func dilate(m *image.Alpha, r float64) *image.Alpha {
	b := m.Bounds()
	out := image.NewAlpha(b)
	ir := int(math.Ceil(r))
	type off struct {
		dx, dy int
		w      uint32 // weight 0..256 for the soft rim
	}
	var offs []off
	for dy := -ir; dy <= ir; dy++ {
		for dx := -ir; dx <= ir; dx++ {
			d := math.Hypot(float64(dx), float64(dy))
			w := clamp01(r + 0.5 - d)
			if w > 0 {
				offs = append(offs, off{dx, dy, uint32(w * 256)})
			}
		}
	}
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var best uint32
			for _, o := range offs {
				sx, sy := x+o.dx, y+o.dy
				if sx < 0 || sy < 0 || sx >= w || sy >= h {
					continue
				}
				v := uint32(m.Pix[sy*m.Stride+sx]) * o.w >> 8
				if v > best {
					best = v
					if best == 255 {
						break
					}
				}
			}
			out.Pix[y*out.Stride+x] = uint8(best)
		}
	}
	return out
}

// blur applies three box-blur passes of radius r (close to a Gaussian) to
// m in place.
func blur(m *image.Alpha, r int) {
	if r <= 0 {
		return
	}
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	line := make([]uint8, max(w, h))
	for pass := 0; pass < 3; pass++ {
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			copy(line, row)
			boxRun(line[:w], r, func(i int, v uint8) { row[i] = v })
		}
		for x := 0; x < w; x++ {
			for y := 0; y < h; y++ {
				line[y] = m.Pix[y*m.Stride+x]
			}
			boxRun(line[:h], r, func(i int, v uint8) { m.Pix[i*m.Stride+x] = v })
		}
	}
}

// boxRun calls set(i, mean of src over the window i−r … i+r) for every i;
// samples outside src count as zero.
func boxRun(src []uint8, r int, set func(int, uint8)) {
	n := len(src)
	win := 2*r + 1
	sum := 0
	for i := 0; i <= r && i < n; i++ {
		sum += int(src[i])
	}
	for i := 0; i < n; i++ {
		set(i, uint8(sum/win))
		if j := i + r + 1; j < n {
			sum += int(src[j])
		}
		if j := i - r; j >= 0 {
			sum -= int(src[j])
		}
	}
}
