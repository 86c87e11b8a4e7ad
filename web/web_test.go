package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/redisproj"
	"github.com/thebutton-game/thebutton/readmodel"
	"github.com/thebutton-game/thebutton/web"
)

func get(t testing.TB, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func msAt(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

func click(game events.GameID, n int64, user, name string, at time.Duration, value, duration time.Duration) *web.Click {
	v, d := value.Milliseconds(), duration.Milliseconds()
	b := events.BandOf(v, d)
	return &web.Click{
		Game: int64(game), Number: n, User: user, Name: name, AtMS: msAt(at), ValueMS: v, Band: int(b), BandName: b.String(),
		ClaimedMS: events.Claimed(v, d), MMR: float64(events.MMRMilli(v, d)) / 1000,
	}
}

// The clicks of the story.
var (
	daveClick   = click(2, 1, dave, "Dave", 3*time.Minute, 7*time.Minute, 10*time.Minute)
	aliceClick1 = click(1, 1, alice, "Alice", 6*time.Minute, 54*time.Minute, time.Hour)
	bobClick    = click(1, 2, bob, evilName, 46*time.Minute, 20*time.Minute, time.Hour)
	carolClick  = click(1, 3, carol, "Carol", 101*time.Minute, 5*time.Minute, time.Hour)
	aliceClick2 = click(1, 4, alice, "Alice", 102*time.Minute, 59*time.Minute, time.Hour)
)

func TestAPIGamesIsTheLiveSummary(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	rec := get(t, s, "/api/games")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var got web.Live
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(102*time.Minute + 30*time.Second)
	want := web.Live{
		NowMS: now.UnixMilli(), Position: w.applied,
		Games: []web.Game{{
			ID: 1, URL: "/games/1", Guild: guild1, Icon: "🦉", Status: "active", StartMS: t0.UnixMilli(),
			DurationMS: time.Hour.Milliseconds(), DeadlineMS: msAt(162 * time.Minute),
			RemainingMS: (59*time.Minute + 30*time.Second).Milliseconds(), Band: 5, BandName: "Purple",
			AliveMS: (102*time.Minute + 30*time.Second).Milliseconds(), Clicks: 4, Players: 3,
			ClaimedMS: (6 + 40 + 55 + 1) * time.Minute.Milliseconds(),
			Last:      aliceClick2, ToBeat: carolClick,
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/api/games (-want +got):\n%s", diff)
	}
}

func TestAPIGamePage(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now, BaseURL: "https://button.example/"})
	rec := get(t, s, "/api/games/1")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got web.GamePage
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Game.URL != "https://button.example/games/1" {
		t.Errorf("url %q, want it absolute with the base URL", got.Game.URL)
	}
	if diff := cmp.Diff([]web.Click{*carolClick, *bobClick, *aliceClick1, *aliceClick2}, got.Lowest); diff != "" {
		t.Errorf("lowest (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]web.Click{*aliceClick2, *carolClick, *bobClick, *aliceClick1}, got.Recent); diff != "" {
		t.Errorf("recent (-want +got):\n%s", diff)
	}
	wantHours := []web.Hour{{HourMS: msAt(0), Clicks: 2}, {HourMS: msAt(time.Hour), Clicks: 2}}
	if diff := cmp.Diff(wantHours, got.PerHour); diff != "" {
		t.Errorf("per hour (-want +got):\n%s", diff)
	}
	wantColours := []web.Colour{
		{Band: 5, Name: "Purple", Clicks: 2, Percent: 50, ClaimedMS: 7 * 60_000, Players: 1},
		{Band: 4, Name: "Blue"},
		{Band: 3, Name: "Green"},
		{Band: 2, Name: "Yellow", Clicks: 1, Percent: 25, ClaimedMS: 40 * 60_000, Players: 1},
		{Band: 1, Name: "Orange"},
		{Band: 0, Name: "Red", Clicks: 1, Percent: 25, ClaimedMS: 55 * 60_000, Players: 1},
	}
	if diff := cmp.Diff(wantColours, got.Colours); diff != "" {
		t.Errorf("colours (-want +got):\n%s", diff)
	}
	users := func(ss []web.Standing) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.User)
		}
		return out
	}
	// MMR favours rare colours: Carol's red click beats Bob's yellow one,
	// which beats Alice's two purple ones. Alice has the most clicks;
	// Carol claimed 55 min, Bob 40, Alice 7.
	for _, tt := range []struct {
		name string
		got  []web.Standing
		want []string
	}{
		{"by MMR", got.ByMMR, []string{carol, bob, alice}},
		{"by claimed", got.ByClaimed, []string{carol, bob, alice}},
		{"by clicks", got.ByClicks, []string{alice, bob, carol}},
	} {
		if diff := cmp.Diff(tt.want, users(tt.got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if a := got.ByClicks[0]; a.Clicks != 2 || a.Bands != [6]int64{5: 2} || a.BestMS != aliceClick1.ValueMS || a.Name != "Alice" {
		t.Errorf("Alice's standing %+v", a)
	}
}

func TestAPIListsAndCard(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	decode := func(path string, v any) {
		t.Helper()
		rec := get(t, s, path)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var lowest, recent, two web.Clicks
	decode("/api/lowest", &lowest)
	decode("/api/recent", &recent)
	decode("/api/recent?n=2", &two)
	if diff := cmp.Diff([]web.Click{*carolClick, *daveClick, *bobClick, *aliceClick1, *aliceClick2}, lowest.Clicks); diff != "" {
		t.Errorf("/api/lowest (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]web.Click{*aliceClick2, *carolClick, *bobClick, *aliceClick1, *daveClick}, recent.Clicks); diff != "" {
		t.Errorf("/api/recent (-want +got):\n%s", diff)
	}
	if len(two.Clicks) != 2 {
		t.Errorf("/api/recent?n=2 gave %d clicks", len(two.Clicks))
	}

	var card web.Card
	decode("/api/players/"+alice, &card)
	want := web.Card{
		NowMS: clock.Now().UnixMilli(), User: alice, Name: "Alice", Clicks: 2, ClaimedMS: 7 * 60_000,
		MMR: aliceClick1.MMR + aliceClick2.MMR, Bands: [6]int64{5: 2}, Best: aliceClick1,
		Games: []web.CardGame{{
			Game: 1, Clicks: 2, BestMS: aliceClick1.ValueMS, BestBand: 5, BestNumber: 1, ClaimedMS: 7 * 60_000,
			MMR: aliceClick1.MMR + aliceClick2.MMR, FirstMS: aliceClick1.AtMS, LastMS: aliceClick2.AtMS,
			Bands: [6]int64{5: 2}, Latest: []int{5, 5},
		}},
	}
	if diff := cmp.Diff(want, card, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
		t.Errorf("/api/players/%s (-want +got):\n%s", alice, diff)
	}
}

// TestJSONShape pins the field names API clients rely on.
func TestJSONShape(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	var page map[string]any
	if err := json.Unmarshal(get(t, s, "/api/games/1").Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%T is not an object", v)
		}
		return slices.Sorted(maps.Keys(m))
	}
	for _, tt := range []struct {
		name string
		v    any
		want []string
	}{
		{"page", page, []string{"by_claimed", "by_clicks", "by_mmr", "colours", "game", "lowest", "now_ms", "per_hour", "recent"}},
		{"game", page["game"], []string{"alive_ms", "band", "band_name", "claimed_ms", "clicks", "cooldown_ms", "deadline_ms",
			"duration_ms", "end_ms", "end_reason", "guild", "icon", "id", "last_click", "over", "players", "remaining_ms",
			"sequential", "start_ms", "status", "to_beat", "url"}},
		{"click", page["recent"].([]any)[0], []string{"at_ms", "band", "band_name", "claimed_ms", "game", "mmr", "name", "number", "user", "value_ms"}},
		{"standing", page["by_mmr"].([]any)[0], []string{"bands", "best_band", "best_ms", "claimed_ms", "clicks", "mmr", "name", "rank", "user"}},
		{"colour", page["colours"].([]any)[0], []string{"band", "claimed_ms", "clicks", "name", "percent", "players"}},
		{"hour", page["per_hour"].([]any)[0], []string{"clicks", "hour_ms"}},
	} {
		if diff := cmp.Diff(tt.want, keys(tt.v)); diff != "" {
			t.Errorf("%s keys (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestPages(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	tests := []struct {
		name     string
		path     string
		code     int
		ctype    string
		contains []string
	}{
		{"live games", "/", 200, "text/html", []string{"Game #", `data-game="1"`, "🦉", "00:59:30", "Carol", "00:05:00.000", `href="/players/503"`, "Alice"}},
		{"a game", "/games/1", 200, "text/html", []string{"Game #1", `src="/games/1/timer.png"`, "MMR", "Time claimed", "Lowest clicks", "Recent clicks", "Clicks per hour", "Carol", "Alice", "Purple", "<svg class=\"hours\""}},
		{"an ended game", "/games/2", 200, "text/html", []string{"Game #2", "Ended", "2025-03-01 12:13:00 UTC", "Dave"}},
		{"global lowest", "/lowest", 200, "text/html", []string{"Lowest clicks", "Carol", "00:05:00.000", `href="/games/2"`}},
		{"global recent", "/recent", 200, "text/html", []string{"Recent clicks", "Dave", "Alice"}},
		{"a player card", "/players/" + alice, 200, "text/html", []string{"Alice", "Best click", "00:54:00.000", `href="/games/1"`}},
		{"the timer card", "/games/1/timer.png", 200, "image/png", nil},
		{"unknown game", "/games/99", 404, "text/html", []string{"Not found", "There is no game #99."}},
		{"unknown game's timer", "/games/99/timer.png", 404, "text/html", nil},
		{"unknown player", "/players/777", 404, "text/html", []string{"Player 777 has never pressed the button."}},
		{"unknown page", "/nope", 404, "text/html", nil},
		{"malformed game", "/games/abc", 400, "text/html", []string{"Bad request"}},
		{"game zero", "/games/0", 400, "text/html", nil},
		{"negative game", "/games/-1", 400, "text/html", nil},
		{"huge game", "/games/99999999999999999999", 400, "text/html", nil},
		{"malformed player", "/players/bob", 400, "text/html", nil},
		{"malformed count", "/lowest?n=many", 400, "text/html", nil},
		{"zero count", "/recent?n=0", 400, "text/html", nil},
		{"api unknown game", "/api/games/99", 404, "application/json", []string{`"error"`}},
		{"api malformed game", "/api/games/x1", 400, "application/json", []string{`"error"`}},
		{"api unknown player", "/api/players/777", 404, "application/json", nil},
		{"api unknown route", "/api/nope", 404, "application/json", nil},
		{"style sheet", "/static/style.css", 200, "text/css", []string{"--band"}},
		{"script", "/static/app.js", 200, "text/javascript", []string{"bandOf"}},
		{"missing asset", "/static/nope.js", 404, "text/plain", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, s, tt.path)
			if rec.Code != tt.code {
				t.Fatalf("GET %s: status %d, want %d: %.300s", tt.path, rec.Code, tt.code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tt.ctype)
			}
			body := rec.Body.String()
			for _, want := range tt.contains {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s: no %q in the body", tt.path, want)
				}
			}
			if tt.ctype == "image/png" {
				if _, err := png.Decode(bytes.NewReader(rec.Body.Bytes())); err != nil {
					t.Errorf("not a PNG: %v", err)
				}
			}
		})
	}
}

func TestPostIsNotAllowed(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/games", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/games: status %d, want 405", rec.Code)
	}
}

// TestPlayerNamesAreEscaped: a name is user input, shown on every page.
func TestPlayerNamesAreEscaped(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	for _, path := range []string{"/games/1", "/lowest", "/recent", "/players/" + bob} {
		body := get(t, s, path).Body.String()
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;pwn&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;Bob &amp; &#34;co&#34;") {
			t.Errorf("%s: the name is not shown escaped", path)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", `"co"`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: %q reached the page unescaped", path, bad)
			}
		}
	}
	for _, path := range []string{"/api/games/1", "/api/recent", "/api/players/" + bob} {
		body := get(t, s, path).Body.String()
		if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
			t.Errorf("%s: markup in the JSON is not escaped", path)
		}
		if !strings.Contains(body, `\u003cscript\u003e`) {
			t.Errorf("%s: the name is missing", path)
		}
	}
}

