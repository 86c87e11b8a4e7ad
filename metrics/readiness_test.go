package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/thebutton-game/thebutton/metrics"
)

// A projection that cannot apply makes the process unready until it
// applies again (or has nothing left to apply); a degraded component
// leaves it ready and is named in /readyz's body.
func TestReadinessFailingAndDegraded(t *testing.T) {
	r := metrics.NewReadiness(0, "redis")
	r.SetNATS(true)
	r.SetProjectorLag("redis", 0)
	srv := httptest.NewServer(metrics.HandlerFor(metrics.New(), r))
	defer srv.Close()
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("ready: %d %q", code, body)
	}

	r.SetProjectorLag("redis", 3)
	r.SetProjectorFailing("redis", "apply: dial tcp: connection refused")
	code, body := get()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "projection redis: cannot apply: apply: dial tcp: connection refused") {
		t.Fatalf("failing projection: %d %q", code, body)
	}
	r.SetProjectorLag("redis", 2) // still behind: still failing
	if err := r.Ready(context.Background()); err == nil {
		t.Fatal("ready while the projection still cannot apply")
	}
	r.SetProjectorFailing("redis", "") // a batch applied
	r.SetProjectorLag("redis", 0)
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("not ready after the projection applied: %v", err)
	}
	r.SetProjectorFailing("redis", "apply: timeout")
	r.SetProjectorLag("redis", 0) // nothing left to apply
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("not ready with nothing left to apply: %v", err)
	}

	r.SetDegraded("discord", "cannot open the gateway: connection refused")
	if code, body := get(); code != http.StatusOK || body != "ready\ndegraded: discord: cannot open the gateway: connection refused\n" {
		t.Fatalf("degraded: %d %q", code, body)
	}
	r.SetNATS(false)
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "nats: not connected") ||
		!strings.Contains(body, "degraded: discord") {
		t.Fatalf("unready and degraded: %d %q", code, body)
	}
	r.SetNATS(true)
	r.SetDegraded("discord", "")
	if code, body := get(); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("back: %d %q", code, body)
	}
}

// At start a projection must catch up fully; once it has, it stays ready
// within the steady bound and is unready beyond it.
func TestReadinessSteadyLag(t *testing.T) {
	r := metrics.NewReadiness(0, "mysql")
	r.SetSteadyLag(100)
	r.SetNATS(true)
	ready := func() bool { return r.Ready(context.Background()) == nil }
	r.SetProjectorLag("mysql", 50)
	if ready() {
		t.Fatal("ready at start 50 events behind")
	}
	r.SetProjectorLag("mysql", 0)
	r.SetProjectorLag("mysql", 50)
	if !ready() {
		t.Fatal("not ready 50 events behind after catching up (bound 100)")
	}
	r.SetProjectorLag("mysql", 101)
	if err := r.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "projection mysql: behind by 101 events") {
		t.Fatalf("101 events behind (bound 100): %v", err)
	}
}
