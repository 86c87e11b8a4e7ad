package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrNotReady is wrapped by every error of Readiness.Ready.
var ErrNotReady = errors.New("not ready")

// Readiness is what /readyz answers: the process is ready when NATS is
// connected, every registered projection has caught up with the stream,
// and every added check passes. It starts NOT ready: NATS counts as
// disconnected and each projection as behind until they report otherwise.
// Its methods are safe for concurrent use.
type Readiness struct {
	maxLag    uint64
	steadyLag uint64 // the bound once a projection has caught up; see SetSteadyLag

	mu     sync.Mutex
	nats   bool
	proj   map[string]projState
	order  []string // projection names, in registration order
	checks []check
	// degraded names what does not work while the process stays ready
	// (such as the Discord gateway), with why.
	degraded map[string]string
}

type projState struct {
	reported bool
	caughtUp bool
	once     bool // has been within maxLag once
	lag      uint64
	failing  string // why the projection cannot apply now; "" when it can
}

type check struct {
	name string
	fn   func(context.Context) error
}

// NewReadiness returns a Readiness waiting for NATS and for each of
// projections (such as "redis" and "mysql") to catch up. A projection
// counts as caught up when its reported lag is at most maxLag messages
// (0: only when it has applied everything).
func NewReadiness(maxLag uint64, projections ...string) *Readiness {
	r := &Readiness{maxLag: maxLag, proj: make(map[string]projState)}
	for _, p := range projections {
		r.register(p)
	}
	return r
}

// register adds projection if it is new; r.mu must be held or r unshared.
func (r *Readiness) register(p string) projState {
	s, ok := r.proj[p]
	if !ok {
		r.proj[p] = s
		r.order = append(r.order, p)
	}
	return s
}

// SetNATS records whether the NATS connection is up.
func (r *Readiness) SetNATS(connected bool) {
	r.mu.Lock()
	r.nats = connected
	r.mu.Unlock()
}

// SetProjectorCaughtUp records whether projection has caught up. A name
// not given to NewReadiness is registered by its first report.
func (r *Readiness) SetProjectorCaughtUp(projection string, caughtUp bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.register(projection)
	s.reported, s.caughtUp, s.lag = true, caughtUp, 0
	r.proj[projection] = s
}

// SetProjectorLag records how many stream messages projection has not
// applied yet; it is caught up while that is at most the maxLag of
// NewReadiness.
func (r *Readiness) SetProjectorLag(projection string, lagEvents uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.register(projection)
	limit := r.maxLag
	if s.once {
		limit = max(limit, r.steadyLag)
	}
	s.reported, s.caughtUp, s.lag = true, lagEvents <= limit, lagEvents
	s.once = s.once || lagEvents <= r.maxLag
	if lagEvents == 0 {
		s.failing = "" // nothing left to apply: nothing failing either
	}
	r.proj[projection] = s
}

// SetSteadyLag sets the bound of a projection that has caught up once
// (been within the maxLag of NewReadiness): it stays ready while it is at
// most lagEvents messages behind, so the ordinary lag of a projection
// under load does not make the process flap, while start-up still waits
// for a full catch-up.
func (r *Readiness) SetSteadyLag(lagEvents uint64) {
	r.mu.Lock()
	r.steadyLag = lagEvents
	r.mu.Unlock()
}

// SetProjectorFailing records that projection cannot apply now (its store
// refuses or does not answer), with why; the process is not ready until a
// report clears it: SetProjectorFailing with "" (a batch was applied) or a
// SetProjectorLag of 0.
func (r *Readiness) SetProjectorFailing(projection, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.register(projection)
	s.failing = why
	r.proj[projection] = s
}

// SetDegraded records that component does not work, with why ("" clears
// it), while the process still does its main work: Ready is not affected,
// and the /readyz answer of HandlerFor names it in its body.
func (r *Readiness) SetDegraded(component, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if why == "" {
		delete(r.degraded, component)
		return
	}
	if r.degraded == nil {
		r.degraded = make(map[string]string)
	}
	r.degraded[component] = why
}

// Degraded returns what SetDegraded recorded, one "component: why" line
// per component, sorted.
func (r *Readiness) Degraded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.degraded))
	for c, why := range r.degraded {
		out = append(out, c+": "+why)
	}
	slices.Sort(out)
	return out
}

// AddCheck adds a condition of readiness, such as a ping of Redis, run by
// every Ready call; a non-nil error means not ready. fn must honour ctx.
func (r *Readiness) AddCheck(name string, fn func(context.Context) error) {
	r.mu.Lock()
	r.checks = append(r.checks, check{name, fn})
	r.mu.Unlock()
}

// Ready returns nil when the process is ready, else an error wrapping
// ErrNotReady that names everything that is not ready, in a stable order:
// NATS, the projections in registration order, then the checks.
func (r *Readiness) Ready(ctx context.Context) error {
	r.mu.Lock()
	var why []string
	if !r.nats {
		why = append(why, "nats: not connected")
	}
	for _, p := range r.order {
		switch s := r.proj[p]; {
		case s.failing != "":
			why = append(why, fmt.Sprintf("projection %s: cannot apply: %s", p, s.failing))
		case !s.reported:
			why = append(why, fmt.Sprintf("projection %s: not reported yet", p))
		case !s.caughtUp && s.lag > 0:
			why = append(why, fmt.Sprintf("projection %s: behind by %d events", p, s.lag))
		case !s.caughtUp:
			why = append(why, fmt.Sprintf("projection %s: not caught up", p))
		}
	}
	checks := slices.Clone(r.checks)
	r.mu.Unlock()
	for _, c := range checks {
		if err := c.fn(ctx); err != nil {
			why = append(why, fmt.Sprintf("%s: %v", c.name, err))
		}
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotReady, strings.Join(why, "; "))
}

// ReadyTimeout bounds one readiness answer of Handler.
const ReadyTimeout = 2 * time.Second

// Handler serves /metrics (the registry of m, in the Prometheus text or
// OpenMetrics format), /healthz (200 "ok" while the process can answer)
// and /readyz (200 "ready" when ready returns nil, else 503 with the
// error's text; ready gets the request's context bounded by ReadyTimeout).
// ready nil means always ready. Other paths are 404. Mount it on a larger
// mux path by path: mux.Handle("/metrics", h), "/healthz", "/readyz".
func Handler(m *Metrics, ready func(context.Context) error) http.Handler {
	return handler(m, ready, nil)
}

// HandlerFor is Handler answering /readyz from r: 503 with every reason
// while r is not ready; 200 "ready" when it is, followed by one
// "degraded: component: why" line for each degraded component.
func HandlerFor(m *Metrics, r *Readiness) http.Handler {
	return handler(m, r.Ready, r.Degraded)
}

func handler(m *Metrics, ready func(context.Context) error, degraded func() []string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if ready == nil {
			plain(w, http.StatusOK, "ready\n")
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), ReadyTimeout)
		defer cancel()
		err := ready(ctx)
		var notes string
		if degraded != nil {
			for _, d := range degraded() {
				notes += "degraded: " + d + "\n"
			}
		}
		if err != nil {
			plain(w, http.StatusServiceUnavailable, err.Error()+"\n"+notes)
			return
		}
		plain(w, http.StatusOK, "ready\n"+notes)
	})
	return mux
}

func plain(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