func TestHeaders(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	for _, tt := range []struct {
		path, cache string
	}{
		{"/", "no-cache"},
		{"/api/games", "no-cache"},
		{"/games/1/timer.png", "public, max-age=1"},
		{"/games/2/timer.png", "public, max-age=60"},
		{"/static/app.js", "public, max-age=300"},
		{"/games/99", "no-store"},
	} {
		rec := get(t, s, tt.path)
		if got := rec.Header().Get("Cache-Control"); got != tt.cache {
			t.Errorf("%s: Cache-Control %q, want %q", tt.path, got, tt.cache)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", tt.path, got)
		}
	}
	// The pages link their assets with a content hash, served immutable.
	body := get(t, s, "/").Body.String()
	i := strings.Index(body, "/static/style.css?v=")
	if i < 0 {
		t.Fatal("no versioned style sheet link on /")
	}
	link := body[i : i+strings.IndexByte(body[i:], '"')]
	if got := get(t, s, link).Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("%s: Cache-Control %q", link, got)
	}
	if csp := get(t, s, "/").Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
}

func TestMount(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now, Mount: map[string]http.Handler{
		"GET /metrics": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "metrics here") }),
	}})
	if body := get(t, s, "/metrics").Body.String(); body != "metrics here" {
		t.Errorf("/metrics: %q", body)
	}
	if rec := get(t, s, "/games/1"); rec.Code != http.StatusOK {
		t.Errorf("/games/1 beside a mount: %d", rec.Code)
	}
}

