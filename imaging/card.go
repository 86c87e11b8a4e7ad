package imaging

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sync"

	"github.com/fogleman/gg"
	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"
)

// cardLayout holds the geometry of a timer card of one width, in pixels.
// Everything is designed on a 400×240 card and scaled by s.
type cardLayout struct {
	w, h int
	s    float64

	radius float64

	// START → END strip panel.
	panelX, panelY, panelW, panelH float64

	// Text block: the label ("TIME LEFT") and the clock digits.
	labelPx, labelTrack, labelBase  float64
	digitsPx, digitsBase, digitsBox float64
}

func layoutFor(w int) cardLayout {
	s := float64(w) / 400
	L := cardLayout{w: w, h: int(math.Round(float64(w) * 3 / 5)), s: s}
	L.radius = 22 * s
	L.panelX, L.panelY, L.panelW, L.panelH = 14*s, 13*s, float64(w)-28*s, 36*s
	L.labelPx, L.labelTrack, L.labelBase = 17*s, 3.2*s, 104*s
	L.digitsPx, L.digitsBase, L.digitsBox = 74*s, 190*s, float64(w)-56*s
	return L
}

// Text colours of a card.
type cardInk struct {
	fill, outline, shadow color.RGBA // shadow is premultiplied
	labelFill             color.RGBA
}

func inkFor(band Band, over bool) cardInk {
	if over {
		return cardInk{
			fill:      color.RGBA{0xEC, 0xEC, 0xEE, 0xFF},
			outline:   color.RGBA{0x12, 0x13, 0x16, 0xFF},
			shadow:    withAlpha(color.RGBA{0, 0, 0, 255}, 0.45),
			labelFill: lighten(Red.Color(), 0.22),
		}
	}
	return cardInk{
		fill:      color.RGBA{0xFF, 0xFF, 0xFF, 0xFF},
		outline:   darken(band.Color(), 0.58),
		shadow:    withAlpha(color.RGBA{0, 0, 0, 255}, 0.30),
		labelFill: color.RGBA{0xFF, 0xFF, 0xFF, 0xFF},
	}
}

// overBody is the body colour of the game-over card.
var overBody = color.RGBA{0x34, 0x36, 0x3C, 0xFF}

