package imaging

import (
	"testing"
	"time"
)

// TestAxisLabelsOnAnyClock: the value axis of a 40 s clock and of a
// 300-day clock, and the time axis of a 40 s game, have distinct labels.
func TestAxisLabelsOnAnyClock(t *testing.T) {
	distinct := func(what string, labels []string) {
		t.Helper()
		seen := map[string]bool{}
		for _, l := range labels {
			if seen[l] {
				t.Errorf("%s: label %q repeats in %q", what, l, labels)
			}
			seen[l] = true
		}
		if len(labels) < 3 {
			t.Errorf("%s: only %q", what, labels)
		}
	}
	for _, d := range []time.Duration{40 * time.Second, 12 * time.Hour, 300 * 24 * time.Hour} {
		var labels []string
		for _, tk := range clockTicker(d).Ticks(0, d.Hours()) {
			labels = append(labels, tk.Label)
		}
		distinct("clock "+d.String(), labels)
		t.Logf("clock %v: %q", d, labels)
	}
	start := float64(time.Date(2026, 12, 7, 5, 0, 3, 0, time.UTC).Unix())
	for _, span := range []float64{40, 300 * 86400} {
		var labels []string
		for _, tk := range timeTicker(9).Ticks(start, start+span) {
			labels = append(labels, tk.Label)
		}
		distinct("time axis", labels)
		t.Logf("time axis %v s: %q", span, labels)
	}
}
