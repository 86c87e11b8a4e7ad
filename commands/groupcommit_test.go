package commands_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
)

// countingStore counts the writes that went to the store, and can say it
// has no batches (an older server).
type countingStore struct {
	*natsstore.Store
	noBatch bool
	singles atomic.Int64
	batches atomic.Int64
	batched atomic.Int64 // events in batches
}

func (s *countingStore) CanBatch() bool { return !s.noBatch && s.Store.CanBatch() }

func (s *countingStore) Append(ctx context.Context, subject string, e events.Event, expect uint64, msgID string) (uint64, bool, error) {
	s.singles.Add(1)
	return s.Store.Append(ctx, subject, e, expect, msgID)
}

func (s *countingStore) AppendBatch(ctx context.Context, subject string, evs []events.Event, expect uint64, msgIDs []string) (uint64, error) {
	s.batches.Add(1)
	s.batched.Add(int64(len(evs)))
	return s.Store.AppendBatch(ctx, subject, evs, expect, msgIDs)
}

// Presses of one game that queue are stored several to a write, with the
// rules applied in order (cooldowns and the sequential rule across the
// presses of one write); without batches they are stored one at a time.
// Two instances race on the same game either way.
func TestGroupCommit(t *testing.T) {
	for _, noBatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("noBatch=%v", noBatch), func(t *testing.T) {
			e := newEnv(t)
			stores := []*countingStore{{Store: openStore(t, e.srv), noBatch: noBatch}, {Store: openStore(t, e.srv), noBatch: noBatch}}
			var hs []*commands.Handler
			for _, s := range stores {
				h := commands.NewHandler(s, nil, nil)
				if err := h.Open(context.Background()); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(h.Close)
				hs = append(hs, h)
			}
			game := start(t, hs[0], commands.StartGame{Duration: time.Hour, Cooldown: 50 * time.Millisecond, Sequential: 2}).Game
			var mu sync.Mutex
			accepted := map[string]bool{}
			refused := 0
			var wg sync.WaitGroup
			for i := range 200 {
				user := fmt.Sprint(3000 + i%40) // 40 players, five goroutines each
				wg.Go(func() {
					for n := range 15 {
						inter := fmt.Sprintf("g%d-%d", i, n)
						c, err := hs[i%2].Press(context.Background(), commands.Press{Game: game, Guild: "10", User: user, Interaction: inter})
						mu.Lock()
						_, isRej := commands.AsRejection(err)
						switch {
						case err == nil && !c.Duplicate:
							accepted[inter] = true
						case isRej:
							refused++
						default:
							t.Errorf("press %s: %v", inter, err)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			recs := history(t, e.store, events.GameSubject(game))
			for _, p := range commands.Audit(recs) {
				t.Error(p)
			}
			stored := 0
			for _, r := range recs {
				if c, ok := r.Event.(events.ButtonClicked); ok {
					stored++
					if !accepted[c.Interaction] {
						t.Errorf("stored click %s was not answered accepted", c.Interaction)
					}
				}
			}
			if stored != len(accepted) {
				t.Errorf("%d stored, %d accepted", stored, len(accepted))
			}
			var batches, batched, singles int64
			for _, s := range stores {
				batches, batched, singles = batches+s.batches.Load(), batched+s.batched.Load(), singles+s.singles.Load()
			}
			t.Logf("%d accepted, %d refused; %d single writes, %d batches holding %d clicks", len(accepted), refused, singles, batches, batched)
			if refused == 0 || len(accepted) == 0 {
				t.Error("the rules were not exercised")
			}
			if noBatch && batches != 0 {
				t.Errorf("%d batches against a store without them", batches)
			}
			if !noBatch && batches == 0 {
				t.Error("no batch: queued presses were not grouped")
			}
		})
	}
}