// drawCardBase paints the card without its text block: rounded body in the
// band colour, the START → END strip of the six bands and the marker.
func drawCardBase(L cardLayout, band Band, over bool) (*image.RGBA, error) {
	dc := gg.NewContext(L.w, L.h)
	w, h, s := float64(L.w), float64(L.h), L.s
	body := band.Color()
	if over {
		body = overBody
	}

	// Body: a vertical gradient, clipped to the rounded card.
	dc.DrawRoundedRectangle(0, 0, w, h, L.radius)
	dc.Clip()
	dc.SetFillStyle(linearGradient(0, 0, 0, h,
		stop(0, lighten(body, 0.10)), stop(0.55, body), stop(1, darken(body, 0.22))))
	dc.DrawRectangle(0, 0, w, h)
	dc.Fill()

	// Our motif: the button itself, seen from above, as faint concentric
	// rings in the lower right, and soft diagonal light bands.
	cx, cy := w*0.86, h*1.02
	for i, r := range []float64{150, 112, 76} {
		dc.SetColor(nrgba(color.RGBA{255, 255, 255, 255}, 0.035+0.015*float64(i)))
		dc.DrawCircle(cx, cy, r*s)
		dc.Fill()
	}
	dc.SetColor(nrgba(color.RGBA{0, 0, 0, 255}, 0.06))
	dc.DrawCircle(w*0.1, h*1.18, 120*s)
	dc.Fill()
	dc.SetColor(nrgba(color.RGBA{255, 255, 255, 255}, 0.05))
	dc.MoveTo(w*0.18, 0)
	dc.LineTo(w*0.36, 0)
	dc.LineTo(w*0.16, h)
	dc.LineTo(-w*0.02, h)
	dc.ClosePath()
	dc.Fill()
	dc.ResetClip()

	// Inner rim.
	dc.SetLineWidth(1.5 * s)
	dc.SetColor(nrgba(lighten(body, 0.45), 0.45))
	dc.DrawRoundedRectangle(0.75*s, 0.75*s, w-1.5*s, h-1.5*s, L.radius-0.75*s)
	dc.Stroke()

	// Strip panel.
	dc.SetColor(nrgba(color.RGBA{0, 0, 0, 255}, 0.28))
	dc.DrawRoundedRectangle(L.panelX, L.panelY, L.panelW, L.panelH, L.panelH/2)
	dc.Fill()

	small, err := newFace(faceBold, 10.5*s)
	if err != nil {
		return nil, err
	}
	dc.SetFontFace(small)
	track := 1.4 * s
	startW := trackedWidth(small, "START", track)
	endW := trackedWidth(small, "END", track)
	midY := L.panelY + L.panelH/2
	capH := 0.72 * 10.5 * s
	labelCol := nrgba(color.RGBA{255, 255, 255, 255}, 0.86)
	padX := 16 * s
	drawTracked(dc, "START", L.panelX+padX, midY+capH/2, track, labelCol)
	drawTracked(dc, "END", L.panelX+L.panelW-padX-endW, midY+capH/2, track, labelCol)

	x0 := L.panelX + padX + startW + 12*s
	x1 := L.panelX + L.panelW - padX - endW - 12*s
	gap := 5 * s
	segW := (x1 - x0 - 5*gap) / NumBands
	for i := 0; i < NumBands; i++ {
		b := Band(NumBands - 1 - i) // Purple at START, Red at END
		x := x0 + float64(i)*(segW+gap)
		c := b.Color()
		if over {
			c = mix(c, color.RGBA{0x60, 0x62, 0x68, 0xFF}, 0.55)
		}
		if b == band && !over {
			sh := 18 * s
			dc.SetColor(color.White)
			dc.DrawRoundedRectangle(x-2*s, midY-sh/2-2*s, segW+4*s, sh+4*s, 5*s)
			dc.Fill()
			dc.SetColor(lighten(c, 0.08))
			dc.DrawRoundedRectangle(x, midY-sh/2, segW, sh, 3.5*s)
			dc.Fill()
			continue
		}
		sh := 10 * s
		dc.SetColor(c)
		dc.DrawRoundedRectangle(x, midY-sh/2, segW, sh, sh/2)
		dc.Fill()
	}

	// Marker: a chevron under the current segment, or under END when over.
	mx := x0 + float64(NumBands-1-int(band))*(segW+gap) + segW/2
	if over {
		mx = L.panelX + L.panelW - padX - endW/2
	}
	my := L.panelY + L.panelH + 3*s
	dc.SetColor(color.White)
	dc.MoveTo(mx, my)
	dc.LineTo(mx+8*s, my+9*s)
	dc.LineTo(mx-8*s, my+9*s)
	dc.ClosePath()
	dc.Fill()

	img, ok := dc.Image().(*image.RGBA)
	if !ok {
		return nil, fmt.Errorf("card base: unexpected image type %T", dc.Image())
	}
	return img, nil
}

func trackedWidth(f font.Face, s string, track float64) float64 {
	w := 0.0
	n := 0
	for _, r := range s {
		a, _ := f.GlyphAdvance(r)
		w += float64(a) / 64
		n++
	}
	if n > 1 {
		w += track * float64(n-1)
	}
	return w
}

func drawTracked(dc *gg.Context, s string, x, baseline, track float64, c color.Color) {
	dc.SetColor(c)
	for _, r := range s {
		str := string(r)
		dc.DrawString(str, x, baseline)
		w, _ := dc.MeasureString(str)
		x += w + track
	}
}

// textMask draws s into an alpha mask of the given size with its baseline
// starting at (x, baseline) and track pixels between letters.
func textMaskInto(m *image.Alpha, f font.Face, s string, x, baseline, track float64) {
	d := font.Drawer{Dst: m, Src: image.Opaque, Face: f}
	for _, r := range s {
		d.Dot = fixed.Point26_6{X: fixed.Int26_6(math.Round(x * 64)), Y: fixed.Int26_6(math.Round(baseline * 64))}
		d.DrawString(string(r))
		a, _ := f.GlyphAdvance(r)
		x += float64(a)/64 + track
	}
}

