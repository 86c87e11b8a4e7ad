package timefmt

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The golden table of how players read times.
func TestGolden(t *testing.T) {
	tests := []struct {
		ms                        int64
		clock, value, span, rough string
	}{
		{0, "00:00:00.000", "00:00:00.000", "0 s", "0 s"},
		{1, "00:00:00.001", "00:00:00.001", "0.001 s", "0.001 s"},
		{398, "00:00:00.398", "00:00:00.398", "0.398 s", "0.398 s"},
		{999, "00:00:00.999", "00:00:00.999", "0.999 s", "0.999 s"},
		{1500, "00:00:01.500", "00:00:01.500", "1.5 s", "1.5 s"},
		{45_000, "00:00:45.000", "00:00:45.000", "45 s", "45 s"},
		{59_999, "00:00:59.999", "00:00:59.999", "59.999 s", "59.999 s"},
		{60_000, "00:01:00", "00:01:00.000", "1 min", "1 min"},
		{61_500, "00:01:01", "00:01:01.500", "1 min 1 s", "1 min 1 s"},
		{3_600_000, "01:00:00", "01:00:00.000", "1 h", "1 h"},
		{5_400_000, "01:30:00", "01:30:00.000", "1 h 30 min", "1 h 30 min"},
		{3*3_600_000 + 5_000, "03:00:05", "03:00:05.000", "3 h 5 s", "3 h"},
		{12 * 3_600_000, "12:00:00", "12:00:00.000", "12 h", "12 h"},
		{30 * 3_600_000, "30:00:00", "30:00:00.000", "1 d 6 h", "1 d 6 h"},
		{300*86_400_000 + 4*3_600_000 + 5*60_000, "7204:05:00", "7204:05:00.000", "300 d 4 h 5 min", "300 d 4 h"},
		{-5, "00:00:00.000", "00:00:00.000", "0 s", "0 s"},
	}
	for _, tt := range tests {
		got := [4]string{Clock(tt.ms), Value(tt.ms), Span(tt.ms), Rough(tt.ms)}
		want := [4]string{tt.clock, tt.value, tt.span, tt.rough}
		if got != want {
			t.Errorf("%d ms: Clock, Value, Span, Rough = %q, want %q", tt.ms, got, want)
		}
	}
}

func TestExact(t *testing.T) {
	for ms, want := range map[int64]string{0: "00:00:00", 6667: "00:00:06.667", 7_200_000: "02:00:00", 60_001: "00:01:00.001"} {
		if got := Exact(ms); got != want {
			t.Errorf("Exact(%d) = %q, want %q", ms, got, want)
		}
	}
}

func TestWaitAgreesWithReadySecond(t *testing.T) {
	tests := []struct{ now, ready, wait, sec int64 }{
		{10_000, 10_000, 0, 10},
		{10_000, 9_000, 0, 9},
		{10_000, 10_001, 1000, 11},
		{10_700, 12_500, 2000, 13},
		{0, 3 * 3_600_000, 3 * 3_600_000, 10_800},
	}
	for _, tt := range tests {
		if w := Wait(tt.now, tt.ready); w != tt.wait {
			t.Errorf("Wait(%d, %d) = %d, want %d", tt.now, tt.ready, w, tt.wait)
		}
		if s := ReadySecond(tt.ready); s != tt.sec {
			t.Errorf("ReadySecond(%d) = %d, want %d", tt.ready, s, tt.sec)
		}
		// The stated wait never ends before the cooldown does.
		if tt.now+Wait(tt.now, tt.ready) < tt.ready {
			t.Errorf("Wait(%d, %d) ends too early", tt.now, tt.ready)
		}
	}
}

// TestAxisLabelsDistinct: a 40 s game and a 300-day game both get
// distinct, readable tick labels.
func TestAxisLabelsDistinct(t *testing.T) {
	for _, span := range []int64{800, 40_000, 3 * 60_000, 5 * 3_600_000, 12 * 3_600_000, 3 * 86_400_000, 300 * 86_400_000} {
		step := AxisStep(span, 6)
		seen := map[string]bool{}
		var labels []string
		for v := int64(0); v <= span; v += step {
			l := Axis(v, step)
			if seen[l] {
				t.Errorf("span %d ms, step %d: label %q repeats in %q", span, step, l, labels)
			}
			seen[l] = true
			labels = append(labels, l)
		}
		if len(labels) < 3 || len(labels) > 12 {
			t.Errorf("span %d ms: %d ticks %q", span, len(labels), labels)
		}
		t.Logf("span %d: %q", span, labels)
	}
	if got := Axis(40_000, 10_000); got != "40 s" {
		t.Errorf("Axis(40 s) = %q", got)
	}
	if got := Axis(300*86_400_000, 60*86_400_000); got != "300 d" {
		t.Errorf("Axis(300 d) = %q", got)
	}
}

// TestStdlibOnly keeps the package importable from everywhere, imaging
// included.
func TestStdlibOnly(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
