package imaging

import (
	"fmt"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
)

// typeface names one of the embedded Go fonts.
type typeface int

const (
	faceRegular typeface = iota
	faceMedium
	faceBold
	numFaces
)

var (
	fontsOnce sync.Once
	fonts     [numFaces]*opentype.Font
	fontsErr  error
)

// parsedFonts parses the embedded Go fonts once. The parsed fonts are
// read-only and safe to share; faces made from them are not.
func parsedFonts() ([numFaces]*opentype.Font, error) {
	fontsOnce.Do(func() {
		srcs := [numFaces][]byte{faceRegular: goregular.TTF, faceMedium: gomedium.TTF, faceBold: gobold.TTF}
		for i, src := range srcs {
			f, err := opentype.Parse(src)
			if err != nil {
				fontsErr = fmt.Errorf("parse embedded font %d: %w", i, err)
				return
			}
			fonts[i] = f
		}
	})
	return fonts, fontsErr
}

// newFace returns a new face of the typeface at px pixels (72 DPI, so size
// in points equals pixels). A face is not safe for concurrent use: callers
// make one per rendering.
func newFace(tf typeface, px float64) (font.Face, error) {
	fs, err := parsedFonts()
	if err != nil {
		return nil, err
	}
	f, err := opentype.NewFace(fs[tf], &opentype.FaceOptions{Size: px, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil, fmt.Errorf("new face %d at %.1fpx: %w", tf, px, err)
	}
	return f, nil
}

// textWidth measures s in face, in pixels.
func textWidth(f font.Face, s string) float64 {
	return float64(font.MeasureString(f, s)) / 64
}
