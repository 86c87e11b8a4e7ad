package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/thebutton-game/thebutton/metrics"
)

// touchAll reports into every metric once.
func touchAll(m *metrics.Metrics) {
	m.ObservePress(metrics.OutcomeAccepted, 3*time.Millisecond)
	m.Conflict()
	m.ProjectorApplied("redis", 5, 20*time.Millisecond, 0)
	m.ProjectorRetry("redis", "apply")
	m.DeadLetter("mysql")
	m.DiscordCall("PATCH /channels/{id}/messages/{id}", 429)
	m.MessageEdit(metrics.EditOK)
	m.ObserveRender("timer", 40*time.Millisecond)
	m.SetSinkUp(metrics.SinkRedis, true)
	m.SetNATSConnected(true)
	m.SetDiscordConnected(true)
}

// families gathers m's registry by name.
func families(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// sample returns the value of the series of family name with exactly
// labels (a counter's or gauge's value, a histogram's sample count), and
// whether it exists.
func sample(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	f, ok := families(t, m)[name]
	if !ok {
		return 0, false
	}
next:
	for _, s := range f.GetMetric() {
		if len(s.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range s.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.GetCounter().GetValue(), true
		case s.Gauge != nil:
			return s.GetGauge().GetValue(), true
		case s.Histogram != nil:
			return float64(s.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricNames(t *testing.T) {
	m := metrics.New()
	touchAll(m)
	type fam struct {
		Name   string
		Type   string
		Labels string
	}
	var got []fam
	for name, f := range families(t, m) {
		if !strings.HasPrefix(name, metrics.Namespace+"_") {
			continue
		}
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		got = append(got, fam{name, f.GetType().String(), strings.Join(labels, ",")})
	}
	slices.SortFunc(got, func(a, b fam) int { return strings.Compare(a.Name, b.Name) })
	want := []fam{
		{"thebutton_append_conflicts_total", "COUNTER", ""},
		{"thebutton_dead_letters_total", "COUNTER", "projection"},
		{"thebutton_discord_connected", "GAUGE", ""},
		{"thebutton_discord_rate_limited_total", "COUNTER", "route"},
		{"thebutton_discord_requests_total", "COUNTER", "class,route"},
		{"thebutton_discord_token_refused", "GAUGE", ""},
		{"thebutton_game_message_edits_total", "COUNTER", "result"},
		{"thebutton_nats_connected", "GAUGE", ""},
		{"thebutton_press_duration_seconds", "HISTOGRAM", "result"},
		{"thebutton_presses_total", "COUNTER", "outcome"},
		{"thebutton_projector_batches_total", "COUNTER", "projection"},
		{"thebutton_projector_events_applied_total", "COUNTER", "projection"},
		{"thebutton_projector_lag_events", "GAUGE", "projection"},
		{"thebutton_projector_lag_seconds", "GAUGE", "projection"},
		{"thebutton_projector_retries_total", "COUNTER", "op,projection"},
		{"thebutton_render_duration_seconds", "HISTOGRAM", "kind"},
		{"thebutton_sink_up", "GAUGE", "sink"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metric families (-want +got):\n%s", diff)
	}
	// Prometheus conventions: counters end in _total, histograms in a unit.
	for _, f := range got {
		switch f.Type {
		case "COUNTER":
			if !strings.HasSuffix(f.Name, "_total") {
				t.Errorf("counter %s does not end in _total", f.Name)
			}
		case "HISTOGRAM":
			if !strings.HasSuffix(f.Name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", f.Name)
			}
		default:
			if strings.HasSuffix(f.Name, "_total") {
				t.Errorf("%s %s ends in _total", f.Type, f.Name)
			}
		}
	}
	fams := families(t, m)
	for _, std := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[std]; !ok {
			t.Errorf("%s missing: the Go or process collector is not registered", std)
		}
	}
}

func TestObservePress(t *testing.T) {
	tests := []struct {
		name        string
		outcomes    []string
		wantOutcome map[string]float64 // outcome label → count
		wantResult  map[string]float64 // result label → histogram samples
	}{
		{
			name:        "accepted and duplicate are timed as accepted",
			outcomes:    []string{"accepted", "accepted", "duplicate"},
			wantOutcome: map[string]float64{"accepted": 2, "duplicate": 1},
			wantResult:  map[string]float64{"accepted": 3},
		},
		{
			name:        "refusal reasons are counted apart and timed as refused",
			outcomes:    []string{"cooldown", "game_over", "cooldown", "sequential", "banned", "wrong_guild", "no_such_game", "invalid"},
			wantOutcome: map[string]float64{"cooldown": 2, "game_over": 1, "sequential": 1, "banned": 1, "wrong_guild": 1, "no_such_game": 1, "invalid": 1},
			wantResult:  map[string]float64{"refused": 8},
		},
		{
			name:        "shed presses are counted and timed apart",
			outcomes:    []string{"shed", "shed", "accepted"},
			wantOutcome: map[string]float64{"shed": 2, "accepted": 1},
			wantResult:  map[string]float64{"shed": 2, "accepted": 1},
		},
		{
			name:        "an unknown outcome is counted as other, never as a new label",
			outcomes:    []string{"kaboom", "error", "contention"},
			wantOutcome: map[string]float64{"other": 1, "error": 1, "contention": 1},
			wantResult:  map[string]float64{"error": 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			for _, o := range tt.outcomes {
				m.ObservePress(o, time.Millisecond)
			}
			got := map[string]float64{}
			for _, o := range append(slices.Clone(metrics.Outcomes), "kaboom") {
				v, ok := sample(t, m, "thebutton_presses_total", map[string]string{"outcome": o})
				if o == "kaboom" && ok {
					t.Errorf("outcome %q became a label value", o)
				}
				if v != 0 {
					got[o] = v
				}
			}
			if diff := cmp.Diff(tt.wantOutcome, got); diff != "" {
				t.Errorf("presses by outcome (-want +got):\n%s", diff)
			}
			gotR := map[string]float64{}
			for _, r := range []string{metrics.ResultAccepted, metrics.ResultRefused, metrics.ResultError, metrics.ResultShed} {
				if v, _ := sample(t, m, "thebutton_press_duration_seconds", map[string]string{"result": r}); v != 0 {
					gotR[r] = v
				}
			}
			if diff := cmp.Diff(tt.wantResult, gotR); diff != "" {
				t.Errorf("latency samples by result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPressLatencyBuckets(t *testing.T) {
	m := metrics.New()
	m.ObservePress(metrics.OutcomeAccepted, 150*time.Microsecond)
	m.ObservePress(metrics.OutcomeAccepted, 200*time.Millisecond)
	m.ObservePress(metrics.OutcomeAccepted, 3*time.Second)
	var h *dto.Histogram
	for _, s := range families(t, m)["thebutton_press_duration_seconds"].GetMetric() {
		if s.GetLabel()[0].GetValue() == metrics.ResultAccepted {
			h = s.GetHistogram()
		}
	}
	if h == nil {
		t.Fatal("no accepted latency series")
	}
	got := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		got[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	// 150 µs lands in the 250 µs bucket; 200 ms is counted at le="0.2"
	// (bounds are inclusive) so the p95 alert threshold is exact; 3 s only
	// in +Inf.
	want := map[float64]uint64{0.0001: 0, 0.00025: 1, 0.15: 1, 0.2: 2, 2: 2}
	for le, n := range want {
		if got[le] != n {
			t.Errorf("bucket le=%g: %d samples, want %d", le, got[le], n)
		}
	}
	if h.GetSampleCount() != 3 {
		t.Errorf("sample count %d, want 3", h.GetSampleCount())
	}
}

func TestObservePressDoesNotAllocate(t *testing.T) {
	m := metrics.New()
	for _, o := range []string{metrics.OutcomeAccepted, metrics.OutcomeCooldown, "unknown"} {
		if n := testing.AllocsPerRun(1000, func() { m.ObservePress(o, 2*time.Millisecond) }); n != 0 {
			t.Errorf("ObservePress(%q) allocates %v times per call", o, n)
		}
	}
}

func TestProjectorAndSinkMetrics(t *testing.T) {
	m := metrics.New()
	m.ProjectorApplied("redis", 1000, 12*time.Second, 4000)
	m.ProjectorApplied("redis", 500, 0, 0)
	m.ProjectorApplied("mysql", 0, -time.Second, 7) // empty batch, clock skew
	m.DeadLetter("redis")
	m.DeadLetter("redis")
	m.SetSinkUp(metrics.SinkMySQL, false)
	m.SetSinkUp(metrics.SinkRedis, true)
	m.SetNATSConnected(false)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"thebutton_projector_events_applied_total", map[string]string{"projection": "redis"}, 1500},
		{"thebutton_projector_batches_total", map[string]string{"projection": "redis"}, 2},
		{"thebutton_projector_batches_total", map[string]string{"projection": "mysql"}, 1},
		{"thebutton_projector_lag_seconds", map[string]string{"projection": "redis"}, 0},
		{"thebutton_projector_lag_events", map[string]string{"projection": "redis"}, 0},
		{"thebutton_projector_lag_seconds", map[string]string{"projection": "mysql"}, 0},
		{"thebutton_projector_lag_events", map[string]string{"projection": "mysql"}, 7},
		{"thebutton_dead_letters_total", map[string]string{"projection": "redis"}, 2},
		{"thebutton_sink_up", map[string]string{"sink": "mysql"}, 0},
		{"thebutton_sink_up", map[string]string{"sink": "redis"}, 1},
		{"thebutton_nats_connected", nil, 0},
	}
	for _, tt := range tests {
		got, ok := sample(t, m, tt.name, tt.labels)
		if !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := sample(t, m, "thebutton_projector_events_applied_total", map[string]string{"projection": "mysql"}); ok {
		t.Error("an empty batch created an applied series for mysql")
	}
	m.SetProjectorLag("redis", 11*time.Second, 9)
	if got, _ := sample(t, m, "thebutton_projector_lag_seconds", map[string]string{"projection": "redis"}); got != 11 {
		t.Errorf("lag after SetProjectorLag = %v, want 11", got)
	}
}

func TestHandlerMetrics(t *testing.T) {
	m := metrics.New()
	touchAll(m)
	srv := httptest.NewServer(metrics.Handler(m, nil))
	defer srv.Close()
	body := get(t, srv.URL+"/metrics", http.StatusOK)
	for name := range families(t, m) {
		if !strings.Contains(body, "\n# TYPE "+name+" ") {
			t.Errorf("/metrics does not expose %s", name)
		}
	}
	for _, line := range []string{
		`thebutton_presses_total{outcome="cooldown"} 0`, // pre-declared outcomes show at 0
		`thebutton_discord_rate_limited_total{route="PATCH /channels/{id}/messages/{id}"} 1`,
		`thebutton_press_duration_seconds_bucket{result="accepted",le="0.2"} 1`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks the line %s", line)
		}
	}
	if got := get(t, srv.URL+"/healthz", http.StatusOK); got != "ok\n" {
		t.Errorf("/healthz body %q", got)
	}
	get(t, srv.URL+"/nope", http.StatusNotFound)
}

// get fetches url, checks the status and returns the body.
func get(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	if resp.StatusCode != wantStatus {
		t.Errorf("GET %s: status %d, want %d; body:\n%s", url, resp.StatusCode, wantStatus, b)
	}
	return string(b)
}

func BenchmarkObservePress(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	for b.Loop() {
		m.ObservePress(metrics.OutcomeAccepted, 1500*time.Microsecond)
	}
}

func BenchmarkObservePressParallel(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObservePress(metrics.OutcomeCooldown, 200*time.Microsecond)
		}
	})
}

// TestSeriesExistAtZero checks the series that alerts take increase() of
// exist at 0 before their first event: Prometheus sees no increase in a
// series that appears with the value 1.
func TestSeriesExistAtZero(t *testing.T) {
	m := metrics.New()
	m.InitProjections("redis", "mysql")
	m.SetProjectorLag("late", 0, 0) // a projection not initialised
	m.DiscordCall("GET /gateway/bot", 200)
	tests := []struct {
		name   string
		labels map[string]string
	}{
		{"thebutton_dead_letters_total", map[string]string{"projection": "redis"}},
		{"thebutton_dead_letters_total", map[string]string{"projection": "mysql"}},
		{"thebutton_dead_letters_total", map[string]string{"projection": "late"}},
		{"thebutton_projector_events_applied_total", map[string]string{"projection": "mysql"}},
		{"thebutton_projector_lag_seconds", map[string]string{"projection": "redis"}},
		{"thebutton_projector_lag_events", map[string]string{"projection": "mysql"}},
		{"thebutton_discord_rate_limited_total", map[string]string{"route": "GET /gateway/bot"}},
		{"thebutton_game_message_edits_total", map[string]string{"result": metrics.EditRateLimited}},
		{"thebutton_presses_total", map[string]string{"outcome": metrics.OutcomeGameOver}},
	}
	for _, tt := range tests {
		if v, ok := sample(t, m, tt.name, tt.labels); !ok || v != 0 {
			t.Errorf("%s%v = %v (present %v), want present at 0", tt.name, tt.labels, v, ok)
		}
	}
}

func TestConflicts(t *testing.T) {
	m := metrics.New()
	var handler atomic.Uint64 // a commands.Handler's Stats().Conflicts
	m.AddConflictSource(handler.Load)
	m.Conflict()
	handler.Add(4)
	if v, ok := sample(t, m, "thebutton_append_conflicts_total", nil); !ok || v != 5 {
		t.Errorf("thebutton_append_conflicts_total = %v (present %v), want 5", v, ok)
	}
	handler.Add(1)
	if v, _ := sample(t, m, "thebutton_append_conflicts_total", nil); v != 6 {
		t.Errorf("after one more conflict: %v, want 6", v)
	}
}
