package discordbot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
)

// slowStore is the embedded JetStream behind a slow disk: every append
// waits delay before it is written (reads are not slowed).
type slowStore struct {
	*natsstore.Store
	delay   atomic.Int64 // nanoseconds
	until   atomic.Int64 // unix nanoseconds: appends wait until then (a stall)
	entered atomic.Int64 // appends that reached the store
}

func (s *slowStore) wait(ctx context.Context) error {
	s.entered.Add(1)
	d := max(time.Duration(s.delay.Load()), time.Until(time.Unix(0, s.until.Load())))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slowStore) Append(ctx context.Context, subject string, e events.Event, expect uint64, msgID string) (uint64, bool, error) {
	if err := s.wait(ctx); err != nil {
		return 0, false, err
	}
	return s.Store.Append(ctx, subject, e, expect, msgID)
}

func (s *slowStore) AppendBatch(ctx context.Context, subject string, evs []events.Event, expect uint64, msgIDs []string) (uint64, error) {
	if err := s.wait(ctx); err != nil {
		return 0, err
	}
	return s.Store.AppendBatch(ctx, subject, evs, expect, msgIDs)
}

// Presses of one game queue behind a slow store: those whose decision
// cannot start within the decision budget are answered "busy" at once
// (ephemeral, not deferred) and leave no trace; the stream holds exactly
// the presses answered accepted.
func TestInteractionsShedPressesQueuedPastTheirBudget(t *testing.T) {
	slow := &slowStore{}
	e := newEnv(t, envOptions{
		noBot: true,
		cfg:   discordbot.Config{NoGateway: true, DecideBudget: 500 * time.Millisecond},
		store: func(s *natsstore.Store) commands.Store { slow.Store = s; return slow },
	})
	e.startBot(projectorOptions())
	e.serveInteractions(discordbot.InteractionsOptions{})
	game, msg := e.startGame()

	// Every append now takes 300 ms: of 12 presses arriving together, the
	// first two start their decision within 500 ms, the others cannot.
	slow.delay.Store(int64(300 * time.Millisecond))
	const n = 12
	presses := make([]*discordtest.Interaction, n)
	for k := range presses {
		user := e.fake.AddMember(e.guild, "", fmt.Sprintf("Presser %d", k), permPlayer)
		presses[k] = e.fake.Press(e.guild, e.button, user, discordbot.PressID(game), msg)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	var accepted, shed []string
	for k, p := range presses {
		a, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("press %d: %v", k, err)
		}
		switch {
		case strings.Contains(a.Content, "click!"):
			accepted = append(accepted, p.ID)
		case strings.Contains(a.Content, "very busy"):
			shed = append(shed, p.ID)
			if a.CallbackType != 4 || a.Deferred || !a.Ephemeral() {
				t.Errorf("press %d shed with callback %d deferred %v ephemeral %v, want a direct ephemeral answer",
					k, a.CallbackType, a.Deferred, a.Ephemeral())
			}
			if a.Latency >= 3*time.Second {
				t.Errorf("press %d told busy after %v, outside Discord's window", k, a.Latency)
			}
		default:
			t.Errorf("press %d answered %q", k, a.Content)
		}
	}
	t.Logf("%d accepted, %d shed", len(accepted), len(shed))
	if len(accepted) == 0 || len(shed) == 0 {
		t.Errorf("%d accepted and %d shed, want some of each (12 appends of 300 ms against a 500 ms budget)", len(accepted), len(shed))
	}
	slow.delay.Store(0)
	recs, err := e.store.Load(e.ctx, events.GameSubject(game), 0)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, r := range recs {
		if c, ok := r.Event.(events.ButtonClicked); ok {
			stored = append(stored, c.Interaction)
		}
	}
	sort.Strings(stored)
	sort.Strings(accepted)
	if diff := cmp.Diff(accepted, stored); diff != "" {
		t.Errorf("clicks stored, against presses answered accepted (-accepted +stored):\n%s", diff)
	}
	if n := len(e.fake.CallsTo(discordtest.RouteHTTPResponse)); n < len(presses) {
		t.Errorf("%d HTTP responses, want one per press", n)
	}
	for _, c := range e.fake.CallsTo(discordtest.RouteHTTPResponse) {
		if c.Status != http.StatusNoContent && c.Status != http.StatusOK {
			t.Errorf("an interaction was answered %d", c.Status)
		}
	}
}

