package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/thebutton-game/thebutton/metrics"
)

// Example shows the wiring cmd/thebutton does: one Metrics and one
// Readiness per process, components reporting into them, and the three
// endpoints mounted on the web server's mux.
func Example() {
	m := metrics.New()
	m.InitProjections("redis", "mysql")
	ready := metrics.NewReadiness(0, "redis", "mysql")

	mux := http.NewServeMux()
	h := metrics.Handler(m, ready.Ready)
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	readyz := func() {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s", resp.StatusCode, body)
	}

	// NATS connection handlers, the projectors' hooks, the press handler.
	m.SetNATSConnected(true)
	ready.SetNATS(true)
	readyz()
	for _, p := range []string{"redis", "mysql"} {
		m.ProjectorApplied(p, 1000, 0, 0)
		ready.SetProjectorLag(p, 0)
	}
	m.ObservePress(metrics.OutcomeAccepted, 3*time.Millisecond)
	readyz()
	// Output:
	// 503 not ready: projection redis: not reported yet; projection mysql: not reported yet
	// 200 ready
}
