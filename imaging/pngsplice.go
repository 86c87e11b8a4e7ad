package imaging

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"image"
	"sync"
)

// splicedPNG encodes images that differ from a fixed background only in a
// horizontal band of rows [y0, y1) — the timer card, whose clock digits are
// the only thing that changes. The rows above and below the band are
// filtered and deflate-compressed once; each image then compresses only its
// band and splices the three deflate streams into one zlib stream (the
// prefix ends with a sync flush, so the next part starts on a byte boundary
// with its own blocks, and only the suffix carries the final block). The
// zlib Adler-32 is combined from the parts' checksums.
//
// The output is an ordinary 8-bit RGBA PNG. A splicedPNG is read-only after
// newSplicedPNG and safe for concurrent use.
type splicedPNG struct {
	w, h, y0, y1 int

	head       []byte // signature, IHDR, IDAT length placeholder excluded
	prefix     []byte // deflate data of rows [0, y0), ending with a sync flush
	suffix     []byte // deflate data of rows [y1, h), final block
	adlerPre   uint32 // Adler-32 of the raw prefix rows
	adlerSuf   uint32
	suffixLen  int    // raw length of the suffix rows
	lastPreRow []byte // raw (unfiltered) row y0-1, for the Up filter of row y0
}

const pngSignature = "\x89PNG\r\n\x1a\n"

// PNG filter types.
const (
	ftNone = iota
	ftSub
	ftUp
	ftAverage
	ftPaeth
)

func newSplicedPNG(bg *image.RGBA, y0, y1 int) (*splicedPNG, error) {
	b := bg.Bounds()
	w, h := b.Dx(), b.Dy()
	y0, y1 = max(y0, 1), min(y1, h-1)
	if y0 >= y1 {
		return nil, fmt.Errorf("spliced png: empty band [%d, %d)", y0, y1)
	}
	sp := &splicedPNG{w: w, h: h, y0: y0, y1: y1}

	var head bytes.Buffer
	head.WriteString(pngSignature)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 6 // 8 bits per sample, RGBA
	writeChunk(&head, "IHDR", ihdr)
	sp.head = head.Bytes()

	rowLen := 1 + 4*w
	raw := make([]byte, rowLen*h)
	for y := 0; y < h; y++ {
		straightRow(raw[y*rowLen+1:(y+1)*rowLen], bg, y)
	}
	rowOf := func(y int) []byte { return raw[y*rowLen+1 : (y+1)*rowLen] }
	sp.lastPreRow = bytes.Clone(rowOf(y0 - 1))

	compress := func(y0, y1 int, final bool, first int) ([]byte, uint32, int, error) {
		var out bytes.Buffer
		zw, err := flate.NewWriter(&out, flate.DefaultCompression)
		if err != nil {
			return nil, 0, 0, err
		}
		ad := adler32.New()
		n := 0
		row := make([]byte, rowLen)
		for y := y0; y < y1; y++ {
			var prev []byte
			if y > 0 && !(y == y0 && first == ftSub) {
				prev = rowOf(y - 1)
			}
			bestFilterRow(row, rowOf(y), prev, first, y == y0)
			if _, err := zw.Write(row); err != nil {
				return nil, 0, 0, err
			}
			ad.Write(row)
			n += len(row)
		}
		if final {
			err = zw.Close()
		} else {
			err = zw.Flush()
		}
		return out.Bytes(), ad.Sum32(), n, err
	}
	var err error
	if sp.prefix, sp.adlerPre, _, err = compress(0, y0, false, -1); err != nil {
		return nil, fmt.Errorf("spliced png: compress prefix: %w", err)
	}
	// The first suffix row must not depend on the band above it, which
	// changes from image to image: it uses the Sub filter.
	if sp.suffix, sp.adlerSuf, sp.suffixLen, err = compress(y1, h, true, ftSub); err != nil {
		return nil, fmt.Errorf("spliced png: compress suffix: %w", err)
	}
	return sp, nil
}

// bandBuffers are the per-encode scratch buffers, pooled.
type bandBuffers struct {
	raw, filtered []byte
	comp          bytes.Buffer
	zw            *flate.Writer
}

var bandPool = sync.Pool{New: func() any { return new(bandBuffers) }}

