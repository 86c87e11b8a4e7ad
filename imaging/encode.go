package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"sync"
)

// pngBufferPool lets concurrent encoders reuse their zlib writer and row
// buffers (png.EncoderBuffer) instead of allocating them per image.
type pngBufferPool struct{ p sync.Pool }

func (b *pngBufferPool) Get() *png.EncoderBuffer {
	e, _ := b.p.Get().(*png.EncoderBuffer)
	return e
}
func (b *pngBufferPool) Put(e *png.EncoderBuffer) { b.p.Put(e) }

var (
	pngEnc = &png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngBufferPool{}}
	// outBufs recycles the byte buffers images are encoded into; the
	// result is copied out so the buffer can be reused at once.
	outBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// encodePNG encodes img with best-speed compression and returns a fresh
// byte slice owned by the caller.
func encodePNG(img image.Image) ([]byte, error) {
	buf := outBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer outBufs.Put(buf)
	if err := pngEnc.Encode(buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return bytes.Clone(buf.Bytes()), nil
}
