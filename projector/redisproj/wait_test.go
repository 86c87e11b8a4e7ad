package redisproj

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

func TestWaitApplied(t *testing.T) { redistest.Backends(t, testWaitApplied) }

// testWaitApplied: a wait for a sequence applied already returns at once;
// a wait for a later one returns once a batch reaches it (the position
// read after it is at least the sequence), and not at all if none does
// before its context ends, whether the context has a deadline or is
// cancelled.
func testWaitApplied(t *testing.T) {
	ctx := context.Background()
	s := scenario(t)
	sink, r, _ := mustSink(t)
	half := len(s.recs) / 2
	mid, last := s.recs[half-1].Seq, s.recs[len(s.recs)-1].Seq

	type result struct {
		seq, pos uint64
		err      error
	}
	done := make(chan result, 3)
	wait := func(seq uint64) {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err := r.WaitApplied(wctx, seq)
		pos, _ := r.Position(ctx)
		done <- result{seq, pos, err}
	}
	go wait(1) // before anything is applied: it waits for the first batch

	if err := sink.Apply(ctx, s.recs[:half]); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{0, 1, mid} {
		if err := r.WaitApplied(ctx, seq); err != nil {
			t.Errorf("wait for %d, applied up to %d: %v", seq, mid, err)
		}
	}

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := r.WaitApplied(short, mid+1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait for %d with nothing more applied: %v, want the context's deadline", mid+1, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	stop := time.AfterFunc(200*time.Millisecond, cancel)
	err = r.WaitApplied(cancelled, mid+1)
	stop.Stop()
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("wait for %d, cancelled: %v, want context.Canceled", mid+1, err)
	}

	go wait(mid + 1)
	go wait(last)
	for i := half; i < len(s.recs); i++ { // one message at a time
		if err := sink.Apply(ctx, s.recs[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		res := <-done
		if res.err != nil {
			t.Errorf("wait for %d: %v", res.seq, res.err)
		} else if res.pos < res.seq {
			t.Errorf("wait for %d returned at position %d", res.seq, res.pos)
		}
	}
}

func TestWaitsShareOneSubscription(t *testing.T) {
	redistest.Backends(t, testWaitsShareOneSubscription)
}

// testWaitsShareOneSubscription: many waits at once listen on one
// subscription of their reader, which the last of them closes.
func testWaitsShareOneSubscription(t *testing.T) {
	ctx := context.Background()
	s := scenario(t)
	sink, r, c := mustSink(t)
	last := s.recs[len(s.recs)-1].Seq
	channel := r.k.applied()

	const waits = 20
	errs := make(chan error, waits)
	for range waits {
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			errs <- r.WaitApplied(wctx, last)
		}()
	}
	joined := func() int {
		r.wmu.Lock()
		defer r.wmu.Unlock()
		if r.sub == nil {
			return 0
		}
		return r.sub.joined
	}
	testwait.For(t, 10*time.Second, func() bool { return joined() == waits && numSub(t, c, channel) > 0 },
		func() string {
			return fmt.Sprintf("%d of %d waits joined, %d subscribers", joined(), waits, numSub(t, c, channel))
		})
	if n := numSub(t, c, channel); n != 1 {
		t.Errorf("%d waits hold %d subscriptions to %s, want 1", waits, n, channel)
	}

	if err := sink.Apply(ctx, s.recs); err != nil {
		t.Fatal(err)
	}
	for range waits {
		if err := <-errs; err != nil {
			t.Errorf("wait for %d: %v", last, err)
		}
	}
	if n := joined(); n != 0 {
		t.Errorf("%d waits still on the subscription after every wait returned", n)
	}
	testwait.For(t, 10*time.Second, func() bool { return numSub(t, c, channel) == 0 },
		func() string {
			return fmt.Sprintf("%d subscribers left after every wait returned", numSub(t, c, channel))
		})
}

// numSub returns how many clients are subscribed to channel: on Redis
// Cluster, the sum over its nodes (each counts its own clients).
func numSub(t *testing.T, c redis.UniversalClient, channel string) int64 {
	t.Helper()
	ctx := context.Background()
	if cc, ok := c.(*redis.ClusterClient); ok {
		var n atomic.Int64
		err := cc.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
			m, err := node.PubSubNumSub(ctx, channel).Result()
			n.Add(m[channel])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n.Load()
	}
	m, err := c.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[channel]
}
