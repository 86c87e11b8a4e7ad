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
)

// readCountingStore counts the whole reads of game subjects (Load from the
// start) and can make the background read fail.
type readCountingStore struct {
	*natsstore.Store
	whole    atomic.Int64
	scanFail bool
}

func (s *readCountingStore) Load(ctx context.Context, subject string, after uint64) ([]events.Recorded, error) {
	if _, game := events.ParseGameSubject(subject); game && after == 0 {
		s.whole.Add(1)
	}
	return s.Store.Load(ctx, subject, after)
}

func (s *readCountingStore) Scan(ctx context.Context, filter string, from uint64, fn func(events.Recorded) bool) error {
	if s.scanFail {
		return errors.New("scan refused by the test")
	}
	return s.Store.Scan(ctx, filter, from, fn)
}

// reopenCounting opens a handler as reopen does, on a counting store.
func reopenCounting(t *testing.T, store *natsstore.Store, clock commands.Clock, scanFail bool) (*commands.Handler, *readCountingStore) {
	t.Helper()
	cs := &readCountingStore{Store: storeAt(t, store.JetStream().Conn().ConnectedUrl()), scanFail: scanFail}
	h := commands.NewHandler(cs, clock, nil)
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, cs
}

func waitWarmed(t *testing.T, h *commands.Handler) {
	t.Helper()
	select {
	case <-h.Warmed():
	case <-time.After(30 * time.Second):
		t.Fatal("the background read did not end")
	}
}

