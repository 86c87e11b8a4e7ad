package imaging

import (
	"image"
	"image/color"
	"math"
)

// gradient is a gg.Pattern for linear and radial gradients that looks its
// colours up in a precomputed table of 256 interface values, so painting
// allocates nothing per pixel (gg's own gradients allocate a colour per
// pixel, which dominates large fills).
type gradient struct {
	radial         bool
	x0, y0, x1, y1 float64 // linear: from (x0,y0) to (x1,y1); radial: centre (x0,y0), radii x1 → y1
	lut            [256]color.Color
}

type gradientStop struct {
	at float64
	c  color.NRGBA
}

func newGradient(stops []gradientStop) *gradient {
	g := &gradient{}
	for i := range g.lut {
		t := float64(i) / 255
		c := stops[len(stops)-1].c
		for j := 0; j+1 < len(stops); j++ {
			if t <= stops[j+1].at {
				a, b := stops[j], stops[j+1]
				u := 0.0
				if b.at > a.at {
					u = clamp01((t - a.at) / (b.at - a.at))
				}
				if t <= a.at {
					u = 0
				}
				l := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-u) + float64(y)*u)) }
				c = color.NRGBA{l(a.c.R, b.c.R), l(a.c.G, b.c.G), l(a.c.B, b.c.B), l(a.c.A, b.c.A)}
				break
			}
		}
		g.lut[i] = c
	}
	return g
}

// linearGradient returns a gradient along the line (x0,y0) → (x1,y1).
func linearGradient(x0, y0, x1, y1 float64, stops ...gradientStop) *gradient {
	g := newGradient(stops)
	g.x0, g.y0, g.x1, g.y1 = x0, y0, x1, y1
	return g
}

// radialGradient returns a gradient of circles around (cx,cy) from radius
// r0 to r1.
func radialGradient(cx, cy, r0, r1 float64, stops ...gradientStop) *gradient {
	g := newGradient(stops)
	g.radial = true
	g.x0, g.y0, g.x1, g.y1 = cx, cy, r0, r1
	return g
}

// ColorAt implements gg.Pattern.
func (g *gradient) ColorAt(x, y int) color.Color {
	return g.lut[g.index(x, y)]
}

// fill paints the whole of img with the gradient (opaque stops only),
// much faster than filling a path with it.
func (g *gradient) fill(img *image.RGBA) {
	var px [256][4]uint8
	for i, c := range g.lut {
		r, gg, b, a := c.RGBA()
		px[i] = [4]uint8{uint8(r >> 8), uint8(gg >> 8), uint8(b >> 8), uint8(a >> 8)}
	}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		row := img.Pix[img.PixOffset(bd.Min.X, y):img.PixOffset(bd.Max.X, y)]
		for x := 0; x < bd.Dx(); x++ {
			copy(row[4*x:4*x+4], px[g.index(bd.Min.X+x, y)][:])
		}
	}
}

func (g *gradient) index(x, y int) int {
	fx, fy := float64(x)+0.5, float64(y)+0.5
	var t float64
	if g.radial {
		dx, dy := fx-g.x0, fy-g.y0
		d := math.Sqrt(dx*dx + dy*dy)
		if g.y1 > g.x1 {
			t = (d - g.x1) / (g.y1 - g.x1)
		}
	} else {
		dx, dy := g.x1-g.x0, g.y1-g.y0
		if l2 := dx*dx + dy*dy; l2 > 0 {
			t = ((fx-g.x0)*dx + (fy-g.y0)*dy) / l2
		}
	}
	return int(clamp01(t)*255 + 0.5)
}

func stop(at float64, c color.Color) gradientStop {
	return gradientStop{at, color.NRGBAModel.Convert(c).(color.NRGBA)}
}