// TestUnavailableRedis: every page and API answers 503 with a plain
// message when Redis cannot be reached, whether it refuses connections
// or the client was closed.
func TestUnavailableRedis(t *testing.T) {
	// Not production's client: without its retries (3, with back-off) each
	// of the 12 answers comes 1.5 s sooner; what is checked here is the
	// answer, not the client's patience (TestEventsWhenRedisIsDown uses
	// production's client).
	refused := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 500 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = refused.Close() })
	closed := redistest.Client(t)
	closed = redis.NewClient(closed.Options())
	_ = closed.Close()
	for name, rdb := range map[string]*redis.Client{"refused": refused, "closed client": closed} {
		t.Run(name, func(t *testing.T) {
			s := web.New(redisproj.NewReader(rdb, "test:web:none:"), web.Options{})
			for _, path := range []string{"/", "/games/1", "/games/1/timer.png", "/lowest", "/recent", "/players/501"} {
				rec := get(t, s, path)
				if rec.Code != http.StatusServiceUnavailable {
					t.Errorf("%s: status %d, want 503", path, rec.Code)
					continue
				}
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("%s: Content-Type %q", path, ct)
				}
				if !strings.Contains(rec.Body.String(), "unavailable") || rec.Header().Get("Retry-After") == "" {
					t.Errorf("%s: %q, Retry-After %q", path, rec.Body, rec.Header().Get("Retry-After"))
				}
			}
			for _, path := range []string{"/api/games", "/api/games/1", "/api/lowest", "/api/recent", "/api/players/501"} {
				rec := get(t, s, path)
				var body struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusServiceUnavailable || body.Error == "" {
					t.Errorf("%s: status %d, body %q (%v)", path, rec.Code, rec.Body, err)
				}
			}
		})
	}
}