// drawMaskAt composites colour c (premultiplied) through mask m placed with
// its top-left at p. It does not allocate when src is a reused *image.Uniform.
func drawMaskAt(dst *image.RGBA, m *image.Alpha, p image.Point, src *image.Uniform) {
	r := m.Bounds().Sub(m.Bounds().Min).Add(p)
	draw.DrawMask(dst, r, src, image.Point{}, m, m.Bounds().Min, draw.Over)
}

// glyph is a pre-rendered character of the clock digits.
type glyph struct {
	index         int // in the atlas
	fill, outline *image.Alpha
	// off is the top-left of the masks relative to the pen position on the
	// baseline.
	off image.Point
	adv float64 // horizontal advance in pixels
}

// digitAtlas holds the clock glyphs "0"…"9" and ":" at one size. Digits are
// set in cells of equal width so the clock does not jitter as it counts.
type digitAtlas struct {
	// separate: neighbouring glyphs' outlines never touch (see inksApart).
	separate bool
	px       float64
	cell     float64 // advance of every digit
	colon    float64 // advance of ':'
	glyphs   [11]glyph
	outline  float64
}

func atlasIndex(c byte) int {
	if c == ':' {
		return 10
	}
	return int(c - '0')
}

func newDigitAtlas(px, outline float64) (*digitAtlas, error) {
	f, err := newFace(faceBold, px)
	if err != nil {
		return nil, err
	}
	a := &digitAtlas{px: px, outline: outline}
	pad := int(math.Ceil(outline)) + 2
	for i, r := range "0123456789:" {
		b, adv, ok := f.GlyphBounds(r)
		if !ok {
			return nil, fmt.Errorf("digit atlas: no glyph for %q", r)
		}
		x0, y0 := b.Min.X.Floor()-pad, b.Min.Y.Floor()-pad
		x1, y1 := b.Max.X.Ceil()+pad, b.Max.Y.Ceil()+pad
		m := image.NewAlpha(image.Rect(0, 0, x1-x0, y1-y0))
		d := font.Drawer{Dst: m, Src: image.Opaque, Face: f, Dot: fixed.P(-x0, -y0)}
		d.DrawString(string(r))
		a.glyphs[i] = glyph{index: i, fill: m, outline: dilate(m, outline), off: image.Pt(x0, y0), adv: float64(adv) / 64}
		if r != ':' {
			a.cell = math.Max(a.cell, float64(adv)/64)
		}
	}
	// A colon set a little tighter than its advance reads better in a clock.
	a.colon = a.glyphs[10].adv * 0.92
	a.separate = a.inksApart()
	return a, nil
}

// inksApart reports whether drawing the glyphs one after the other, left
// to right, each with its shadow, outline and fill (sprites), gives the
// same picture as drawing all shadows, then all outlines, then all fills:
// true (up to faint anti-aliased rims) when no glyph's outline reaches the
// fill of the glyph in the cell before it, for any pair of clock
// characters. Outlines overlapping outlines are harmless: same colour.
func (a *digitAtlas) inksApart() bool {
	type span struct{ l, r float64 } // columns with ink, relative to the cell start
	extent := func(m *image.Alpha, shift float64) span {
		l, r := m.Rect.Dx(), -1
		for y := 0; y < m.Rect.Dy(); y++ {
			for x := 0; x < m.Rect.Dx(); x++ {
				if m.Pix[y*m.Stride+x] != 0 {
					l, r = min(l, x), max(r, x)
				}
			}
		}
		return span{float64(l) + shift, float64(r+1) + shift}
	}
	var fill, outline [11]span
	var adv [11]float64
	for i := range a.glyphs {
		g := &a.glyphs[i]
		adv[i] = a.cell
		if i == 10 {
			adv[i] = a.colon
		}
		shift := math.Round((adv[i]-g.adv)/2) + float64(g.off.X)
		fill[i], outline[i] = extent(g.fill, shift), extent(g.outline, shift)
	}
	slack := max(1, 0.4*a.outline)
	for i := range fill {
		for j := range outline {
			// Glyph j in the cell after glyph i, in i's coordinates. A pixel
			// or so of overlap is allowed: there both are faint rims.
			if adv[i]+outline[j].l < fill[i].r-slack {
				return false
			}
		}
	}
	return true
}

func (a *digitAtlas) width(text []byte) float64 {
	w := 0.0
	for _, c := range text {
		if c == ':' {
			w += a.colon
		} else {
			w += a.cell
		}
	}
	return w
}

