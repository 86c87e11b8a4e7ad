package imaging

import (
	"fmt"
	"image/color"
)

// Band is a colour band of GAME-RULES §4. Lower is rarer: Red (0) is the
// last sixth of the clock, Purple (5) the first.
//
// The classifier itself (band = min(5, floor(6·value/duration))) lives with
// the game rules; imaging only draws bands it is given.
type Band int

// The six bands, numbered as in GAME-RULES §4.
const (
	Red Band = iota
	Orange
	Yellow
	Green
	Blue
	Purple
)

// NumBands is the number of colour bands.
const NumBands = 6

var bandColors = [NumBands]color.RGBA{
	Red:    {0xC2, 0x41, 0x41, 0xFF},
	Orange: {0xDB, 0x7C, 0x30, 0xFF},
	Yellow: {0xCB, 0xA6, 0x35, 0xFF},
	Green:  {0x50, 0x9B, 0x69, 0xFF},
	Blue:   {0x40, 0x69, 0xC0, 0xFF},
	Purple: {0x6A, 0x4C, 0x93, 0xFF},
}

var bandNames = [NumBands]string{"Red", "Orange", "Yellow", "Green", "Blue", "Purple"}

// Valid reports whether b is one of the six bands.
func (b Band) Valid() bool { return b >= 0 && b < NumBands }

// Color returns the band's RGB colour from GAME-RULES §4, opaque. An invalid
// band returns a neutral grey rather than panicking.
func (b Band) Color() color.RGBA {
	if !b.Valid() {
		return color.RGBA{0x80, 0x84, 0x8E, 0xFF}
	}
	return bandColors[b]
}

// String returns the band's English name ("Red" … "Purple"), or "Band(n)"
// for an invalid band.
func (b Band) String() string {
	if !b.Valid() {
		return fmt.Sprintf("Band(%d)", int(b))
	}
	return bandNames[b]
}

// BandColor returns the colour of band number band (0 Red … 5 Purple), as
// [Band.Color] does.
func BandColor(band int) color.RGBA { return Band(band).Color() }

// BandName returns the name of band number band (0 Red … 5 Purple), as
// [Band.String] does.
func BandName(band int) string { return Band(band).String() }

// Bands returns the six bands from Red to Purple.
func Bands() [NumBands]Band { return [NumBands]Band{Red, Orange, Yellow, Green, Blue, Purple} }