// --- the live stream ---

type sseEvent struct {
	name, data string
}

// stream opens /events and delivers its events (and comments, as event
// ":") until the test ends. It retries a 503 for 10 s: Run may not have
// started yet.
func stream(t *testing.T, url string) <-chan sseEvent {
	t.Helper()
	resp, cancel := openStream(t, url)
	out := make(chan sseEvent, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		readEvents(resp.Body, out)
	}()
	t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
		<-done
	})
	return out
}

func openStream(t *testing.T, url string) (*http.Response, context.CancelFunc) {
	t.Helper()
	var (
		resp   *http.Response
		cancel context.CancelFunc
		status string
	)
	// 503 until Run has started; anything else ends the wait.
	testwait.For(t, 10*time.Second, func() bool {
		ctx, c := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events", nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			c()
			t.Fatal(err)
		}
		if r.StatusCode == http.StatusOK && r.Header.Get("Content-Type") == "text/event-stream" {
			resp, cancel = r, c
			return true
		}
		_ = r.Body.Close()
		c()
		status = fmt.Sprintf("%s %q", r.Status, r.Header.Get("Content-Type"))
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/events: %s", status)
		}
		return false
	}, func() string { return "/events: " + status })
	return resp, cancel
}

func readEvents(r io.Reader, out chan<- sseEvent) {
	buf := make([]byte, 0, 64<<10)
	var ev sseEvent
	tmp := make([]byte, 32<<10)
	for {
		n, err := r.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			line := string(buf[:i])
			buf = buf[i+1:]
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				out <- sseEvent{name: ":", data: line}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			}
		}
		if err != nil {
			return
		}
	}
}

// next returns the next event named name within d.
func next(t *testing.T, events <-chan sseEvent, name string, d time.Duration) sseEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", name)
			}
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within %s", name, d)
		}
	}
}

func runServer(t *testing.T, s *web.Server) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		srv.Close()
	})
	return srv
}

