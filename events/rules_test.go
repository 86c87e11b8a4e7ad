package events_test

import (
	"math"
	"testing"

	"github.com/thebutton-game/thebutton/events"
)

const hour = 3600 * 1000

func TestBandOf(t *testing.T) {
	d := int64(12 * hour) // sixths of exactly 2 h
	tests := []struct {
		name  string
		value int64
		want  events.Band
	}{
		{"zero left is Red", 0, events.Red},
		{"negative is Red", -5, events.Red},
		{"one ms is Red", 1, events.Red},
		{"just under 1/6 is Red", 2*hour - 1, events.Red},
		{"exactly 1/6 is Orange", 2 * hour, events.Orange},
		{"just under 2/6 is Orange", 4*hour - 1, events.Orange},
		{"exactly 2/6 is Yellow", 4 * hour, events.Yellow},
		{"exactly 3/6 is Green", 6 * hour, events.Green},
		{"just under 4/6 is Green", 8*hour - 1, events.Green},
		{"exactly 4/6 is Blue", 8 * hour, events.Blue},
		{"just under 5/6 is Blue", 10*hour - 1, events.Blue},
		{"exactly 5/6 is Purple", 10 * hour, events.Purple},
		{"full clock is Purple", d, events.Purple},
		{"over the clock stays Purple", d + 1, events.Purple},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := events.BandOf(tt.value, d); got != tt.want {
				t.Errorf("BandOf(%d, %d) = %v, want %v", tt.value, d, got, tt.want)
			}
		})
	}
}

// A duration that is not a multiple of six: the edges are the smallest
// values with 6·value ≥ k·duration, with nothing lost to rounding.
func TestBandEdgesOddDuration(t *testing.T) {
	d := int64(1001)
	for _, b := range events.Bands {
		lo, hi := events.BandRange(b, d)
		if got := events.BandOf(lo, d); got != b && !(b == events.Red && lo == 0) {
			t.Errorf("BandOf(lo=%d) = %v, want %v", lo, got, b)
		}
		if lo > 0 {
			if got := events.BandOf(lo-1, d); got != b-1 {
				t.Errorf("BandOf(lo-1=%d) = %v, want %v", lo-1, got, b-1)
			}
		}
		if b != events.Purple {
			if got := events.BandOf(hi-1, d); got != b {
				t.Errorf("BandOf(hi-1=%d) = %v, want %v", hi-1, got, b)
			}
		}
	}
}

func TestBandNamesAndColours(t *testing.T) {
	want := map[events.Band]struct {
		name string
		rgb  int
	}{
		events.Red: {"Red", 0xC24141}, events.Orange: {"Orange", 0xDB7C30}, events.Yellow: {"Yellow", 0xCBA635},
		events.Green: {"Green", 0x509B69}, events.Blue: {"Blue", 0x4069C0}, events.Purple: {"Purple", 0x6A4C93},
	}
	for b, w := range want {
		if b.String() != w.name || b.RGB() != w.rgb {
			t.Errorf("band %d = %s %06X, want %s %06X", int(b), b.String(), b.RGB(), w.name, w.rgb)
		}
	}
}

func TestRemainingAndClaimed(t *testing.T) {
	if got := events.Remaining(1000, 1000); got != 0 {
		t.Errorf("Remaining at the deadline = %d, want 0", got)
	}
	if got := events.Remaining(1000, 1500); got != 0 {
		t.Errorf("Remaining past the deadline = %d, want 0", got)
	}
	if got := events.Remaining(1000, 999); got != 1 {
		t.Errorf("Remaining 1 ms before = %d, want 1", got)
	}
	if got := events.Claimed(0, 12*hour); got != 12*hour {
		t.Errorf("Claimed(0) = %d, want the full duration", got)
	}
	if got := events.Claimed(12*hour, 12*hour); got != 0 {
		t.Errorf("Claimed(full) = %d, want 0", got)
	}
}

// mmrFloat is GAME-RULES §5 written with floats and exact sixths, to check
// the integer form against.
func mmrFloat(value, duration int64) float64 {
	p := 100 * float64(value) / float64(duration)
	band := math.Min(5, math.Floor(6*float64(value)/float64(duration)))
	sixth := 100.0 / 6
	pos := (p - band*sixth) / sixth
	base := math.Pow(2, 5-band)
	mult := 1 - math.Abs(0.5-pos)
	if band <= 1 {
		mult = 1 - pos
	}
	return base * (1 + mult) * (float64(duration) / float64(12*hour))
}

func TestMMR(t *testing.T) {
	d := int64(12 * hour)
	tests := []struct {
		name  string
		value int64
		want  int64 // milli-MMR
	}{
		{"zero left: Red, pos 0, 32·2", 0, 64000},
		{"bottom of Orange: 16·2", 2 * hour, 32000},
		{"middle of Yellow: 8·2", 5 * hour, 16000},
		{"bottom of Green: 4·1.5", 6 * hour, 6000},
		{"middle of Blue: 2·2", 9 * hour, 4000},
		{"full clock: Purple at pos 1, 1·1.5", d, 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := events.MMRMilli(tt.value, d); got != tt.want {
				t.Errorf("MMRMilli(%d) = %d, want %d", tt.value, got, tt.want)
			}
		})
	}
	// The integer form agrees with the float formula everywhere, to within
	// the final rounding down, and scales with duration/12h.
	for _, dur := range []int64{d, 60_000, 7 * 24 * hour, 1001} {
		for v := int64(0); v <= dur; v += max(1, dur/997) {
			got := float64(events.MMRMilli(v, dur)) / 1000
			want := mmrFloat(v, dur)
			if got > want+1e-9 || want-got > 0.001+1e-9 {
				t.Fatalf("MMR(%d of %d) = %.4f, float formula %.4f", v, dur, got, want)
			}
		}
	}
}

func TestMMRTextKeepsEveryDifference(t *testing.T) {
	for milli, want := range map[int64]string{0: "0.000", 28: "0.028", 1000: "1.000", 1234500: "1234.500", -5: "-0.005"} {
		if got := events.MMRText(milli); got != want {
			t.Errorf("MMRText(%d) = %q, want %q", milli, got, want)
		}
	}
}
