package web_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/commands/commandstest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// world is the write side on an embedded JetStream and the Redis
// projection of its stream, as the pages read it.
type world struct {
	t      testing.TB
	ctx    context.Context
	clock  commands.Clock
	store  *natsstore.Store
	h      *commands.Handler
	rdb    *redis.Client
	prefix string
	sink   *redisproj.Sink
	reader *redisproj.Reader

	mu      sync.Mutex
	applied uint64
}

// newWorld starts an embedded JetStream server, a command handler on it
// with clock, and a projection on a fresh Redis prefix.
func newWorld(t testing.TB, clock commands.Clock) *world {
	t.Helper()
	rdb := redistest.Client(t)
	ctx := context.Background()
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := commands.NewHandler(store, clock, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	prefix := redistest.Prefix(t, rdb, "web")
	return &world{
		t: t, ctx: ctx, clock: clock, store: store, h: h, rdb: rdb, prefix: prefix,
		sink:   redisproj.New(rdb, redisproj.Options{Prefix: prefix}),
		reader: redisproj.NewReader(rdb, prefix),
	}
}

// project applies what the stream holds beyond what was applied.
func (w *world) project() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	last, err := w.store.LastSeq(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if last == w.applied {
		return
	}
	all, err := projector.ReadAll(w.ctx, w.store.Feed(), last)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.sink.Apply(w.ctx, all[w.applied:]); err != nil {
		w.t.Fatal(err)
	}
	w.applied = last
}

// runProjector runs the real projector loop on the stream until the test
// ends, instead of project.
func (w *world) runProjector() {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := projector.New(natsstore.NewFeed(w.store.JetStream(), natsstore.DefaultStream), w.sink, projector.Options{
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Resync: 100 * time.Millisecond,
		Lease: projector.LeaseOptions{TTL: 2 * time.Second},
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	w.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				w.t.Errorf("projector: %v", err)
			}
		case <-time.After(15 * time.Second):
			w.t.Errorf("projector still running 15s after its context ended")
		}
	})
}

// waitApplied waits until the projection holds every message of the
// stream.
func (w *world) waitApplied(within time.Duration) {
	w.t.Helper()
	last, err := w.store.LastSeq(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	var pos uint64
	testwait.For(w.t, within, func() bool {
		var err error
		pos, err = w.reader.Position(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		return pos >= last
	}, func() string { return fmt.Sprintf("projection at %d, stream at %d", pos, last) })
}

func (w *world) start(guild, channel string, d, cooldown time.Duration) events.GameID {
	w.t.Helper()
	return w.startAt(guild, channel, d, cooldown, time.Time{})
}

// startAt starts a game at a given time (zero: the handler's clock).
func (w *world) startAt(guild, channel string, d, cooldown time.Duration, at time.Time) events.GameID {
	w.t.Helper()
	g, err := w.h.StartGame(w.ctx, commands.StartGame{Guild: guild, Channel: channel, By: "42", ByName: "Admin",
		Duration: d, Cooldown: cooldown, At: at})
	if err != nil {
		w.t.Fatal(err)
	}
	return g.Game
}

var interactions struct {
	sync.Mutex
	n int
}

func (w *world) press(game events.GameID, guild, user, name string) commands.Click {
	w.t.Helper()
	return w.pressAt(game, guild, user, name, time.Time{})
}

// pressAt presses at a given time (zero: the handler's clock).
func (w *world) pressAt(game events.GameID, guild, user, name string, at time.Time) commands.Click {
	w.t.Helper()
	interactions.Lock()
	interactions.n++
	id := "web-test-" + strconv.Itoa(interactions.n)
	interactions.Unlock()
	c, err := w.h.Press(w.ctx, commands.Press{Game: game, Guild: guild, User: user, UserName: name, Interaction: id, At: at})
	if err != nil {
		w.t.Fatalf("press on game %d by %s: %v", game, user, err)
	}
	return c
}

// The story of the handler tests, on a fake clock.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	evilName = `<script>alert("pwn")</script><img src=x onerror=alert(1)>Bob & "co"`
	alice    = "501"
	bob      = "502"
	carol    = "503"
	dave     = "504"
	guild1   = "111"
	guild2   = "222"
)

// story plays two games: game 1 (1 h clock, guild 111 with an icon) is
// live with four clicks by three players, one of them with a hostile
// name; game 2 (10 min clock) had one click and ended at its deadline.
// It returns the world and the clock, at t0 + 102.5 min.
func story(t testing.TB) (*world, *commandstest.Clock) {
	t.Helper()
	clock := commandstest.NewClock(t0)
	w := newWorld(t, clock)
	g1 := w.start(guild1, "9001", time.Hour, 0)
	g2 := w.start(guild2, "9002", 10*time.Minute, 0)
	if g1 != 1 || g2 != 2 {
		t.Fatalf("games %d and %d, want 1 and 2", g1, g2)
	}
	if err := w.h.SetIcon(w.ctx, commands.SetIcon{Guild: guild1, Icon: "🦉", By: "42"}); err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(3 * time.Minute))
	w.press(2, guild2, dave, "Dave") // 7 min left of 10: Blue
	clock.Set(t0.Add(6 * time.Minute))
	w.press(1, guild1, alice, "Alice") // 54 min left: Purple
	clock.Set(t0.Add(46 * time.Minute))
	w.press(1, guild1, bob, evilName) // 20 min left: Yellow
	clock.Set(t0.Add(101 * time.Minute))
	w.press(1, guild1, carol, "Carol") // 5 min left: Red
	clock.Set(t0.Add(102 * time.Minute))
	w.press(1, guild1, alice, "Alice") // 59 min left: Purple
	clock.Set(t0.Add(102*time.Minute + 30*time.Second))
	if over, _, err := w.h.Expire(w.ctx, 2); err != nil || !over {
		t.Fatalf("expire game 2: over %v, %v", over, err)
	}
	w.project()
	return w, clock
}