// A handler later than Discord's window allows (its own deferral due only
// after the window closes): the endpoint writes the deferral by itself
// before the window ends, and the answer follows as the edit.
func TestInteractionsEndpointDefersForALateHandler(t *testing.T) {
	e := newEnv(t, envOptions{
		noBot: true,
		cfg:   discordbot.Config{NoGateway: true, PressBudget: 2900 * time.Millisecond},
		wrap:  func(h *commands.Handler) discordbot.Commands { return slowCommands{h, 3500 * time.Millisecond} },
	})
	e.startBot(projectorOptions())
	e.serveInteractions(discordbot.InteractionsOptions{})
	game, msg := e.startGame()
	a := e.press(e.player, game, msg)
	if a.CallbackType != 5 || !a.Deferred || !a.Ephemeral() || !strings.Contains(a.Content, "Purple click") {
		t.Errorf("press answer: type %d deferred %v ephemeral %v %q, want deferred by the endpoint, then the Purple click edited in",
			a.CallbackType, a.Deferred, a.Ephemeral(), a.Content)
	}
	if a.Latency >= 3*time.Second {
		t.Errorf("deferral after %v, outside Discord's window", a.Latency)
	}
	if n := e.clickCount(game); n != 1 {
		t.Errorf("%d clicks stored, want 1", n)
	}
	e.checkAnsweredOverHTTP(2)
}

