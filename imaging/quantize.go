package imaging

import (
	"image"
	"image/color"
	"slices"
)

// quantizer builds one 255-colour palette (plus a transparent entry at
// index 0) for a set of RGBA images by median cut over a colour histogram
// of qbits per channel, then maps pixels through the resulting bin → index table.
// It is used for GIF frames, whose colours are few and known in advance.
//
// Only bin counts are kept (a bin's colour is its centre), and not every
// pixel has to be counted: keys never counted are mapped to the nearest
// palette colour when first met in apply.
type quantizer struct {
	count [1 << (3 * qbits)]uint32
	index [1 << (3 * qbits)]uint16 // palette index + 1; 0 = not assigned yet
	pal   color.Palette
}

// qkey is a colour reduced to qbits per channel.
type qkey = uint32

// qbits is the histogram resolution per channel. Keys are taken with a
// 4×4 ordered dither of one step, fixed to the pixel position, so smooth
// gradients do not band and the static background dithers the same way in
// every frame.
const qbits = 6

var bayer4 = [4][4]uint32{{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}}

// keyRGB returns the key of straight colour (r, g, b) at pixel (x, y).
func keyRGB(r, g, b uint32, x, y int) qkey {
	const shift = 8 - qbits
	d := bayer4[y&3][x&3] >> (4 - shift) // 0 … 2^shift−1
	q := func(v uint32) uint32 { return min(v+d, 255) >> shift }
	return q(r)<<(2*qbits) | q(g)<<qbits | q(b)
}

// Pixels with less alpha than this are transparent in the GIF.
const gifAlphaCut = 128

// pixelKey returns the histogram key of the premultiplied pixel p at
// (x, y), or ok=false if the pixel counts as transparent.
func pixelKey(p []uint8, x, y int) (key qkey, ok bool) {
	a := uint32(p[3])
	if a < gifAlphaCut {
		return 0, false
	}
	r, g, b := uint32(p[0]), uint32(p[1]), uint32(p[2])
	if a != 255 {
		r, g, b = min(r*255/a, 255), min(g*255/a, 255), min(b*255/a, 255)
	}
	return keyRGB(r, g, b, x, y), true
}

// keyTransparent marks a transparent pixel in a key image.
const keyTransparent = 1 << (3 * qbits)

// binColor returns the colour of a key, with the lowest and highest
// levels mapping to 0 and 255 so black and white stay exact.
func binColor(k qkey) (r, g, b uint8) {
	const levels = 1<<qbits - 1
	e := func(v uint32) uint8 { return uint8((v & levels) * 255 / levels) }
	return e(k >> (2 * qbits)), e(k >> qbits), e(k)
}

// keysOf converts img to keys (row-major, img-sized), without counting
// them.
func keysOf(img *image.RGBA) []qkey {
	b := img.Bounds()
	out := make([]qkey, b.Dx()*b.Dy())
	j := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		for i := 0; i+4 <= len(row); i += 4 {
			if k, ok := pixelKey(row[i:i+4], b.Min.X+i/4, y); ok {
				out[j] = k
			} else {
				out[j] = keyTransparent
			}
			j++
		}
	}
	return out
}

// countOutside counts the keys of a w-wide key image that lie outside r.
func (q *quantizer) countOutside(keys []qkey, w int, r image.Rectangle) {
	for i, k := range keys {
		if k == keyTransparent {
			continue
		}
		if (image.Point{i % w, i / w}).In(r) {
			continue
		}
		q.count[k]++
	}
}

// blendInk holds the colours of one animation frame: glow is
// premultiplied (its alpha pulses), outline and fill are opaque.
type blendInk struct{ glow, outline, fill color.RGBA }

// composeRegion paints the text block of tb, displaced by off, over the
// background bg (whose keys are bgKeys) inside tb.region, and writes the
// keys of the result into dst: a region-sized image, or with full a
// bg-sized one. With count the written keys are counted.
func (q *quantizer) composeRegion(dst []qkey, full bool, bg *image.RGBA, bgKeys []qkey, tb *textBlock, off image.Point, ink blendInk, count bool) {
	r := tb.region
	bw := bg.Rect.Dx()
	mw, mh, ms := tb.fill.Rect.Dx(), tb.fill.Rect.Dy(), tb.fill.Stride
	ga := uint32(ink.glow.A)
	gR, gG, gB := uint32(ink.glow.R), uint32(ink.glow.G), uint32(ink.glow.B)
	oR, oG, oB := uint32(ink.outline.R), uint32(ink.outline.G), uint32(ink.outline.B)
	fR, fG, fB := uint32(ink.fill.R), uint32(ink.fill.G), uint32(ink.fill.B)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		var drow []qkey
		if full {
			drow = dst[y*bw+r.Min.X : y*bw+r.Max.X]
		} else {
			drow = dst[(y-r.Min.Y)*r.Dx() : (y-r.Min.Y+1)*r.Dx()]
		}
		krow := bgKeys[y*bw+r.Min.X : y*bw+r.Max.X]
		prow := bg.Pix[bg.PixOffset(r.Min.X, y):bg.PixOffset(r.Max.X, y)]
		my := y - r.Min.Y - off.Y
		if my < 0 || my >= mh {
			copy(drow, krow)
			if count {
				for _, k := range krow {
					if k != keyTransparent {
						q.count[k]++
					}
				}
			}
			continue
		}
		gl := tb.glow.Pix[my*ms : my*ms+mw]
		ol := tb.outline.Pix[my*ms : my*ms+mw]
		fl := tb.fill.Pix[my*ms : my*ms+mw]
		for x := range drow {
			k := krow[x]
			mx := x - off.X
			if mx >= 0 && mx < mw && k != keyTransparent && prow[4*x+3] == 255 {
				if gm, om, fm := uint32(gl[mx]), uint32(ol[mx]), uint32(fl[mx]); gm|om|fm != 0 {
					cr, cg, cb := uint32(prow[4*x]), uint32(prow[4*x+1]), uint32(prow[4*x+2])
					if a := gm * ga / 255; a > 0 {
						// The glow colour is premultiplied.
						cr = (cr*(255-a) + gR*gm + 127) / 255
						cg = (cg*(255-a) + gG*gm + 127) / 255
						cb = (cb*(255-a) + gB*gm + 127) / 255
					}
					if om > 0 {
						cr = (cr*(255-om) + oR*om + 127) / 255
						cg = (cg*(255-om) + oG*om + 127) / 255
						cb = (cb*(255-om) + oB*om + 127) / 255
					}
					if fm > 0 {
						cr = (cr*(255-fm) + fR*fm + 127) / 255
						cg = (cg*(255-fm) + fG*fm + 127) / 255
						cb = (cb*(255-fm) + fB*fm + 127) / 255
					}
					k = keyRGB(min(cr, 255), min(cg, 255), min(cb, 255), r.Min.X+x, y)
				}
			}
			drow[x] = k
			if count && k != keyTransparent {
				q.count[k]++
			}
		}
	}
}

