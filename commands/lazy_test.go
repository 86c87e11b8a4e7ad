package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/commands/commandstest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
)

// servers are the two kinds of server a handler must open on: the
// embedded one (batched gets) and Debian's 2.9 (none). Each gives a
// function that opens a store on its own connection.
func servers() map[string]func(t *testing.T) *natsstore.Store {
	return map[string]func(t *testing.T) *natsstore.Store{
		"embedded": func(t *testing.T) *natsstore.Store {
			return openStore(t, natstest.Server(t, ""))
		},
		"legacy 2.9": func(t *testing.T) *natsstore.Store {
			return storeAt(t, natstest.LegacyServer(t))
		},
	}
}

// storeAt opens a store on its own connection to url.
func storeAt(t *testing.T, url string) *natsstore.Store {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := natsstore.Open(context.Background(), js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reopen opens a handler on a new connection to store's server, as a
// restarted process does.
func reopen(t *testing.T, store *natsstore.Store, clock commands.Clock) *commands.Handler {
	t.Helper()
	h := commands.NewHandler(storeAt(t, store.JetStream().Conn().ConnectedUrl()), clock, nil)
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func deadlines(h *commands.Handler) map[events.GameID]int64 {
	out := map[events.GameID]int64{}
	for _, g := range h.ActiveGames() {
		out[g.Game] = g.DeadlineMS
	}
	return out
}

// After a restart mid-game a handler knows the game from its last event
// only, and reads it whole on its first press: cooldown, the sequential
// rule and the duplicate check hold exactly as before the restart, on a
// server with batched gets and on one without.
func TestRestartMidGameRulesExact(t *testing.T) {
	for name, open := range servers() {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			clock := commandstest.NewClock(time.UnixMilli(t0))
			ctx := context.Background()
			h1 := reopen(t, store, clock)
			start(t, h1, commands.StartGame{Duration: time.Hour, Cooldown: 10 * time.Minute, Sequential: 2})
			press := func(h *commands.Handler, user, interaction string) (commands.Click, error) {
				return h.Press(ctx, commands.Press{Game: 1, Guild: "10", User: user, Interaction: interaction})
			}
			if _, err := press(h1, "40", "i1"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			if _, err := press(h1, "41", "i2"); err != nil {
				t.Fatal(err)
			}
			h1.Close()

			h2 := reopen(t, store, clock)
			if got, want := deadlines(h2), map[events.GameID]int64{1: t0 + minute + hour}; got[1] != want[1] || len(got) != 1 {
				t.Fatalf("active games after restart %v, want %v", got, want)
			}
			clock.Advance(time.Minute)
			_, err := press(h2, "41", "i3")
			if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonCooldown || rej.WaitMS != 9*minute {
				t.Fatalf("cooldown after restart: %v %+v", err, rej)
			}
			c, err := press(h2, "40", "i1")
			if err != nil || !c.Duplicate || c.Number != 1 || c.User != "40" {
				t.Fatalf("the first interaction again after restart: %+v %v, want its click, duplicate", c, err)
			}
			clock.Advance(9 * time.Minute) // t0 + 11 min: both cooldowns over
			_, err = press(h2, "40", "i4")
			if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonSequential || rej.PlayersNeeded != 1 {
				t.Fatalf("sequential after restart: %v %+v", err, rej)
			}
			if c, err := press(h2, "42", "i5"); err != nil || c.Number != 3 {
				t.Fatalf("third click: %+v %v", c, err)
			}
			if c, err := press(h2, "40", "i6"); err != nil || c.Number != 4 {
				t.Fatalf("40 after two others: %+v %v", c, err)
			}
			h2.Close()

			h3 := reopen(t, store, clock)
			if c, err := press(h3, "40", "i6"); err != nil || !c.Duplicate || c.Number != 4 {
				t.Fatalf("the last interaction again after a second restart: %+v %v", c, err)
			}
			if got := deadlines(h3)[1]; got != t0+11*minute+hour {
				t.Errorf("deadline %d, want %d", got, t0+11*minute+hour)
			}
			recs := history(t, store, events.GameSubject(1))
			if len(recs) != 5 {
				t.Errorf("%d events, want a start and 4 clicks", len(recs))
			}
			if problems := commands.Audit(recs); len(problems) > 0 {
				t.Errorf("rules broken: %v", problems)
			}
		})
	}
}

// Open learns each game's status and deadline from its last event — a
// start, a click, an end — and reads whole only a game whose last event
// does not tell (a message posted after its last click). What other
// instances append afterwards moves what it knows without a read.
func TestOpenFromLastEvents(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	ctx := context.Background()
	h1 := e.handler(t, clock)
	game := func(channel string) events.GameID {
		return start(t, h1, commands.StartGame{Channel: channel, Duration: time.Hour, Cooldown: 0}).Game
	}
	fresh, clicked, posted, aborted := game("21"), game("22"), game("23"), game("24")
	clock.Advance(time.Minute)
	for i, g := range []events.GameID{clicked, posted} {
		if _, err := h1.Press(ctx, commands.Press{Game: g, Guild: "10", User: "40", Interaction: "c" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	if err := h1.PostMessage(ctx, commands.PostMessage{Game: posted, Channel: "23", MessageID: "500"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h1.Abort(ctx, commands.Abort{Game: aborted, Guild: "10", By: "30"}); err != nil {
		t.Fatal(err)
	}

	h2 := e.handler(t, clock)
	changes := make(chan commands.GameChange, 16)
	h2.OnChange(func(c commands.GameChange) { changes <- c })
	want := map[events.GameID]int64{fresh: t0 + hour, clicked: t0 + minute + hour, posted: t0 + minute + hour}
	got := deadlines(h2)
	if len(got) != len(want) {
		t.Fatalf("active games %v, want %v", got, want)
	}
	for id, d := range want {
		if got[id] != d {
			t.Errorf("game %d: deadline %d, want %d", id, got[id], d)
		}
	}

	// Another instance clicks one game and aborts another.
	clock.Advance(time.Minute)
	if _, err := h1.Press(ctx, commands.Press{Game: fresh, Guild: "10", User: "41", Interaction: "cz"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h1.Abort(ctx, commands.Abort{Game: clicked, Guild: "10", By: "30"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other instance's click and abort", func() bool {
		d := deadlines(h2)
		_, stillActive := d[clicked]
		return d[fresh] == t0+3*minute+hour && !stillActive
	})
	seen := map[events.GameID]commands.GameChange{}
	for len(seen) < 2 {
		c := <-changes
		seen[c.Game] = c
	}
	if c := seen[fresh]; !c.Active || c.DeadlineMS != t0+3*minute+hour {
		t.Errorf("change of game %d: %+v", fresh, c)
	}
	if c := seen[clicked]; c.Active {
		t.Errorf("change of game %d: %+v, want not active", clicked, c)
	}
}
