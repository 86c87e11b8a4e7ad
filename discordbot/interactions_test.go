package discordbot_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
)

const routeCallback = "POST /interactions/{interaction}/{token}/callback"

// serveInteractions serves the bot's interactions endpoint on a loopback
// server of the test's own, points the fake Discord's interactions at it
// and checks it as the developer portal does. It returns the endpoint's
// URL and the private key Discord signs with.
func (e *env) serveInteractions(opts discordbot.InteractionsOptions) (string, ed25519.PrivateKey) {
	e.t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := e.bot.InteractionsHandler(pub, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	url := e.serveHandler(h)
	e.fake.SetInteractionsEndpoint(url, priv)
	if err := e.fake.VerifyEndpoint(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return url, priv
}

// checkAnsweredOverHTTP fails unless every answer so far went into HTTP
// responses, none as a callback over REST.
func (e *env) checkAnsweredOverHTTP(least int) {
	e.t.Helper()
	if n := len(e.fake.CallsTo(routeCallback)); n != 0 {
		e.t.Errorf("%d callbacks over REST, want every answer in the HTTP response", n)
	}
	if n := len(e.fake.CallsTo(discordtest.RouteHTTPResponse)); n < least {
		e.t.Errorf("%d HTTP responses, want at least %d", n, least)
	}
}

func TestInteractionsOverHTTPWithoutGateway(t *testing.T) {
	e := newEnv(t, envOptions{noBot: true, cfg: discordbot.Config{NoGateway: true}})
	e.startBot(projectorOptions())
	e.serveInteractions(discordbot.InteractionsOptions{})

	game, msg := e.startGame(chatOpt(e.chat)) // a slash command
	a := e.press(e.player, game, msg)
	if a.CallbackType != 4 || a.Deferred || !a.Ephemeral() || !strings.Contains(a.Content, "Purple click") {
		t.Errorf("press answer: type %d deferred %v ephemeral %v %q, want a direct ephemeral Purple click",
			a.CallbackType, a.Deferred, a.Ephemeral(), a.Content)
	}
	if n := e.clickCount(game); n != 1 {
		t.Errorf("%d clicks stored, want 1", n)
	}
	check, err := e.fake.Slash(e.guild, e.button, e.player, "check").Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !check.Ephemeral() || !strings.Contains(check.Text(), "cool") {
		t.Errorf("/check answer = %q", check.Text())
	}
	// The member's roles came with the interaction: the reactor grants
	// the click's colour as over the gateway.
	e.wait(20*time.Second, "the Purple role granted", func() bool {
		return contains(e.fake.MemberRoles(e.guild, e.player), "Purple")
	})
	if n := e.fake.Sessions(); n != 0 {
		t.Errorf("%d gateway sessions, want none", n)
	}
	if n := len(e.fake.Identifies()); n != 0 {
		t.Errorf("%d IDENTIFY, want none", n)
	}
	e.checkAnsweredOverHTTP(3)
}

func TestInteractionsOverHTTPDeferSlowPresses(t *testing.T) {
	e := newEnv(t, envOptions{
		noBot: true,
		cfg:   discordbot.Config{NoGateway: true, PressBudget: 300 * time.Millisecond},
		wrap:  func(h *commands.Handler) discordbot.Commands { return slowCommands{h, time.Second} },
	})
	e.startBot(projectorOptions())
	e.serveInteractions(discordbot.InteractionsOptions{})
	game, msg := e.startGame()
	a := e.press(e.player, game, msg)
	if a.CallbackType != 5 || !a.Deferred || !a.Ephemeral() || !strings.Contains(a.Content, "Purple click") {
		t.Errorf("press answer: type %d deferred %v ephemeral %v %q, want deferred, then the Purple click edited in",
			a.CallbackType, a.Deferred, a.Ephemeral(), a.Content)
	}
	if a.Latency > time.Second {
		t.Errorf("deferral after %v, want within the budget", a.Latency)
	}
	if n := len(e.fake.CallsTo("PATCH /webhooks/{app}/{token}/messages/@original")); n < 1 {
		t.Errorf("%d edits of the original answer, want the answer edited in", n)
	}
	e.checkAnsweredOverHTTP(2)
}

func TestInteractionsAnswerWhileTheGatewayIsDown(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.serveInteractions(discordbot.InteractionsOptions{})
	e.fake.GatewayOutage(true)
	e.wait(10*time.Second, "the gateway session lost", func() bool { return e.fake.Sessions() == 0 })
	if err := e.fake.VerifyEndpoint(e.ctx); err != nil { // PING
		t.Fatal(err)
	}
	game, msg := e.startGame()
	a := e.press(e.player, game, msg)
	if !strings.Contains(a.Content, "Purple click") {
		t.Errorf("press answer %q, want a Purple click", a.Content)
	}
	if n := e.fake.Sessions(); n != 0 {
		t.Errorf("%d gateway sessions during the outage", n)
	}
	e.checkAnsweredOverHTTP(2)
}

// pressBody is a button press as Discord POSTs it.
func (e *env) pressBody(id, user string, game events.GameID, msg string) []byte {
	raw, err := json.Marshal(map[string]any{
		"id": id, "application_id": e.fake.AppID, "type": 3, "token": "tok-" + id, "version": 1,
		"guild_id": e.guild, "channel_id": e.button,
		"member": map[string]any{"user": map[string]any{"id": user, "username": "pat", "discriminator": "0"},
			"roles": []string{}, "permissions": strconv.FormatInt(permPlayer, 10)},
		"data":    map[string]any{"custom_id": discordbot.PressID(game), "component_type": 2},
		"message": map[string]any{"id": msg, "channel_id": e.button, "content": ""},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func TestInteractionsRefuseWhatIsNotSignedAsSent(t *testing.T) {
	e := newEnv(t, envOptions{noBot: true, cfg: discordbot.Config{NoGateway: true}})
	e.startBot(projectorOptions())
	const maxBody = 4 << 10
	url, key := e.serveInteractions(discordbot.InteractionsOptions{MaxBody: maxBody})
	game, msg := e.startGame()
	e.settled(20 * time.Second)
	lastSeq := func() uint64 {
		last, err := e.store.LastSeq(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return last
	}
	before := lastSeq()

	body := e.pressBody(e.fake.NewID(), e.player, game, msg)
	flip := func(s string) string { // one byte changed, still well-formed
		b := []byte(s)
		if b[len(b)-1] == '0' {
			b[len(b)-1] = '1'
		} else {
			b[len(b)-1] = '0'
		}
		return string(b)
	}
	signed := func(at time.Time, b []byte) http.Header { return discordtest.SignInteraction(key, at, b) }
	big := append(bytes.Clone(body[:len(body)-1]), []byte(`,"pad":"`+strings.Repeat("x", maxBody)+`"}`)...)
	tests := []struct {
		name   string
		method string
		header http.Header
		body   []byte
		want   int
	}{
		{"signature altered", "POST", func() http.Header {
			h := signed(time.Now(), body)
			h.Set("X-Signature-Ed25519", flip(h.Get("X-Signature-Ed25519")))
			return h
		}(), body, 401},
		{"timestamp altered", "POST", func() http.Header {
			h := signed(time.Now(), body)
			h.Set("X-Signature-Timestamp", flip(h.Get("X-Signature-Timestamp")))
			return h
		}(), body, 401},
		{"body altered", "POST", signed(time.Now(), body), bytes.Replace(body, []byte(`"type":3`), []byte(`"type":2`), 1), 401},
		{"body altered by one byte at the end", "POST", signed(time.Now(), body), append(bytes.Clone(body), ' '), 401},
		{"no signature", "POST", func() http.Header {
			h := signed(time.Now(), body)
			h.Del("X-Signature-Ed25519")
			return h
		}(), body, 401},
		{"signature not hex", "POST", func() http.Header {
			h := signed(time.Now(), body)
			h.Set("X-Signature-Ed25519", "zz"+h.Get("X-Signature-Ed25519")[2:])
			return h
		}(), body, 401},
		{"no timestamp", "POST", func() http.Header {
			h := signed(time.Now(), body)
			h.Del("X-Signature-Timestamp")
			return h
		}(), body, 401},
		{"signed 6 minutes ago", "POST", signed(time.Now().Add(-6*time.Minute), body), body, 401},
		{"signed 6 minutes ahead", "POST", signed(time.Now().Add(6*time.Minute), body), body, 401},
		{"body over the limit, correctly signed", "POST", signed(time.Now(), big), big, 401},
		{"not a POST", "GET", signed(time.Now(), nil), nil, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := e.do(url, tc.method, tc.header, tc.body)
			if status != tc.want {
				t.Errorf("status %d (%s), want %d", status, resp, tc.want)
			}
		})
	}
	if after := lastSeq(); after != before {
		t.Errorf("stream went from sequence %d to %d: a refused request changed something", before, after)
	}
	if n := e.clickCount(game); n != 0 {
		t.Errorf("%d clicks, want none", n)
	}

	// The same press as sent: counted, answered in the response.
	status, resp := e.do(url, "POST", signed(time.Now(), body), body)
	var answer struct {
		Type int
		Data struct {
			Content string
			Flags   int
		}
	}
	if err := json.Unmarshal(resp, &answer); status != 200 || err != nil {
		t.Fatalf("press as signed: status %d %s", status, resp)
	}
	if answer.Type != 4 || !strings.Contains(answer.Data.Content, "Purple click") || answer.Data.Flags&64 == 0 {
		t.Errorf("answer %+v, want an ephemeral Purple click", answer)
	}
	if n := e.clickCount(game); n != 1 {
		t.Errorf("%d clicks, want 1", n)
	}
}

// do sends one request to the endpoint.
func (e *env) do(url, method string, h http.Header, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, method, url, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestParsePublicKey(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	good := hex.EncodeToString(pub)
	if k, err := discordbot.ParsePublicKey(good); err != nil || !bytes.Equal(k, pub) {
		t.Errorf("ParsePublicKey(good) = %x, %v", k, err)
	}
	for _, bad := range []string{"", good[:62], good + "00", "zz" + good[2:]} {
		if _, err := discordbot.ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}

// BenchmarkInteractionsEndpoint times one request through the endpoint's
// handler, without the network: "ping" is the endpoint's own work
// (signature check, decoding, the PONG written), "press" a signed press
// decided and appended to the embedded JetStream and answered.
func BenchmarkInteractionsEndpoint(b *testing.B) {
	e := newEnv(b, envOptions{noBot: true, cfg: discordbot.Config{NoGateway: true}})
	e.startBot(projectorOptions())
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	h, err := e.bot.InteractionsHandler(pub, discordbot.InteractionsOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e.fake.SetInteractionsEndpoint(e.serveHandler(h), priv)
	game, msg := e.startGame()
	// Signing is Discord's work: outside the timer.
	serve := func(b *testing.B, body []byte, header http.Header) {
		req := httptest.NewRequest(http.MethodPost, "/interactions", bytes.NewReader(body))
		req.Header = header
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.Run("ping", func(b *testing.B) {
		ping := []byte(`{"id":"1","application_id":"` + e.fake.AppID + `","type":1,"token":"t","version":1}`)
		header := discordtest.SignInteraction(priv, time.Now(), ping)
		b.ReportAllocs()
		for b.Loop() {
			serve(b, ping, header)
		}
	})
	b.Run("press", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			b.StopTimer()
			n++
			body := e.pressBody(e.fake.NewID(), strconv.Itoa(700000000000000000+n), game, msg)
			header := discordtest.SignInteraction(priv, time.Now(), body)
			b.StartTimer()
			serve(b, body, header)
		}
	})
}

// serveHandler serves h on a loopback server of the test's own and
// returns its URL.
func (e *env) serveHandler(h http.Handler) string {
	srv := httptest.NewServer(h)
	e.t.Cleanup(srv.Close)
	return srv.URL
}