// A request signed seconds before it arrived (it waited in a queue on the
// way) is as old as its signature says: past its decision budget it is
// answered busy at once and nothing is stored; the same press signed as
// it is sent counts.
func TestInteractionsShedAPressThatWaitedInTransit(t *testing.T) {
	e := newEnv(t, envOptions{noBot: true, cfg: discordbot.Config{NoGateway: true}})
	e.startBot(projectorOptions())
	url, key := e.serveInteractions(discordbot.InteractionsOptions{})
	game, msg := e.startGame()
	post := func(id string, signedAt time.Time) (int, string) {
		body := e.pressBody(id, e.player, game, msg)
		req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = discordtest.SignInteraction(key, signedAt, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var answer struct {
			Type int `json:"type"`
			Data struct {
				Content string `json:"content"`
				Flags   int    `json:"flags"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		if answer.Type != 4 || answer.Data.Flags&int(1<<6) == 0 {
			t.Errorf("press %s answered type %d flags %d, want a direct ephemeral answer", id, answer.Type, answer.Data.Flags)
		}
		return resp.StatusCode, answer.Data.Content
	}
	if status, text := post(e.fake.NewID(), time.Now().Add(-5*time.Second)); status != http.StatusOK || !strings.Contains(text, "very busy") {
		t.Errorf("a press signed 5 s ago: %d %q, want busy", status, text)
	}
	if n := e.clickCount(game); n != 0 {
		t.Errorf("%d clicks stored after the stale press, want 0", n)
	}
	if status, text := post(e.fake.NewID(), time.Now()); status != http.StatusOK || !strings.Contains(text, "click!") {
		t.Errorf("a press signed now: %d %q, want accepted", status, text)
	}
	if n := e.clickCount(game); n != 1 {
		t.Errorf("%d clicks stored, want 1", n)
	}
}

// stalledPress presses a game's button while the store stalls for stall
// (a stream leader being elected: every append waits until then, a retry
// after it goes through): the first press is pressed, its append reached
// the store, then the second is pressed.
func stalledPress(t *testing.T, e *env, slow *slowStore, stall time.Duration) (game events.GameID, msg string, first, second *discordtest.Interaction) {
	t.Helper()
	game, msg = e.startGame()
	before := slow.entered.Load()
	slow.until.Store(time.Now().Add(stall).UnixNano())
	first = e.fake.Press(e.guild, e.button, e.player, discordbot.PressID(game), msg)
	e.wait(5*time.Second, "the first press's append reached the store", func() bool { return slow.entered.Load() > before })
	other := e.fake.AddMember(e.guild, "", "Second Presser", permPlayer)
	second = e.fake.Press(e.guild, e.button, other, discordbot.PressID(game), msg)
	return game, msg, first, second
}

// storedPresses returns the interaction ids of a game's stored clicks.
func storedPresses(t *testing.T, e *env, game events.GameID) []string {
	t.Helper()
	recs, err := e.store.Load(e.ctx, events.GameSubject(game), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		if c, ok := r.Event.(events.ButtonClicked); ok {
			ids = append(ids, c.Interaction)
		}
	}
	sort.Strings(ids)
	return ids
}

// A press queued behind an append stalled for longer than the press
// budget (2.5 s here: a leader election is 4–7 s) is deferred, waits, and
// is decided once the store answers: the player gets the real outcome,
// not "busy" (the default decision budget is 8 s).
func TestPressWaitsOutAStalledAppend(t *testing.T) {
	slow := &slowStore{}
	e := newEnv(t, envOptions{store: func(s *natsstore.Store) commands.Store { slow.Store = s; return slow }})
	game, _, first, second := stalledPress(t, e, slow, 2500*time.Millisecond)
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	var want []string
	for name, p := range map[string]*discordtest.Interaction{"first": first, "second": second} {
		a, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("%s press: %v", name, err)
		}
		if !strings.Contains(a.Content, "click!") || !a.Deferred {
			t.Errorf("%s press answered %q (deferred %v), want deferred, then its click", name, a.Content, a.Deferred)
		}
		want = append(want, p.ID)
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, storedPresses(t, e, game)); diff != "" {
		t.Errorf("stored clicks (-answered +stored):\n%s", diff)
	}
}

// A press whose deferral Discord refused (the user was told the
// interaction failed) stops waiting and is not recorded; the presses
// around it are.
func TestPressNotRecordedWhenItsDeferralFailed(t *testing.T) {
	slow := &slowStore{}
	e := newEnv(t, envOptions{store: func(s *natsstore.Store) commands.Store { slow.Store = s; return slow }})
	game, msg, first, second := stalledPress(t, e, slow, 2500*time.Millisecond)
	// Its deferral is due 1.5 s after it arrived: the failure is in place
	// long before.
	e.fake.Fail(discordtest.Failure{Route: "POST /interactions/{interaction}/{token}/callback",
		Vars: map[string]string{"interaction": second.ID}, Status: http.StatusNotFound, Code: 10062, Message: "Unknown interaction"})
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	a, err := first.Wait(ctx)
	if err != nil || !strings.Contains(a.Content, "click!") {
		t.Fatalf("first press: %q, %v", a.Content, err)
	}
	e.wait(10*time.Second, "the second press's deferral refused", func() bool {
		for _, c := range e.fake.CallsTo("POST /interactions/{interaction}/{token}/callback", "interaction", second.ID) {
			if c.Status == http.StatusNotFound {
				return true
			}
		}
		return false
	})
	// A third press queues behind whatever is still queued: once it is
	// answered, the second was decided or dropped.
	third := e.fake.Press(e.guild, e.button, e.fake.AddMember(e.guild, "", "Third Presser", permPlayer), discordbot.PressID(game), msg)
	if a, err := third.Wait(ctx); err != nil || !strings.Contains(a.Content, "click!") {
		t.Fatalf("third press: %q, %v", a.Content, err)
	}
	want := []string{first.ID, third.ID}
	sort.Strings(want)
	if diff := cmp.Diff(want, storedPresses(t, e, game)); diff != "" {
		t.Errorf("stored clicks (-want +stored): the press whose deferral failed must not count\n%s", diff)
	}
}

// A deferred answer whose edit gets no answer (a broken connection) or a
// 5xx is sent again until it lands: the player is not left at
// "thinking…". (A 4xx is final: TestRetryableEdit.)
func TestDeferredAnswerEditIsSentAgain(t *testing.T) {
	slow := &slowStore{}
	var brokenFor atomic.Value // the token whose first edit loses its connection
	brokenFor.Store("")
	var broken atomic.Int32
	e := newEnv(t, envOptions{
		store: func(s *natsstore.Store) commands.Store { slow.Store = s; return slow },
		transport: func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if tok := brokenFor.Load().(string); r.Method == http.MethodPatch && tok != "" &&
					strings.Contains(r.URL.Path, "/"+tok+"/messages/@original") && broken.Add(1) == 1 {
					return nil, errors.New("connection reset by peer (injected)")
				}
				return next.RoundTrip(r)
			})
		},
	})
	_, _, first, second := stalledPress(t, e, slow, 2500*time.Millisecond)
	const edit = "PATCH /webhooks/{app}/{token}/messages/@original"
	e.fake.Fail(discordtest.Failure{Route: edit, Vars: map[string]string{"token": first.Token}, Times: 2,
		Status: http.StatusBadGateway, Code: 0, Message: "bad gateway (injected)"})
	brokenFor.Store(second.Token)
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	for name, p := range map[string]*discordtest.Interaction{"first (two 502s)": first, "second (a broken connection)": second} {
		a, err := p.Wait(ctx)
		if err != nil || !strings.Contains(a.Content, "click!") || !a.Deferred {
			t.Errorf("%s press: %q (deferred %v), %v; want deferred, then its click", name, a.Content, a.Deferred, err)
		}
	}
	if n := len(e.fake.CallsTo(edit, "token", first.Token)); n != 3 {
		t.Errorf("first press's answer edited %d times, want 3 (two 502s, then the answer)", n)
	}
	if broken.Load() < 2 {
		t.Errorf("second press's edit sent %d times, want the broken one and the one that landed", broken.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