// each calls f with each glyph and the top-left of its masks for text
// centred on cx with its baseline at y.
func (a *digitAtlas) each(text []byte, cx, baseline float64, f func(g *glyph, p image.Point)) {
	x := cx - a.width(text)/2
	by := int(math.Round(baseline))
	for _, c := range text {
		if c != ':' && (c < '0' || c > '9') {
			continue
		}
		g := &a.glyphs[atlasIndex(c)]
		adv := a.cell
		if c == ':' {
			adv = a.colon
		}
		px := int(math.Round(x + (adv-g.adv)/2))
		f(g, image.Pt(px+g.off.X, by+g.off.Y))
		x += adv
	}
}

// atlasKey identifies a digit atlas: card width and clock length.
type atlasKey struct{ width, chars int }

var atlases = struct {
	sync.Mutex
	m map[atlasKey]*digitAtlas
}{m: map[atlasKey]*digitAtlas{}}

// digitAtlasFor returns the atlas for a clock of chars characters on a card
// of layout L, at the largest size not above L.digitsPx whose text fits
// L.digitsBox.
func digitAtlasFor(L cardLayout, chars int) (*digitAtlas, error) {
	k := atlasKey{L.w, chars}
	atlases.Lock()
	defer atlases.Unlock()
	if a := atlases.m[k]; a != nil {
		return a, nil
	}
	sample := make([]byte, 0, chars)
	for len(sample) < chars-6 {
		sample = append(sample, '0')
	}
	sample = append(sample, ":00:00"...)
	px := L.digitsPx
	outline := 3 * L.s
	var a *digitAtlas
	for {
		var err error
		a, err = newDigitAtlas(px, outline)
		if err != nil {
			return nil, err
		}
		w := a.width(sample) + 2*outline
		if w <= L.digitsBox || px < 6 {
			break
		}
		px = math.Max(px*L.digitsBox/w-0.25, 5)
	}
	if len(atlases.m) > 64 {
		clear(atlases.m)
	}
	atlases.m[k] = a
	return a, nil
}

// labelFor returns the label above the clock.
func labelFor(over bool) string {
	if over {
		return "GAME OVER"
	}
	return "TIME LEFT"
}

// labelMasks renders the label's fill and outline masks in a box whose
// top-left lands at the returned point of the card.
func labelMasks(L cardLayout, text string) (fill, outline *image.Alpha, at image.Point, err error) {
	f, err := newFace(faceBold, L.labelPx)
	if err != nil {
		return nil, nil, image.Point{}, err
	}
	tw := trackedWidth(f, text, L.labelTrack)
	pad := int(math.Ceil(2*L.s)) + 3
	asc := int(math.Ceil(L.labelPx))
	m := image.NewAlpha(image.Rect(0, 0, int(math.Ceil(tw))+2*pad, asc+2*pad))
	textMaskInto(m, f, text, float64(pad), float64(pad+asc)-0.05*L.labelPx, L.labelTrack)
	x := int(math.Round(float64(L.w)/2 - tw/2 - float64(pad)))
	y := int(math.Round(L.labelBase)) - (pad + asc) + int(math.Round(0.05*L.labelPx))
	return m, dilate(m, 2*L.s), image.Pt(x, y), nil
}

// labelMask is the cached label of a card size.
type labelMask struct {
	fill, outline *image.Alpha
	at            image.Point
}

var labels = struct {
	sync.Mutex
	m map[baseKey]*labelMask
}{m: map[baseKey]*labelMask{}}

// labelMasksFor returns the masks of the label of a running (or, with
// over, ended) card, computed once per size.
func labelMasksFor(L cardLayout, over bool) (*labelMask, error) {
	return labelMasksText(L, labelFor(over))
}

// labelMasksText returns labelMasks(L, text), computed once per size and
// text.
func labelMasksText(L cardLayout, text string) (*labelMask, error) {
	k := baseKey{width: L.w, label: text}
	labels.Lock()
	defer labels.Unlock()
	if lm := labels.m[k]; lm != nil {
		return lm, nil
	}
	fill, outline, at, err := labelMasks(L, text)
	if err != nil {
		return nil, err
	}
	if len(labels.m) > 64 {
		clear(labels.m)
	}
	lm := &labelMask{fill, outline, at}
	labels.m[k] = lm
	return lm, nil
}

