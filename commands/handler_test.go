package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/commands/commandstest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/internal/testwait"
)

// env is one embedded JetStream server with a store on it.
type env struct {
	srv   *embedded.Server
	store *natsstore.Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := natstest.Server(t, "")
	return &env{srv: srv, store: openStore(t, srv)}
}

func openStore(t testing.TB, srv *embedded.Server) *natsstore.Store {
	t.Helper()
	_, js := natstest.Connect(t, srv)
	store, err := natsstore.Open(context.Background(), js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// handler opens a handler on its own connection (an independent instance)
// and closes it when the test ends.
func (e *env) handler(t testing.TB, clock commands.Clock) *commands.Handler {
	t.Helper()
	return handlerOn(t, openStore(t, e.srv), clock)
}

// gatedHandler opens a handler whose appends pass through a gateStore.
func (e *env) gatedHandler(t testing.TB, clock commands.Clock) (*gateStore, *commands.Handler) {
	t.Helper()
	gate := &gateStore{Store: openStore(t, e.srv)}
	return gate, handlerOn(t, gate, clock)
}

// handlerOn opens a handler on store until the test ends.
func handlerOn(t testing.TB, store commands.Store, clock commands.Clock) *commands.Handler {
	t.Helper()
	h := commands.NewHandler(store, clock, nil)
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// timekeeper runs a timekeeper until the test ends.
func timekeeper(t *testing.T, h *commands.Handler, clock commands.Clock) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tk := commands.NewTimekeeper(h, clock, nil)
	done := make(chan struct{})
	go func() { _ = tk.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// history returns every decodable event of a subject, in order.
func history(t *testing.T, store *natsstore.Store, subject string) []events.Recorded {
	t.Helper()
	recs, err := store.Load(context.Background(), subject, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Err != nil {
			t.Fatalf("undecodable message at %d: %v", r.Seq, r.Err)
		}
	}
	return recs
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 10*time.Second, cond, testwait.Say("timed out waiting for "+what))
}

func start(t *testing.T, h *commands.Handler, s commands.StartGame) events.GameStarted {
	t.Helper()
	if s.Guild == "" {
		s.Guild = "10"
	}
	if s.Channel == "" {
		s.Channel = "20"
	}
	if s.By == "" {
		s.By = "30"
	}
	g, err := h.StartGame(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func endOf(recs []events.Recorded) (events.GameEnded, bool) {
	for _, r := range recs {
		if e, ok := r.Event.(events.GameEnded); ok {
			return e, true
		}
	}
	return events.GameEnded{}, false
}

func TestStartPressAndStream(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	h := e.handler(t, clock)
	g := start(t, h, commands.StartGame{Duration: time.Hour, Cooldown: 0, ByName: "Ada"})
	if g.Game != 1 || g.ChatChannel != "20" || g.DurationMS != hour || g.AtMS != t0 {
		t.Fatalf("started %+v", g)
	}
	clock.Advance(10 * time.Minute)
	c, err := h.Press(context.Background(), commands.Press{Game: 1, Guild: "10", User: "40", UserName: "Bob", Interaction: "i1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Number != 1 || c.ValueMS != 50*minute || c.Band != int(events.Purple) || c.Duplicate {
		t.Fatalf("click %+v", c)
	}
	recs := history(t, e.store, events.GameSubject(1))
	if len(recs) != 2 {
		t.Fatalf("%d events on the game subject, want 2", len(recs))
	}
	if got, ok := recs[1].Event.(events.ButtonClicked); !ok || got != c.ButtonClicked {
		t.Errorf("stored %+v, answered %+v", recs[1].Event, c.ButtonClicked)
	}
	// The same interaction again is the same click, nothing new stored.
	again, err := h.Press(context.Background(), commands.Press{Game: 1, Guild: "10", User: "40", Interaction: "i1"})
	if err != nil || !again.Duplicate || again.Number != 1 {
		t.Fatalf("second delivery: %+v, %v", again, err)
	}
	if n := len(history(t, e.store, events.GameSubject(1))); n != 2 {
		t.Errorf("%d events after a duplicate delivery, want 2", n)
	}
}

func TestRefusalsCarryTheirNumbers(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	h := e.handler(t, clock)
	start(t, h, commands.StartGame{Duration: time.Hour, Cooldown: 10 * time.Minute, Sequential: 1})
	ctx := context.Background()
	p := commands.Press{Game: 1, Guild: "10", User: "40", Interaction: "a"}
	if _, err := h.Press(ctx, p); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	p.Interaction = "b"
	_, err := h.Press(ctx, p)
	rej, ok := commands.AsRejection(err)
	if !ok || rej.Reason != commands.ReasonCooldown || rej.WaitMS != 9*minute || rej.ReadyAtMS != t0+10*minute {
		t.Fatalf("cooldown refusal: %v %+v", err, rej)
	}
	clock.Advance(9 * time.Minute)
	p.Interaction = "c"
	_, err = h.Press(ctx, p)
	if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonSequential || rej.PlayersNeeded != 1 {
		t.Fatalf("sequential refusal: %v", err)
	}
	for _, tc := range []struct {
		p    commands.Press
		want commands.Reason
	}{
		{commands.Press{Game: 99, Guild: "10", User: "40", Interaction: "d"}, commands.ReasonNoSuchGame},
		{commands.Press{Game: 1, Guild: "11", User: "40", Interaction: "e"}, commands.ReasonWrongGuild},
		{commands.Press{Game: 1, Guild: "10", User: "not-an-id", Interaction: "f"}, commands.ReasonInvalid},
	} {
		_, err := h.Press(ctx, tc.p)
		if rej, ok := commands.AsRejection(err); !ok || rej.Reason != tc.want {
			t.Errorf("press %+v: %v, want %s", tc.p, err, tc.want)
		}
	}
	// Ban, refused; unban, accepted.
	if err := h.Ban(ctx, commands.Ban{Guild: "10", User: "41", By: "30", Reason: "spam"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.Press(ctx, commands.Press{Game: 1, Guild: "10", User: "41", Interaction: "g"})
	if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonBanned {
		t.Fatalf("banned press: %v", err)
	}
	if err := h.Unban(ctx, commands.Unban{Guild: "10", User: "41", By: "30"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Press(ctx, commands.Press{Game: 1, Guild: "10", User: "41", Interaction: "h"}); err != nil {
		t.Fatalf("press after unban: %v", err)
	}
	err = h.Unban(ctx, commands.Unban{Guild: "10", User: "41", By: "30"})
	if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonNotBanned {
		t.Errorf("unban of a player not banned: %v", err)
	}
	// Nothing refused left a trace: start + 2 clicks.
	if n := len(history(t, e.store, events.GameSubject(1))); n != 3 {
		t.Errorf("%d events, want 3", n)
	}
}

// A ban made by one instance is seen by another (through its watch).
func TestBanSeenByAnotherInstance(t *testing.T) {
	e := newEnv(t)
	h1, h2 := e.handler(t, nil), e.handler(t, nil)
	start(t, h1, commands.StartGame{Duration: time.Hour, Cooldown: 0})
	ctx := context.Background()
	if _, err := h2.Press(ctx, commands.Press{Game: 1, Guild: "10", User: "41", Interaction: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := h1.Ban(ctx, commands.Ban{Guild: "10", User: "41", By: "30"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ban to reach the other instance", func() bool {
		_, err := h2.Press(ctx, commands.Press{Game: 1, Guild: "10", User: "41", Interaction: fmt.Sprint("p", time.Now().UnixNano())})
		rej, ok := commands.AsRejection(err)
		return ok && rej.Reason == commands.ReasonBanned
	})
}

// LastSeq is the game's latest sequence after each press of the instance
// that made it, and never goes back while presses run, on that instance
// and on another that learns them through its watch.
func TestLastSeqFollowsPresses(t *testing.T) {
	e := newEnv(t)
	h1, h2 := e.handler(t, nil), e.handler(t, nil)
	start(t, h1, commands.StartGame{Duration: time.Hour, Cooldown: 0})
	ctx := context.Background()
	subject := events.GameSubject(1)

	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, h := range []*commands.Handler{h1, h2} {
		wg.Go(func() {
			var prev uint64
			for {
				select {
				case <-done:
					return
				default:
				}
				seq, ok, err := h.LastSeq(ctx, 1)
				if err != nil || !ok || seq < prev {
					t.Errorf("last sequence %d, exists %v, %v; read %d before", seq, ok, err, prev)
					return
				}
				prev = seq
			}
		})
	}
	for i := range 30 {
		if _, err := h1.Press(ctx, commands.Press{Game: 1, Guild: "10", User: fmt.Sprint(40 + i), Interaction: fmt.Sprint("p", i)}); err != nil {
			t.Fatal(err)
		}
		last, err := e.store.Last(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		if seq, ok, err := h1.LastSeq(ctx, 1); err != nil || !ok || seq != last.Seq {
			t.Fatalf("after press %d: last sequence %d, exists %v, %v; want %d", i, seq, ok, err, last.Seq)
		}
	}
	close(done)
	wg.Wait()
	last, err := e.store.Last(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other instance to reach the last press", func() bool {
		seq, ok, err := h2.LastSeq(ctx, 1)
		return err == nil && ok && seq == last.Seq
	})
}

// lossyStore stores an append and then loses its ack, once: the first
// stored append after skip others were stored.
type lossyStore struct {
	*natsstore.Store
	lose atomic.Bool
	skip atomic.Int32
}

func (s *lossyStore) Append(ctx context.Context, subject string, e events.Event, expect uint64, msgID string) (uint64, bool, error) {
	seq, dup, err := s.Store.Append(ctx, subject, e, expect, msgID)
	if err == nil && s.lose.Load() && s.skip.Add(-1) < 0 && s.lose.CompareAndSwap(true, false) {
		return 0, false, errors.New("nats: timeout (ack lost)")
	}
	return seq, dup, err
}

// A game start whose append's ack is lost (the channel's claim, or the
// game's opening event) is repeated until its outcome is known and
// reported started, once: never failed, never "channel busy" with its own
// game.
func TestStartWithLostAckStartsOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		skip int32
	}{{"claim", 0}, {"opening event", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			lossy := &lossyStore{Store: openStore(t, e.srv)}
			h := commands.NewHandler(lossy, nil, nil)
			if err := h.Open(ctx); err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			lossy.skip.Store(tc.skip)
			lossy.lose.Store(true)
			g, err := h.StartGame(ctx, commands.StartGame{Guild: "10", Channel: "20", By: "30", Duration: time.Hour})
			if err != nil {
				t.Fatalf("start with a lost ack: %v; want started", err)
			}
			if lossy.lose.Load() {
				t.Fatal("no ack was lost: the test proves nothing")
			}
			if g.Game != 1 || g.ButtonChannel != "20" {
				t.Fatalf("started %+v, want game 1 in channel 20", g)
			}
			if n := len(history(t, e.store, events.ChannelSubject("20"))); n != 1 {
				t.Errorf("%d claims of the channel stored, want 1", n)
			}
			recs := history(t, e.store, events.GameSubject(1))
			if len(recs) != 1 || recs[0].Event != events.Event(g) {
				t.Errorf("game subject holds %d events (%+v), want its one opening event", len(recs), recs)
			}
			if _, err := h.StartGame(ctx, commands.StartGame{Guild: "10", Channel: "20", By: "30"}); err == nil {
				t.Error("a second start in the channel was not refused")
			} else if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonChannelBusy || rej.ActiveGame != 1 {
				t.Errorf("second start: %v, want channel busy with game 1", err)
			}
		})
	}
}

// Retrying an append whose ack was lost never counts the press twice, on
// the embedded server this module pins.
func TestLostAckRetryCountsOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	setup := e.handler(t, nil)
	start(t, setup, commands.StartGame{Duration: time.Hour, Cooldown: 0})

	// At the store: the same message id twice, same expectation.
	subject := events.GameSubject(1)
	last, err := e.store.Last(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	click := events.ButtonClicked{Game: 1, Guild: "10", Number: 1, User: "40", Interaction: "x1",
		AtMS: last.Event.(events.GameStarted).AtMS + 1, ValueMS: hour - 1, Band: 5, ClaimedMS: 1, MMRMilli: 1}
	seq1, dup1, err := e.store.Append(ctx, subject, click, last.Seq, "press-x1")
	if err != nil || dup1 {
		t.Fatalf("first append: %d %v %v", seq1, dup1, err)
	}
	// The retry carries the same expectation: on the pinned server the
	// expected-sequence check refuses it before de-duplication would.
	if _, _, err := e.store.Append(ctx, subject, click, last.Seq, "press-x1"); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("retried append with the stale expectation: %v, want a conflict", err)
	}
	// A retry that caught up (new expectation, same id) is a duplicate.
	seq2, dup2, err := e.store.Append(ctx, subject, click, seq1, "press-x1")
	if err != nil || !dup2 || seq2 != seq1 {
		t.Fatalf("retried append after catching up: seq %d dup %v err %v; want seq %d, duplicate", seq2, dup2, err, seq1)
	}
	if n := len(history(t, e.store, subject)); n != 2 {
		t.Fatalf("%d events after the retries, want 2 (start, one click)", n)
	}

	// Through the handler: the first attempt's ack is lost. The handler
	// repeats the same append until it knows: the press was stored, so it
	// is reported accepted (issue 10: never a false failure), once.
	lossy := &lossyStore{Store: openStore(t, e.srv)}
	h := commands.NewHandler(lossy, nil, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := commands.Press{Game: 1, Guild: "10", User: "41", Interaction: "x2"}
	lossy.lose.Store(true)
	first, err := h.Press(ctx, p)
	if err != nil || first.Duplicate || first.Number != 2 {
		t.Fatalf("press with a lost ack: %+v %v; want accepted as click 2", first, err)
	}
	if lossy.lose.Load() {
		t.Fatal("the ack was never lost: the test proves nothing")
	}
	c, err := h.Press(ctx, p)
	if err != nil || !c.Duplicate || c.Number != 2 {
		t.Fatalf("retry after the lost ack: %+v %v; want the original click 2", c, err)
	}
	clicks := 0
	for _, r := range history(t, e.store, subject) {
		if _, ok := r.Event.(events.ButtonClicked); ok {
			clicks++
		}
	}
	if clicks != 2 {
		t.Errorf("%d clicks stored, want 2", clicks)
	}
}

func TestConcurrentStartsOneGamePerChannel(t *testing.T) {
	e := newEnv(t)
	hs := []*commands.Handler{e.handler(t, nil), e.handler(t, nil)}
	var wg sync.WaitGroup
	var won, busy atomic.Int32
	started := make(chan events.GameStarted, 100)
	for i := range 20 {
		wg.Go(func() {
			channel := "20"
			if i%2 == 1 {
				channel = fmt.Sprint(100 + i) // a channel of its own
			}
			g, err := hs[i%2].StartGame(context.Background(), commands.StartGame{Guild: "10", Channel: channel, By: "30", Duration: time.Hour})
			if rej, ok := commands.AsRejection(err); ok && rej.Reason == commands.ReasonChannelBusy {
				busy.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			won.Add(1)
			started <- g
		})
	}
	wg.Wait()
	close(started)
	// Ten starts in channel 20: one wins. Ten channels of their own: all win.
	if won.Load() != 11 || busy.Load() != 9 {
		t.Fatalf("%d started, %d refused as busy; want 11 and 9", won.Load(), busy.Load())
	}
	ids := map[events.GameID]bool{}
	in20 := 0
	for g := range started {
		if ids[g.Game] {
			t.Errorf("game number %d given twice", g.Game)
		}
		ids[g.Game] = true
		if g.ButtonChannel == "20" {
			in20++
		}
		if hist := history(t, e.store, events.GameSubject(g.Game)); len(hist) != 1 {
			t.Errorf("game %d has %d events", g.Game, len(hist))
		}
	}
	if in20 != 1 {
		t.Errorf("%d games in channel 20", in20)
	}
	for id := range ids {
		if id < 1 || id > 11 {
			t.Errorf("game number %d: numbers should stay small (1..11)", id)
		}
	}
}

// A press 1 ms before the deadline is accepted; at the deadline it is
// refused; the end event's time is the deadline.
func TestDeadlineExact(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	h := e.handler(t, clock)
	timekeeper(t, h, clock)
	start(t, h, commands.StartGame{Duration: time.Minute, Cooldown: 0})
	ctx := context.Background()

	clock.Set(time.UnixMilli(t0 + minute - 1))
	c, err := h.Press(ctx, commands.Press{Game: 1, Guild: "10", User: "40", Interaction: "a"})
	if err != nil {
		t.Fatalf("1 ms before the deadline: %v", err)
	}
	if c.ValueMS != 1 || c.Band != int(events.Red) {
		t.Fatalf("click %+v, want 1 ms left, Red", c)
	}
	deadline := t0 + minute - 1 + minute
	// At the deadline, even before the end is recorded, the press is refused.
	_, err = h.Press(ctx, commands.Press{Game: 1, Guild: "10", User: "41", Interaction: "b", At: time.UnixMilli(deadline)})
	if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonGameOver || rej.DeadlineMS != deadline {
		t.Fatalf("press at the deadline: %v", err)
	}
	clock.Set(time.UnixMilli(deadline).Add(commands.EndMargin))
	var end events.GameEnded
	waitFor(t, "the end event", func() bool {
		var ok bool
		end, ok = endOf(history(t, e.store, events.GameSubject(1)))
		return ok
	})
	if end.AtMS != deadline || end.Reason != events.EndExpired {
		t.Fatalf("end %+v, want expired at %d", end, deadline)
	}
}

// Stopped with an active game, started again after its deadline: the game
// is ended at its deadline, not at the restart.
func TestRestartEndsAtDeadline(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	ctx := context.Background()

	h1 := commands.NewHandler(openStore(t, e.srv), clock, nil)
	if err := h1.Open(ctx); err != nil {
		t.Fatal(err)
	}
	start(t, h1, commands.StartGame{Duration: time.Hour, Cooldown: 0})
	clock.Advance(10 * time.Minute)
	if _, err := h1.Press(ctx, commands.Press{Game: 1, Guild: "10", User: "40", Interaction: "a"}); err != nil {
		t.Fatal(err)
	}
	h1.Close()

	clock.Advance(5 * time.Hour) // down while the deadline passed
	h2 := e.handler(t, clock)
	timekeeper(t, h2, clock)
	var end events.GameEnded
	waitFor(t, "the end event after restart", func() bool {
		var ok bool
		end, ok = endOf(history(t, e.store, events.GameSubject(1)))
		return ok
	})
	if want := t0 + 10*minute + hour; end.AtMS != want {
		t.Fatalf("ended at %d, want the deadline %d (restart was at %d)", end.AtMS, want, clock.Now().UnixMilli())
	}
}

// Several timekeepers on the same game end it once.
func TestTimekeepersEndOnce(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	hs := []*commands.Handler{e.handler(t, clock), e.handler(t, clock), e.handler(t, clock)}
	for _, h := range hs {
		timekeeper(t, h, clock)
	}
	start(t, hs[0], commands.StartGame{Duration: time.Minute})
	waitFor(t, "every instance to see the game", func() bool {
		for _, h := range hs {
			if len(h.ActiveGames()) != 1 {
				return false
			}
		}
		return true
	})
	clock.Advance(2 * time.Minute)
	waitFor(t, "the end", func() bool {
		_, ok := endOf(history(t, e.store, events.GameSubject(1)))
		return ok
	})
	waitFor(t, "every instance to see the end", func() bool {
		for _, h := range hs {
			if len(h.ActiveGames()) != 0 {
				return false
			}
		}
		return true
	})
	ends := 0
	for _, r := range history(t, e.store, events.GameSubject(1)) {
		if _, ok := r.Event.(events.GameEnded); ok {
			ends++
		}
	}
	if ends != 1 {
		t.Fatalf("%d end events, want 1", ends)
	}
}

func TestAbort(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	h := e.handler(t, clock)
	start(t, h, commands.StartGame{Duration: time.Hour})
	ctx := context.Background()
	_, err := h.Abort(ctx, commands.Abort{Game: 1, Guild: "11", By: "30"})
	if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonWrongGuild {
		t.Fatalf("abort from another guild: %v", err)
	}
	clock.Advance(time.Minute)
	end, err := h.Abort(ctx, commands.Abort{Game: 1, Guild: "10", By: "30", Reason: "test over"})
	if err != nil || end.Reason != events.EndAborted || end.AtMS != t0+minute || end.By != "30" || end.Why != "test over" {
		t.Fatalf("abort: %+v %v", end, err)
	}
	_, err = h.Press(ctx, commands.Press{Game: 1, Guild: "10", User: "40", Interaction: "a"})
	if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonGameOver {
		t.Fatalf("press on an aborted game: %v", err)
	}
	// The channel is free again: the next game is #2.
	if g := start(t, h, commands.StartGame{Duration: time.Hour}); g.Game != 2 {
		t.Fatalf("next game is #%d", g.Game)
	}
}

// An accepted abort says how much time the clock still showed; LastSeq
// is the sequence of the game's latest event.
func TestAbortTimeLeftAndLastSeq(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	h := e.handler(t, clock)
	ctx := context.Background()
	if seq, ok, err := h.LastSeq(ctx, 1); err != nil || ok || seq != 0 {
		t.Fatalf("last sequence of a game that does not exist: %d, %v, %v", seq, ok, err)
	}
	start(t, h, commands.StartGame{Duration: time.Hour})
	if err := h.PostMessage(ctx, commands.PostMessage{Game: 1, Channel: "20", MessageID: "555"}); err != nil {
		t.Fatal(err)
	}
	last, err := e.store.Last(ctx, events.GameSubject(1))
	if err != nil {
		t.Fatal(err)
	}
	if seq, ok, err := h.LastSeq(ctx, 1); err != nil || !ok || seq != last.Seq {
		t.Fatalf("last sequence: %d, %v, %v; want %d", seq, ok, err, last.Seq)
	}
	clock.Advance(time.Minute)
	end, err := h.Abort(ctx, commands.Abort{Game: 1, Guild: "10", By: "30"})
	if err != nil || end.LeftMS != hour-minute || end.AtMS != t0+minute {
		t.Fatalf("abort: %+v %v; want %d ms left", end, err, hour-minute)
	}
}

func TestPostMessageAndIcon(t *testing.T) {
	e := newEnv(t)
	h := e.handler(t, nil)
	start(t, h, commands.StartGame{Duration: time.Hour})
	ctx := context.Background()
	for range 2 {
		if err := h.PostMessage(ctx, commands.PostMessage{Game: 1, Channel: "20", MessageID: "555"}); err != nil {
			t.Fatal(err)
		}
	}
	g, ok, err := h.Game(ctx, 1)
	if err != nil || !ok || g.MessageID != "555" {
		t.Fatalf("game %+v %v %v", g, ok, err)
	}
	if n := len(history(t, e.store, events.GameSubject(1))); n != 2 {
		t.Errorf("%d events: recording the same message twice should store it once", n)
	}
	if err := h.SetIcon(ctx, commands.SetIcon{Guild: "10", Icon: "🐉", By: "30"}); err != nil {
		t.Fatal(err)
	}
	if err := h.SetIcon(ctx, commands.SetIcon{Guild: "10", Icon: "no", By: "30"}); err == nil {
		t.Error("an icon outside the set was accepted")
	}
}

// A malformed message on a game subject (as `nats pub` would send) is
// stepped over: the game goes on.
func TestMalformedMessageOnGameSubject(t *testing.T) {
	e := newEnv(t)
	h := e.handler(t, nil)
	start(t, h, commands.StartGame{Duration: time.Hour, Cooldown: 0})
	nc, _ := natstest.Connect(t, e.srv)
	if err := nc.Publish(events.GameSubject(1), []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the malformed message to be stored", func() bool {
		last, err := e.store.Last(context.Background(), events.GameSubject(1))
		return err == nil && last.Err != nil
	})
	if _, err := h.Press(context.Background(), commands.Press{Game: 1, Guild: "10", User: "40", Interaction: "a"}); err != nil {
		t.Fatalf("press after a malformed message: %v", err)
	}
}
