package redisproj

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// TestClusterFailoverDuringProjection projects a stream into a Redis
// Cluster of its own and, halfway, fails over the master that holds the
// cross-game keys and then the one that holds game 1: the projection goes
// on (a batch that fails while the cluster moves is applied again, as the
// projector does), and Verify and the views find it whole.
func TestClusterFailoverDuringProjection(t *testing.T) {
	ctx := context.Background()
	cl := redistest.StartCluster(t)
	c := cl.Client(t)
	prefix := redistest.Prefix(t, c, "redisproj")
	sink, r := New(c, Options{Prefix: prefix}), NewReader(c, prefix)
	s := randomStream(t, 31, 4, 20, 1200)

	apply := func(recs []events.Recorded) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(recs) > 0 {
			n := min(len(recs), 50)
			err := sink.Apply(ctx, recs[:n])
			if err != nil {
				if errors.Is(err, ErrFlushed) || time.Now().After(deadline) {
					t.Fatalf("apply %d–%d: %v", recs[0].Seq, recs[n-1].Seq, err)
				}
				t.Logf("apply %d–%d failed, applying again: %v", recs[0].Seq, recs[n-1].Seq, err)
				continue
			}
			recs = recs[n:]
		}
	}
	third := len(s.recs) / 3
	apply(s.recs[:third])

	// Fail over while a writer keeps applying.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, key := range []string{sink.k.pos(), sink.k.game(1)} {
			old, now, err := cl.Failover(ctx, key)
			if err != nil {
				t.Errorf("failover of %s: %v", key, err)
				return
			}
			t.Logf("failover of %s: master %s → %s", key, old, now)
		}
	}()
	// One message at a time while the failovers run.
	during, rest := 0, s.recs[third:]
	for running := true; running && len(rest) > len(s.recs)/3; {
		select {
		case <-done:
			running = false
		default:
			apply(rest[:1])
			rest = rest[1:]
			during++
		}
	}
	<-done
	t.Logf("%d messages applied while the cluster failed over", during)
	if during == 0 {
		t.Error("nothing was applied during the failovers")
	}
	apply(rest)

	if pos, err := sink.Position(ctx); err != nil || pos != s.recs[len(s.recs)-1].Seq {
		t.Fatalf("position %d, %v; want %d", pos, err, s.recs[len(s.recs)-1].Seq)
	}
	diffs, err := sink.Verify(ctx, s.recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 0 {
		t.Errorf("verify after the failovers: %d differences:\n%s", len(diffs), joinLines(diffs))
	}
	w := fold(s.recs)
	got, err := r.Game(ctx, 1)
	check(t, "game 1", got, err, *w.game(1))
	recent, err := r.GlobalRecentClicks(ctx, RecentCap)
	check(t, "global recent", recent, err, newestFirst(w.clicks, RecentCap))
}
