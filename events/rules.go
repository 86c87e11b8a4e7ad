package events

// The arithmetic of GAME-RULES §2–5, in integer milliseconds. This is the
// one classifier every view uses; nothing else computes a band.

// Band is a colour band: 0 Red (rarest) … 5 Purple.
type Band int

// The six bands.
const (
	Red Band = iota
	Orange
	Yellow
	Green
	Blue
	Purple
)

// Bands lists every band, rarest first.
var Bands = [6]Band{Red, Orange, Yellow, Green, Blue, Purple}

var bandInfo = [6]struct {
	name, emoji, hex string
	rgb              uint32
}{
	{"Red", "🔴", "#C24141", 0xC24141},
	{"Orange", "🟠", "#DB7C30", 0xDB7C30},
	{"Yellow", "🟡", "#CBA635", 0xCBA635},
	{"Green", "🟢", "#509B69", 0x509B69},
	{"Blue", "🔵", "#4069C0", 0x4069C0},
	{"Purple", "🟣", "#6A4C93", 0x6A4C93},
}

// Valid reports whether b is one of the six bands.
func (b Band) Valid() bool { return b >= Red && b <= Purple }

func (b Band) info() int {
	if !b.Valid() {
		return 0
	}
	return int(b)
}

// String is the band's name, also the name of its Discord role.
func (b Band) String() string { return bandInfo[b.info()].name }

// Emoji is the band's coloured circle.
func (b Band) Emoji() string { return bandInfo[b.info()].emoji }

// RGB is the band's colour as 0xRRGGBB, as Discord embeds and roles take it.
func (b Band) RGB() int { return int(bandInfo[b.info()].rgb) }

// Hex is the band's colour as #RRGGBB.
func (b Band) Hex() string { return bandInfo[b.info()].hex }

// Remaining is max(0, deadline − t).
func Remaining(deadlineMS, tMS int64) int64 {
	return max(0, deadlineMS-tMS)
}

// BandOf classifies a remaining value: min(5, floor(6·value/duration)).
// A duration ≤ 0 or a negative value gives Red.
func BandOf(valueMS, durationMS int64) Band {
	if durationMS <= 0 || valueMS <= 0 {
		return Red
	}
	return Band(min(5, 6*valueMS/durationMS))
}

// BandRange returns the remaining-time range [lo, hi) of a band for a game
// of the given duration; Purple's hi is the duration itself (inclusive).
// Its edges are the smallest values BandOf puts in the band.
func BandRange(b Band, durationMS int64) (loMS, hiMS int64) {
	edge := func(k int64) int64 { return (k*durationMS + 5) / 6 } // ceil(k·d/6)
	lo := edge(int64(b))
	if b == Purple {
		return lo, durationMS
	}
	return lo, edge(int64(b) + 1)
}

// Claimed is the time a click put back on the clock: duration − value.
func Claimed(valueMS, durationMS int64) int64 {
	return max(0, durationMS-valueMS)
}

// mmrUnitMS is the 12 h reference duration of the MMR formula.
const mmrUnitMS = 12 * 3600 * 1000

// MMRMilli is a click's MMR (GAME-RULES §5) × 1000, rounded down, computed
// in integers from the click's band:
//
//	pos  = (6·value − band·duration) / duration   (position inside the band, 0…1)
//	base = 2^(5−band)
//	mult = 1 − pos for Red and Orange, else 1 − |½ − pos|
//	mmr  = base·(1 + mult)·duration/12h
//
// With pos = n/D this reduces to base·(2D − n)/12h for Red and Orange and
// base·(4D − |D − 2n|)/(2·12h) otherwise, so nothing is lost to rounding
// before the final division.
func MMRMilli(valueMS, durationMS int64) int64 {
	if durationMS <= 0 {
		return 0
	}
	valueMS = min(max(valueMS, 0), durationMS)
	b := BandOf(valueMS, durationMS)
	n := 6*valueMS - int64(b)*durationMS
	base := int64(1) << (5 - int(b))
	if b <= Orange {
		return base * (2*durationMS - n) * 1000 / mmrUnitMS
	}
	d := durationMS - 2*n
	if d < 0 {
		d = -d
	}
	return base * (4*durationMS - d) * 1000 / (2 * mmrUnitMS)
}
