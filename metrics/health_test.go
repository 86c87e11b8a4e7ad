package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/metrics"
)

// TestReadyzAfterStartWithBacklog plays a start with a backlog: NATS
// connects, then the two projectors work through their backlog at
// different speeds. /readyz must stay 503 until both have caught up.
func TestReadyzAfterStartWithBacklog(t *testing.T) {
	r := metrics.NewReadiness(0, "redis", "mysql")
	srv := httptest.NewServer(metrics.Handler(metrics.New(), r.Ready))
	defer srv.Close()

	steps := []struct {
		name      string
		do        func()
		wantReady bool
		wantBody  string // for 503: the exact reasons
	}{
		{
			name:     "fresh process",
			do:       func() {},
			wantBody: "not ready: nats: not connected; projection redis: not reported yet; projection mysql: not reported yet\n",
		},
		{
			name:     "nats connected, backlog of 5000",
			do:       func() { r.SetNATS(true); r.SetProjectorLag("redis", 5000); r.SetProjectorLag("mysql", 5000) },
			wantBody: "not ready: projection redis: behind by 5000 events; projection mysql: behind by 5000 events\n",
		},
		{
			name:     "redis caught up, mysql still behind",
			do:       func() { r.SetProjectorLag("redis", 0); r.SetProjectorLag("mysql", 1200) },
			wantBody: "not ready: projection mysql: behind by 1200 events\n",
		},
		{
			name:     "mysql one event behind",
			do:       func() { r.SetProjectorLag("mysql", 1) },
			wantBody: "not ready: projection mysql: behind by 1 events\n",
		},
		{
			name:      "both caught up",
			do:        func() { r.SetProjectorLag("mysql", 0) },
			wantReady: true,
		},
		{
			name:     "nats lost",
			do:       func() { r.SetNATS(false) },
			wantBody: "not ready: nats: not connected\n",
		},
		{
			name:      "nats back",
			do:        func() { r.SetNATS(true) },
			wantReady: true,
		},
		{
			name:     "a projector says it is not caught up",
			do:       func() { r.SetProjectorCaughtUp("redis", false) },
			wantBody: "not ready: projection redis: not caught up\n",
		},
		{
			name:      "and then that it is",
			do:        func() { r.SetProjectorCaughtUp("redis", true) },
			wantReady: true,
		},
	}
	for _, s := range steps {
		s.do()
		err := r.Ready(context.Background())
		if (err == nil) != s.wantReady {
			t.Fatalf("%s: Ready() = %v, want ready %v", s.name, err, s.wantReady)
		}
		if err != nil && !errors.Is(err, metrics.ErrNotReady) {
			t.Errorf("%s: %v does not wrap ErrNotReady", s.name, err)
		}
		if s.wantReady {
			if body := get(t, srv.URL+"/readyz", http.StatusOK); body != "ready\n" {
				t.Errorf("%s: /readyz body %q", s.name, body)
			}
			continue
		}
		if diff := cmp.Diff(s.wantBody, get(t, srv.URL+"/readyz", http.StatusServiceUnavailable)); diff != "" {
			t.Errorf("%s: /readyz body (-want +got):\n%s", s.name, diff)
		}
	}
	// /healthz answers 200 whatever the readiness.
	r.SetNATS(false)
	get(t, srv.URL+"/healthz", http.StatusOK)
}

func TestReadinessMaxLagAndChecks(t *testing.T) {
	r := metrics.NewReadiness(10, "redis")
	r.SetNATS(true)
	r.SetProjectorLag("redis", 10)
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("lag 10 with bound 10: %v", err)
	}
	r.SetProjectorLag("redis", 11)
	if err := r.Ready(context.Background()); err == nil {
		t.Fatal("lag 11 with bound 10 is ready")
	}
	r.SetProjectorLag("redis", 0)

	// A projection first named by a report is waited for from then on.
	r.SetProjectorLag("extra", 30)
	if err := r.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "projection extra: behind by 30 events") {
		t.Fatalf("Ready() = %v, want extra behind", err)
	}
	r.SetProjectorLag("extra", 0)

	var redisDown atomic.Bool
	r.AddCheck("redis ping", func(ctx context.Context) error {
		if redisDown.Load() {
			return errors.New("connection refused")
		}
		return ctx.Err()
	})
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("check passing: %v", err)
	}
	redisDown.Store(true)
	if err := r.Ready(context.Background()); err == nil || err.Error() != "not ready: redis ping: connection refused" {
		t.Fatalf("Ready() = %v, want the failing check named", err)
	}
}

func TestReadyzBoundsTheCheck(t *testing.T) {
	ready := func(ctx context.Context) error {
		<-ctx.Done() // a check that hangs until its context ends
		return ctx.Err()
	}
	srv := httptest.NewServer(metrics.Handler(metrics.New(), ready))
	defer srv.Close()
	start := time.Now()
	body := get(t, srv.URL+"/readyz", http.StatusServiceUnavailable)
	if d := time.Since(start); d > metrics.ReadyTimeout+time.Second {
		t.Errorf("/readyz took %v with a hanging check", d)
	}
	if !strings.Contains(body, "deadline exceeded") {
		t.Errorf("/readyz body %q", body)
	}
}

func TestRunProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := metrics.New()
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime}))
		var redisErr, mysqlErr atomic.Value
		redisErr.Store(errBox{})
		mysqlErr.Store(errBox{errors.New("dial tcp: connection refused")})
		check := func(v *atomic.Value) func(context.Context) error {
			return func(context.Context) error { return v.Load().(errBox).err }
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = m.RunProbes(ctx, log, 10*time.Second,
				metrics.Probe{Sink: metrics.SinkRedis, Check: check(&redisErr)},
				metrics.Probe{Sink: metrics.SinkMySQL, Check: check(&mysqlErr)},
				metrics.Probe{Sink: "slow", Check: func(ctx context.Context) error {
					<-ctx.Done() // hangs: must be cut at the probe's timeout
					return ctx.Err()
				}},
			)
		})
		up := func(sink string) float64 {
			v, _ := sample(t, m, "thebutton_sink_up", map[string]string{"sink": sink})
			return v
		}
		synctest.Wait()
		advance(6 * time.Second) // the slow probe times out after 5 s
		if up("redis") != 1 || up("mysql") != 0 || up("slow") != 0 {
			t.Fatalf("first round: redis %v mysql %v slow %v, want 1 0 0", up("redis"), up("mysql"), up("slow"))
		}
		// Three more rounds with MySQL still down: logged once only.
		advance(30 * time.Second)
		mysqlErr.Store(errBox{})
		redisErr.Store(errBox{errors.New("i/o timeout")})
		advance(10 * time.Second)
		if up("redis") != 0 || up("mysql") != 1 {
			t.Fatalf("after the swap: redis %v mysql %v, want 0 1", up("redis"), up("mysql"))
		}
		cancel()
		wg.Wait()
		got := logs.String()
		for _, want := range []string{
			`level=WARN msg="sink unreachable" sink=mysql err="dial tcp: connection refused"`,
			`level=INFO msg="sink reachable again" sink=mysql`,
			`level=WARN msg="sink unreachable" sink=redis err="i/o timeout"`,
		} {
			if n := strings.Count(got, want); n != 1 {
				t.Errorf("log line %s appears %d times, want once; logs:\n%s", want, n, got)
			}
		}
		if strings.Contains(got, `msg="sink reachable again" sink=redis`) {
			t.Errorf("redis logged as back without having been down:\n%s", got)
		}
	})
}

type errBox struct{ err error }

// advance moves the fake clock of a synctest bubble on by d, then waits
// until every goroutine of the bubble is blocked again. Inside a bubble
// time.Sleep waits for nothing real: it is how a test advances the fake
// clock (the bubble's timers fire in order, at once), so there is no
// condition to wait on instead.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestDiscordRoute(t *testing.T) {
	tests := []struct {
		method, url, want string
	}{
		{"PATCH", "https://discord.com/api/v9/channels/1122334455667788/messages/99887766554433", "PATCH /channels/{id}/messages/{id}"},
		{"post", "https://discord.com/api/v10/channels/11/messages?x=1", "POST /channels/{id}/messages"},
		{"POST", "https://discord.com/api/v9/interactions/123456/aW50ZXJhY3Rpb246MTIz_tok-en/callback", "POST /interactions/{id}/{token}/callback"},
		{"PATCH", "/api/v9/webhooks/777/tokenXYZ123/messages/@original", "PATCH /webhooks/{id}/{token}/messages/@original"},
		{"PUT", "https://discord.com/api/v9/channels/1/messages/2/reactions/%F0%9F%9F%A3/@me", "PUT /channels/{id}/messages/{id}/reactions/{emoji}/@me"},
		{"PUT", "https://discord.com/api/v9/guilds/5/members/6/roles/7", "PUT /guilds/{id}/members/{id}/roles/{id}"},
		{"GET", "https://discord.com/api/v9/gateway/bot", "GET /gateway/bot"},
		{"GET", "/users/@me", "GET /users/@me"},
		{"GET", "https://discord.com/api/v9/guilds/5/Some Name", "GET /guilds/{id}/{param}"},
		{"GET", "https://discord.com", "GET /"},
	}
	for _, tt := range tests {
		if got := metrics.DiscordRoute(tt.method, tt.url); got != tt.want {
			t.Errorf("DiscordRoute(%s, %s) = %q, want %q", tt.method, tt.url, got, tt.want)
		}
	}
}

func TestDiscordTransport(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer api.Close()
	m := metrics.New()
	client := &http.Client{Transport: m.DiscordTransport(nil)}
	for range 2 {
		resp, err := client.Post(api.URL+"/api/v9/channels/42/messages", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more
	if resp, err := client.Get(closed.URL + "/api/v9/users/@me"); err == nil {
		resp.Body.Close()
		t.Fatal("GET on a closed server succeeded")
	}
	route := "POST /channels/{id}/messages"
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"thebutton_discord_requests_total", map[string]string{"route": route, "class": "429"}, 1},
		{"thebutton_discord_requests_total", map[string]string{"route": route, "class": "2xx"}, 1},
		{"thebutton_discord_rate_limited_total", map[string]string{"route": route}, 1},
		{"thebutton_discord_requests_total", map[string]string{"route": "GET /users/@me", "class": "error"}, 1},
	}
	for _, tt := range tests {
		if got, ok := sample(t, m, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
}