// cardBase is a cached, read-only background layer.
type cardBase struct {
	band Band
	over bool
	img  *image.RGBA
	ink  cardInk
	// png encodes the static card: rows outside the digit band are
	// compressed once (nil for the animated variant).
	png *splicedPNG
	// keys are the quantiser keys of img (animated variant only).
	keys []qkey
	// Reused uniform sources for the digits.
	fill, outline, shadow *image.Uniform
}

type baseKey struct {
	band      Band
	width     int
	over      bool
	withLabel bool
	label     string
}

var bases = struct {
	sync.Mutex
	m map[baseKey]*cardBase
}{m: map[baseKey]*cardBase{}}

// baseFor returns the background layer of a card, drawing it once. With
// withLabel the label ("TIME LEFT" / "GAME OVER") is painted in as well and
// the PNG splicer is prepared, which is what the static card wants;
// animated cards move the label and get the layer's quantiser keys.
func baseFor(band Band, width int, over, withLabel bool) (*cardBase, error) {
	if withLabel {
		return baseForLabel(band, width, over, labelFor(over))
	}
	return baseForLabel(band, width, over, "")
}

// baseForLabel is baseFor with the label's text given ("" for none).
func baseForLabel(band Band, width int, over bool, label string) (*cardBase, error) {
	withLabel := label != ""
	k := baseKey{band, width, over, withLabel, label}
	bases.Lock()
	defer bases.Unlock()
	if b := bases.m[k]; b != nil {
		return b, nil
	}
	L := layoutFor(width)
	img, err := drawCardBase(L, band, over)
	if err != nil {
		return nil, err
	}
	ink := inkFor(band, over)
	cb := &cardBase{
		band: band, over: over, img: img, ink: ink,
		fill: image.NewUniform(ink.fill), outline: image.NewUniform(ink.outline), shadow: image.NewUniform(ink.shadow),
	}
	if withLabel {
		lm, err := labelMasksText(L, label)
		if err != nil {
			return nil, err
		}
		sh := image.Pt(0, int(math.Round(2*L.s)))
		drawMaskAt(img, lm.outline, lm.at.Add(sh), cb.shadow)
		drawMaskAt(img, lm.outline, lm.at, cb.outline)
		drawMaskAt(img, lm.fill, lm.at, image.NewUniform(ink.labelFill))
		y0, y1, err := digitRows(L)
		if err != nil {
			return nil, err
		}
		if cb.png, err = newSplicedPNG(img, y0, y1); err != nil {
			return nil, err
		}
	} else {
		cb.keys = keysOf(img)
	}
	if len(bases.m) > 128 {
		clear(bases.m)
	}
	bases.m[k] = cb
	return cb, nil
}

// digitRows returns the rows [y0, y1) that clock digits of any length can
// touch on a card of layout L: glyph masks (with their outline and padding)
// and the shadow below. The 8-character clock has the largest glyphs;
// longer clocks are set smaller on the same baseline, and digits have no
// descenders, so they stay inside the same rows.
func digitRows(L cardLayout) (y0, y1 int, err error) {
	a, err := digitAtlasFor(L, 8)
	if err != nil {
		return 0, 0, err
	}
	base := int(math.Round(L.digitsBase))
	y0, y1 = L.h, 0
	for _, g := range a.glyphs {
		y0 = min(y0, base+g.off.Y)
		y1 = max(y1, base+g.off.Y+g.outline.Rect.Dy()+shadowDrop(L))
	}
	return max(y0, 0), min(y1, L.h), nil
}

// shadowDrop is how far below the digits their shadow falls.
func shadowDrop(L cardLayout) int { return int(math.Round(3 * L.s)) }

// drawDigits composites the clock text onto dst layer by layer: all
// shadows, then all outlines, then all fills.
func drawDigits(dst *image.RGBA, L cardLayout, a *digitAtlas, text []byte, fill, outline, shadow *image.Uniform, offset image.Point) {
	cx := float64(L.w)/2 + float64(offset.X)
	base := L.digitsBase + float64(offset.Y)
	sh := image.Pt(0, shadowDrop(L))
	if shadow != nil {
		a.each(text, cx, base, func(g *glyph, p image.Point) { drawMaskAt(dst, g.outline, p.Add(sh), shadow) })
	}
	a.each(text, cx, base, func(g *glyph, p image.Point) { drawMaskAt(dst, g.outline, p, outline) })
	a.each(text, cx, base, func(g *glyph, p image.Point) { drawMaskAt(dst, g.fill, p, fill) })
}