// warmGames starts n games with cooldown 10 min and N = 2, each clicked
// by 40, 41 and 42 a minute apart (interactions g<id>-<user>), and leaves
// the clock at t0 + 3 min.
func warmGames(t *testing.T, h *commands.Handler, clock *commandstest.Clock, n int) []events.GameID {
	t.Helper()
	ids := make([]events.GameID, n)
	for i := range ids {
		ids[i] = start(t, h, commands.StartGame{Channel: fmt.Sprint(500 + i), Duration: time.Hour,
			Cooldown: 10 * time.Minute, Sequential: 2}).Game
	}
	for _, user := range []string{"40", "41", "42"} {
		clock.Advance(time.Minute)
		for _, id := range ids {
			if _, err := h.Press(context.Background(), commands.Press{Game: id, Guild: "10", User: user,
				Interaction: fmt.Sprintf("g%d-%s", id, user)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

// A restarted handler answers first presses on every game while its
// background read runs and another instance clicks the same games: every
// answer is the one the whole history gives (cooldown to the millisecond,
// the sequential rule, the duplicate check), on both kinds of server, and
// every stored history keeps the rules.
func TestRestartRacingBackgroundRead(t *testing.T) {
	for name, open := range servers() {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			clock := commandstest.NewClock(time.UnixMilli(t0))
			h1 := reopen(t, store, clock)
			ids := warmGames(t, h1, clock, 40)
			clock.Advance(9 * time.Minute) // t0 + 12 min: 42 has 1 min of cooldown left

			h2, _ := reopenCounting(t, store, clock, false)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, 4*len(ids))
			for _, id := range ids {
				press := func(h *commands.Handler, user, inter string) (commands.Click, error) {
					return h.Press(ctx, commands.Press{Game: id, Guild: "10", User: user, Interaction: inter})
				}
				wg.Go(func() {
					_, err := press(h2, "42", fmt.Sprintf("g%d-42b", id))
					if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonCooldown || rej.WaitMS != minute {
						errs <- fmt.Errorf("game %d: 42 again: %v %+v, want cooldown 1 min", id, err, rej)
					}
				})
				wg.Go(func() {
					c, err := press(h2, "40", fmt.Sprintf("g%d-40", id))
					if err != nil || !c.Duplicate || c.Number != 1 {
						errs <- fmt.Errorf("game %d: first interaction again: %+v %v, want click 1, duplicate", id, c, err)
					}
				})
				wg.Go(func() {
					if _, err := press(h2, "40", fmt.Sprintf("g%d-40b", id)); err != nil {
						errs <- fmt.Errorf("game %d: 40 after 41 and 42: %v", id, err)
					}
				})
				wg.Go(func() {
					if _, err := press(h1, "43", fmt.Sprintf("g%d-43", id)); err != nil {
						errs <- fmt.Errorf("game %d: 43 on the other instance: %v", id, err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			waitWarmed(t, h2)
			for _, id := range ids {
				// 42, 40 and 43 clicked after 41's click: 41 may click again.
				c, err := h2.Press(ctx, commands.Press{Game: id, Guild: "10", User: "41", Interaction: fmt.Sprintf("g%d-41b", id)})
				if err != nil || c.Number != 6 {
					t.Errorf("game %d: 41 after three others: %+v %v, want click 6", id, c, err)
				}
				recs := history(t, store, events.GameSubject(id))
				if problems := commands.Audit(recs); len(problems) > 0 {
					t.Errorf("game %d: rules broken: %v", id, problems)
				}
			}
		})
	}
}

// Once the background read has ended, a first use of any game reads no
// game whole: the read handed every game over, with what another
// instance appended meanwhile.
func TestBackgroundReadCompletesEveryGame(t *testing.T) {
	for name, open := range servers() {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			clock := commandstest.NewClock(time.UnixMilli(t0))
			h1 := reopen(t, store, clock)
			ids := warmGames(t, h1, clock, 30)
			clock.Advance(9 * time.Minute)

			h2, cs := reopenCounting(t, store, clock, false)
			ctx := context.Background()
			for _, id := range ids { // the other instance clicks while h2 reads
				if _, err := h1.Press(ctx, commands.Press{Game: id, Guild: "10", User: "43", Interaction: fmt.Sprintf("g%d-43", id)}); err != nil {
					t.Fatal(err)
				}
			}
			waitWarmed(t, h2)
			for _, id := range ids {
				// 43 clicked last (at t0 + 12 min): refused with its full cooldown.
				_, err := h2.Press(ctx, commands.Press{Game: id, Guild: "10", User: "43", Interaction: fmt.Sprintf("g%d-43b", id)})
				if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonCooldown || rej.WaitMS != 10*minute {
					t.Errorf("game %d: 43 again: %v %+v, want cooldown 10 min", id, err, rej)
				}
				// 41 clicked at #2; 42 and 43 since: allowed.
				if c, err := h2.Press(ctx, commands.Press{Game: id, Guild: "10", User: "41", Interaction: fmt.Sprintf("g%d-41b", id)}); err != nil || c.Number != 5 {
					t.Errorf("game %d: 41: %+v %v, want click 5", id, c, err)
				}
			}
			if n := cs.whole.Load(); n != 0 {
				t.Errorf("%d games read whole after the background read, want 0", n)
			}
		})
	}
}

// When the background read cannot read the stream, every game is read
// whole on its first use, as before: the rules hold and Warmed closes.
func TestBackgroundReadFailsFallsBack(t *testing.T) {
	e := newEnv(t)
	clock := commandstest.NewClock(time.UnixMilli(t0))
	h1 := reopen(t, e.store, clock)
	ids := warmGames(t, h1, clock, 5)
	clock.Advance(9 * time.Minute)
	h2, cs := reopenCounting(t, e.store, clock, true)
	waitWarmed(t, h2)
	for _, id := range ids {
		_, err := h2.Press(context.Background(), commands.Press{Game: id, Guild: "10", User: "42", Interaction: "x"})
		if rej, ok := commands.AsRejection(err); !ok || rej.Reason != commands.ReasonCooldown || rej.WaitMS != minute {
			t.Errorf("game %d: 42 again: %v %+v, want cooldown 1 min", id, err, rej)
		}
	}
	if n := cs.whole.Load(); n != int64(len(ids)) {
		t.Errorf("%d games read whole, want %d (each on its first use)", n, len(ids))
	}
}

// A repeated interaction gets the same answer after a restart as before
// it — the whole original click, marked duplicate — whether the restarted
// handler's state of the game came from the background read or from a
// read of the game on its first use: for interaction ids that are numbers
// and ids that are not, a player who changed names, and a click stored by
// another writer with figures the rules here would not compute.
func TestRepeatAfterRestartSameAnswer(t *testing.T) {
	for name, open := range servers() {
		for _, path := range []string{"background read", "read on first use"} {
			t.Run(name+"/"+path, func(t *testing.T) {
				store := open(t)
				clock := commandstest.NewClock(time.UnixMilli(t0))
				ctx := context.Background()
				h1 := reopen(t, store, clock)
				id := start(t, h1, commands.StartGame{Duration: time.Hour, Cooldown: 0}).Game
				subject := events.GameSubject(id)
				presses := []commands.Press{
					{User: "40", UserName: "Ada", Interaction: "1311111111111111111"},
					{User: "41", UserName: "Bob", Interaction: "i-41"},
					{User: "40", UserName: "Ada L.", Interaction: "0123"},
					{User: "42", Interaction: "18446744073709551616"},
				}
				var first []commands.Click
				for _, p := range presses {
					clock.Advance(time.Minute)
					p.Game, p.Guild = id, "10"
					c, err := h1.Press(ctx, p)
					if err != nil || c.Duplicate {
						t.Fatalf("press %+v: %+v %v", p, c, err)
					}
					first = append(first, c)
				}
				// Another writer's click, decided by other arithmetic.
				recs := history(t, store, subject)
				last := recs[len(recs)-1]
				odd := last.Event.(events.ButtonClicked)
				odd.Number, odd.User, odd.UserName, odd.Interaction = 5, "43", "Cy", "1311111111111111112"
				odd.AtMS += 1000
				odd.MMRMilli += 7
				if _, _, err := store.Append(ctx, subject, odd, last.Seq, "press-"+odd.Interaction); err != nil {
					t.Fatal(err)
				}
				presses = append(presses, commands.Press{User: "43", UserName: "Cy", Interaction: odd.Interaction})
				first = append(first, commands.Click{ButtonClicked: odd})
				waitFor(t, "the other writer's click", func() bool {
					g, _, err := h1.Game(ctx, id)
					return err == nil && g.Clicks == 5
				})
				check := func(h *commands.Handler, when string) {
					t.Helper()
					for i, p := range presses {
						p.Game, p.Guild = id, "10"
						got, err := h.Press(ctx, p)
						want := first[i]
						want.Duplicate = true
						if err != nil || got != want {
							t.Errorf("%s: interaction %q again: %+v %v, want %+v", when, p.Interaction, got, err, want)
						}
					}
				}
				check(h1, "before the restart")
				h1.Close()

				h2, cs := reopenCounting(t, store, clock, path == "read on first use")
				waitWarmed(t, h2)
				check(h2, "after the restart")
				wantWhole := int64(0)
				if path == "read on first use" {
					wantWhole = 1
				}
				if n := cs.whole.Load(); n != wantWhole {
					t.Errorf("game read whole %d times, want %d", n, wantWhole)
				}
				if n := len(history(t, store, subject)); n != 6 {
					t.Errorf("%d events, want a start and 5 clicks", n)
				}
			})
		}
	}
}