// encode returns the PNG of the background with band replaced by the rows
// [y0, y1) of img (img's bounds must cover them; other rows are ignored).
func (sp *splicedPNG) encode(img *image.RGBA) ([]byte, error) {
	bb := bandPool.Get().(*bandBuffers)
	defer bandPool.Put(bb)
	rowLen := 1 + 4*sp.w
	n := rowLen * (sp.y1 - sp.y0)
	// Two raw row buffers alternate so the Up filter can see the previous
	// row without copying.
	if cap(bb.raw) < 8*sp.w {
		bb.raw = make([]byte, 8*sp.w)
	}
	if cap(bb.filtered) < n {
		bb.filtered = make([]byte, 0, n)
	}
	bb.filtered = bb.filtered[:0]
	prev := sp.lastPreRow
	rows := [2][]byte{bb.raw[:4*sp.w], bb.raw[4*sp.w : 8*sp.w]}
	for y := sp.y0; y < sp.y1; y++ {
		cur := rows[y&1]
		straightRow(cur, img, y)
		bb.filtered = append(bb.filtered, ftUp)
		for i, c := range cur {
			bb.filtered = append(bb.filtered, c-prev[i])
		}
		prev = cur
	}
	bb.comp.Reset()
	if bb.zw == nil {
		zw, err := flate.NewWriter(&bb.comp, flate.BestSpeed)
		if err != nil {
			return nil, fmt.Errorf("encode png band: %w", err)
		}
		bb.zw = zw
	} else {
		bb.zw.Reset(&bb.comp)
	}
	if _, err := bb.zw.Write(bb.filtered); err != nil {
		return nil, fmt.Errorf("encode png band: %w", err)
	}
	if err := bb.zw.Flush(); err != nil {
		return nil, fmt.Errorf("encode png band: %w", err)
	}
	mid := bb.comp.Bytes()
	adler := adler32Combine(adler32Combine(sp.adlerPre, adler32.Checksum(bb.filtered), n), sp.adlerSuf, sp.suffixLen)

	idatLen := 2 + len(sp.prefix) + len(mid) + len(sp.suffix) + 4
	out := make([]byte, 0, len(sp.head)+12+idatLen+12)
	out = append(out, sp.head...)
	out = binary.BigEndian.AppendUint32(out, uint32(idatLen))
	start := len(out)
	out = append(out, "IDAT"...)
	out = append(out, 0x78, 0x01) // zlib header: deflate, 32K window, fastest
	out = append(out, sp.prefix...)
	out = append(out, mid...)
	out = append(out, sp.suffix...)
	out = binary.BigEndian.AppendUint32(out, adler)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
	out = append(out, 0, 0, 0, 0)
	out = append(out, "IEND"...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE([]byte("IEND")))
	return out, nil
}

func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	b.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	b.Write(n[:])
}

// straightRow writes row y of the premultiplied img as straight
// (non-premultiplied) RGBA into dst.
func straightRow(dst []byte, img *image.RGBA, y int) {
	b := img.Bounds()
	src := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
	copy(dst, src)
	for i := 0; i+4 <= len(dst); i += 4 {
		a := uint32(dst[i+3])
		switch a {
		case 255:
		case 0:
			dst[i], dst[i+1], dst[i+2] = 0, 0, 0
		default:
			// The rounding of image/png, so both encoders agree exactly.
			const m = 0x101 * 0xffff
			a *= 0x101
			dst[i] = uint8((uint32(dst[i]) * m / a) >> 8)
			dst[i+1] = uint8((uint32(dst[i+1]) * m / a) >> 8)
			dst[i+2] = uint8((uint32(dst[i+2]) * m / a) >> 8)
		}
	}
}

// bestFilterRow filters cur (previous row prev, nil for none) into out
// (filter byte first). With force ≥ 0 and isFirst, that filter is used;
// otherwise the filter with the smallest sum of absolute values, as
// libpng and image/png choose it.
func bestFilterRow(out, cur, prev []byte, force int, isFirst bool) {
	const bpp = 4
	if prev == nil {
		prev = make([]byte, len(cur))
	}
	candidates := []int{ftNone, ftSub, ftUp, ftAverage, ftPaeth}
	if force >= 0 && isFirst {
		candidates = []int{force}
	}
	best, bestSum := -1, 0
	tmp := make([]byte, len(cur))
	for _, ft := range candidates {
		sum := 0
		for i := range cur {
			var left, up, ul byte
			if i >= bpp {
				left, ul = cur[i-bpp], prev[i-bpp]
			}
			up = prev[i]
			var v byte
			switch ft {
			case ftNone:
				v = cur[i]
			case ftSub:
				v = cur[i] - left
			case ftUp:
				v = cur[i] - up
			case ftAverage:
				v = cur[i] - byte((int(left)+int(up))/2)
			case ftPaeth:
				v = cur[i] - paeth(left, up, ul)
			}
			tmp[i] = v
			sum += int(int8(v)) * sign(int8(v))
		}
		if best < 0 || sum < bestSum {
			best, bestSum = ft, sum
			out[0] = byte(ft)
			copy(out[1:], tmp)
		}
	}
}

func sign(v int8) int {
	if v < 0 {
		return -1
	}
	return 1
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	if pa <= pb && pa <= pc {
		return a
	}
	if pb <= pc {
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// adler32Combine returns the Adler-32 of the concatenation of two byte
// sequences from their checksums a1, a2 and the length n2 of the second
// (the algorithm of zlib's adler32_combine).
func adler32Combine(a1, a2 uint32, n2 int) uint32 {
	const base = 65521
	rem := uint32(n2 % base)
	sum1 := a1 & 0xffff
	sum2 := uint32((uint64(rem) * uint64(sum1)) % base)
	sum1 += (a2 & 0xffff) + base - 1
	sum2 += (a1 >> 16) + (a2 >> 16) + base - rem
	if sum1 >= base {
		sum1 -= base
	}
	if sum1 >= base {
		sum1 -= base
	}
	if sum2 >= base<<1 {
		sum2 -= base << 1
	}
	if sum2 >= base {
		sum2 -= base
	}
	return sum1 | sum2<<16
}