// framePool recycles the RGBA bands of the static renderer, per size.
var framePool sync.Map // image.Point → *sync.Pool

func getFrame(w, h int) *image.RGBA {
	p, _ := framePool.LoadOrStore(image.Pt(w, h), &sync.Pool{})
	if img, ok := p.(*sync.Pool).Get().(*image.RGBA); ok {
		return img
	}
	return image.NewRGBA(image.Rect(0, 0, w, h))
}

func putFrame(img *image.RGBA) {
	if p, ok := framePool.Load(img.Bounds().Size()); ok {
		p.(*sync.Pool).Put(img)
	}
}

// renderTimerPNG draws the static card of k and encodes it as PNG.
func renderTimerPNG(k CardKey) ([]byte, error) {
	L := layoutFor(k.Width)
	base, err := baseForLabel(k.Band, k.Width, k.Over, k.label())
	if err != nil {
		return nil, err
	}
	var buf [24]byte
	text := appendClock(buf[:0], k.Seconds)
	atlas, err := digitAtlasFor(L, len(text))
	if err != nil {
		return nil, err
	}
	// Only the band of digit rows is composed and compressed per card.
	y0, y1 := base.png.y0, base.png.y1
	img := getFrame(L.w, y1-y0)
	defer putFrame(img)
	img.Rect = image.Rect(0, y0, L.w, y1)
	copy(img.Pix, base.img.Pix[base.img.PixOffset(0, y0):base.img.PixOffset(0, y1)])
	if atlas.separate {
		sprites, err := spritesFor(base, L, atlas, len(text))
		if err != nil {
			return nil, err
		}
		sprites.draw(img, L, atlas, text)
	} else {
		drawDigits(img, L, atlas, text, base.fill, base.outline, base.shadow, image.Point{})
	}
	return base.png.encode(img)
}

// glyphSprites are the clock glyphs of one atlas pre-composited in one
// card's ink (shadow, outline and fill), so each glyph is a single draw.
type glyphSprites struct {
	img [11]*image.RGBA
}

type spriteKey struct {
	band        Band
	over        bool
	width, size int
}

var spriteSets = struct {
	sync.Mutex
	m map[spriteKey]*glyphSprites
}{m: map[spriteKey]*glyphSprites{}}

// spritesFor returns the sprites of atlas in base's ink, made once.
func spritesFor(base *cardBase, L cardLayout, a *digitAtlas, chars int) (*glyphSprites, error) {
	k := spriteKey{base.band, base.over, L.w, chars}
	spriteSets.Lock()
	defer spriteSets.Unlock()
	if s := spriteSets.m[k]; s != nil {
		return s, nil
	}
	s := &glyphSprites{}
	sh := image.Pt(0, shadowDrop(L))
	for i := range a.glyphs {
		g := &a.glyphs[i]
		ob := g.outline.Bounds()
		sp := image.NewRGBA(image.Rect(0, 0, ob.Dx(), ob.Dy()+sh.Y))
		drawMaskAt(sp, g.outline, sh, base.shadow)
		drawMaskAt(sp, g.outline, image.Point{}, base.outline)
		drawMaskAt(sp, g.fill, image.Point{}, base.fill)
		s.img[i] = sp
	}
	if len(spriteSets.m) > 64 {
		clear(spriteSets.m)
	}
	spriteSets.m[k] = s
	return s, nil
}

// draw composites the clock text onto dst with one draw per glyph; it
// equals drawDigits up to rounding when the atlas' glyphs are separate.
func (s *glyphSprites) draw(dst *image.RGBA, L cardLayout, a *digitAtlas, text []byte) {
	a.each(text, float64(L.w)/2, L.digitsBase, func(g *glyph, p image.Point) {
		sp := s.img[g.index]
		draw.Draw(dst, sp.Rect.Add(p), sp, image.Point{}, draw.Over)
	})
}