type qbin struct {
	key     qkey
	n       uint32
	r, g, b uint8 // mean colour of the bin
}

// palette runs the median cut and fills the bin → index table.
func (q *quantizer) palette() color.Palette {
	var bins []qbin
	for k, n := range q.count {
		if n == 0 {
			continue
		}
		r, g, b := binColor(qkey(k))
		bins = append(bins, qbin{key: qkey(k), n: n, r: r, g: g, b: b})
	}
	// Boxes are ranges of bins; split the one with the largest
	// population × spread² until there are 255 or nothing is left to split.
	type box struct {
		lo, hi int
		ch     int     // channel of the widest spread
		score  float64 // population × spread², 0 when it cannot split
	}
	measure := func(lo, hi int) box {
		bx := box{lo: lo, hi: hi}
		if hi-lo < 2 {
			return bx
		}
		mn := [3]uint8{255, 255, 255}
		mx := [3]uint8{}
		var n float64
		for _, c := range bins[lo:hi] {
			v := [3]uint8{c.r, c.g, c.b}
			for j := range v {
				mn[j], mx[j] = min(mn[j], v[j]), max(mx[j], v[j])
			}
			n += float64(c.n)
		}
		rng := 0
		for j := range 3 {
			if d := int(mx[j]) - int(mn[j]); d > rng {
				bx.ch, rng = j, d
			}
		}
		bx.score = n * float64(rng) * float64(rng)
		return bx
	}
	var boxes []box
	if len(bins) > 0 {
		boxes = append(boxes, measure(0, len(bins)))
	}
	for len(boxes) < 255 {
		best := -1
		for i, bx := range boxes {
			if bx.score > 0 && (best < 0 || bx.score > boxes[best].score) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		bx := boxes[best]
		part := bins[bx.lo:bx.hi]
		ch := bx.ch
		slices.SortFunc(part, func(a, b qbin) int {
			av := [3]uint8{a.r, a.g, a.b}[ch]
			bv := [3]uint8{b.r, b.g, b.b}[ch]
			return int(av) - int(bv)
		})
		var total, acc uint64
		for _, c := range part {
			total += uint64(c.n)
		}
		cut := 1
		for i, c := range part {
			acc += uint64(c.n)
			if acc*2 >= total {
				cut = i + 1
				break
			}
		}
		cut = min(max(cut, 1), len(part)-1)
		boxes[best] = measure(bx.lo, bx.lo+cut)
		boxes = append(boxes, measure(bx.lo+cut, bx.hi))
	}
	pal := make(color.Palette, 1, len(boxes)+1)
	pal[0] = color.RGBA{}
	for _, bx := range boxes {
		var r, g, b, n uint64
		for _, c := range bins[bx.lo:bx.hi] {
			r += uint64(c.r) * uint64(c.n)
			g += uint64(c.g) * uint64(c.n)
			b += uint64(c.b) * uint64(c.n)
			n += uint64(c.n)
			q.index[c.key] = uint16(len(pal)) + 1
		}
		pal = append(pal, color.RGBA{uint8(r / n), uint8(g / n), uint8(b / n), 0xFF})
	}
	q.pal = pal
	return pal
}

// apply turns keys (of rectangle r, row-major) into a paletted image on
// pal, which must come from palette.
func (q *quantizer) apply(keys []qkey, r image.Rectangle, pal color.Palette) *image.Paletted {
	out := image.NewPaletted(r, pal)
	for i, k := range keys {
		switch {
		case k == keyTransparent:
			out.Pix[i] = 0
		case q.index[k] != 0:
			out.Pix[i] = uint8(q.index[k] - 1)
		default:
			out.Pix[i] = q.nearest(k)
		}
	}
	return out
}

// nearest assigns key k the closest opaque palette colour and returns it.
func (q *quantizer) nearest(k qkey) uint8 {
	r, g, b := binColor(k)
	best, bestD := 1, int(^uint(0)>>1)
	for i := 1; i < len(q.pal); i++ {
		c := q.pal[i].(color.RGBA)
		dr, dg, db := int(c.R)-int(r), int(c.G)-int(g), int(c.B)-int(b)
		if d := 3*dr*dr + 4*dg*dg + 2*db*db; d < bestD {
			best, bestD = i, d
		}
	}
	q.index[k] = uint16(best) + 1
	return uint8(best)
}