// The stream tests poll every 50 ms instead of production's 150 ms, so
// that frames come sooner; what they check does not depend on the
// interval, except TestOnePollerForAllStreams, which measures in it.
func TestEventsPushesEachClick(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now, Poll: 50 * time.Millisecond})
	srv := runServer(t, s)
	evs := stream(t, srv.URL)

	var live web.Live
	first := next(t, evs, "games", 2*time.Second)
	if err := json.Unmarshal([]byte(first.data), &live); err != nil {
		t.Fatal(err)
	}
	if len(live.Games) != 1 || live.Games[0].Clicks != 4 {
		t.Fatalf("first snapshot: %+v", live)
	}
	for i, user := range []string{carol, bob, "505"} {
		clock.Advance(time.Second)
		w.press(1, guild1, user, "P"+user)
		w.project()
		start := time.Now()
		ev := next(t, evs, "games", time.Second)
		if err := json.Unmarshal([]byte(ev.data), &live); err != nil {
			t.Fatal(err)
		}
		if got, want := live.Games[0].Clicks, int64(5+i); got != want {
			t.Fatalf("after press %d: clicks %d, want %d", i+1, got, want)
		}
		if live.Games[0].Last.User != user {
			t.Errorf("last clicker %s, want %s", live.Games[0].Last.User, user)
		}
		t.Logf("press %d pushed in %s", i+1, time.Since(start))
	}
}

func TestEventsHeartbeatAndClock(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now, Poll: 50 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
	srv := runServer(t, s)
	evs := stream(t, srv.URL)
	if ev := next(t, evs, "clock", 2*time.Second); ev.data != strconv.FormatInt(clock.Now().UnixMilli(), 10) {
		t.Errorf("clock %q, want the server's %d", ev.data, clock.Now().UnixMilli())
	}
	next(t, evs, "status", time.Second)
	next(t, evs, "games", time.Second)
	next(t, evs, ":", time.Second)
}

// countingReader counts the position reads of the poller.
type countingReader struct {
	readmodel.Reader
	positions chan struct{}
}

func (r *countingReader) Position(ctx context.Context) (uint64, error) {
	select {
	case r.positions <- struct{}{}:
	default:
	}
	return r.Reader.Position(ctx)
}

// TestOnePollerForAllStreams: the position is read per poll interval,
// not per open page.
func TestOnePollerForAllStreams(t *testing.T) {
	w, clock := story(t)
	reader := &countingReader{Reader: w.reader, positions: make(chan struct{}, 10000)}
	const poll = 50 * time.Millisecond
	s := web.New(reader, web.Options{Now: clock.Now, Poll: poll})
	srv := runServer(t, s)
	for range 8 {
		next(t, stream(t, srv.URL), "games", 2*time.Second)
	}
	for len(reader.positions) > 0 {
		<-reader.positions
	}
	// One poller reads at most once per tick of its ticker (a tick missed
	// while it was busy is not made up twice), so 20 reads span at least
	// 17 poll intervals however loaded the machine is (one read may have
	// been under way when the count began); a poller per open page would
	// make them in 3.
	const reads = 20
	began := time.Now()
	testwait.For(t, 20*time.Second, func() bool { return len(reader.positions) >= reads }, func() string {
		return fmt.Sprintf("%d position reads: the poller is not polling", len(reader.positions))
	})
	if took, least := time.Since(began), (reads-3)*poll; took < least {
		t.Errorf("%d position reads in %s with 8 pages open, want at least %s between them (one poller)", reads, took, least)
	}
}

func TestEventsWhenRedisIsDown(t *testing.T) {
	// Production's client (go-redis defaults, as REDIS_URL gives it),
	// retries and all, against a port where nothing listens.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rdb.Close() })
	s := web.New(redisproj.NewReader(rdb, "x:"), web.Options{Poll: 50 * time.Millisecond})
	srv := runServer(t, s)
	ev := next(t, stream(t, srv.URL), "status", 10*time.Second)
	var st struct {
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(ev.data), &st); err != nil || st.OK || st.Message == "" {
		t.Errorf("status %q (%v), want not ok with a message", ev.data, err)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now, Poll: 50 * time.Millisecond})
	if rec := get(t, s, "/events"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/events before Run: %d, want 503", rec.Code)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	srv := httptest.NewServer(s)
	defer srv.Close()
	evs := stream(t, srv.URL)
	next(t, evs, "games", 2*time.Second)
	s.Close()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	timeout := time.After(2 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-evs:
		case <-timeout:
			t.Fatal("stream still open 2s after Close")
		}
	}
	if rec := get(t, s, "/events"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/events after Close: %d, want 503", rec.Code)
	}
}

func TestMaxStreams(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now, Poll: 50 * time.Millisecond, MaxStreams: 1})
	srv := runServer(t, s)
	evs := stream(t, srv.URL)
	next(t, evs, "games", 2*time.Second)
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a second stream with MaxStreams 1: %s, want 503", resp.Status)
	}
}
