package discordkv_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/thebutton-game/thebutton/discordkv"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/internal/testwait"
)

// span is one holder's run of one shard's work.
type span struct {
	holder     string
	start, end time.Time
}

// shardLog records when each holder served each shard.
type shardLog struct {
	mu    sync.Mutex
	spans map[int][]*span
}

func (l *shardLog) serve(holder string) discordkv.ServeFunc {
	return func(ctx context.Context, k int) error {
		sp := &span{holder: holder, start: time.Now()}
		l.mu.Lock()
		l.spans[k] = append(l.spans[k], sp)
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		sp.end = time.Now()
		l.mu.Unlock()
		return nil
	}
}

// owners returns the holders serving each shard now.
func (l *shardLog) owners(count int) map[int][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int][]string{}
	for k := range count {
		for _, sp := range l.spans[k] {
			if sp.end.IsZero() {
				out[k] = append(out[k], sp.holder)
			}
		}
	}
	return out
}

// TestShardsTakenOverAfterDeath runs three processes over 6 shards: each
// serves 2; one loses NATS (as a dead process would), and its shards are
// served by the others within the lease TTL, never by two at once.
func TestShardsTakenOverAfterDeath(t *testing.T) {
	srv := natstest.Server(t, "")
	const count, ttl = 6, 1500 * time.Millisecond
	log := &shardLog{spans: map[int][]*span{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := make([]*nats.Conn, 3)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range 3 {
		nc, js := natstest.Connect(t, srv)
		conns[i] = nc
		kv, err := discordkv.OpenBucket(ctx, js, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		holder := fmt.Sprintf("p%d", i)
		sh, err := discordkv.NewShards(kv, log.serve(holder), discordkv.ShardOptions{Count: count, TTL: ttl, MaxConcurrency: 16, Holder: holder})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = sh.Run(ctx) })
	}
	balanced := func() bool {
		per := map[string]int{}
		own := log.owners(count)
		for k := range count {
			if len(own[k]) != 1 {
				return false
			}
			per[own[k][0]]++
		}
		return len(per) == 3 && per["p0"] == 2 && per["p1"] == 2 && per["p2"] == 2
	}
	waitFor(t, 20*time.Second, "2 shards each", balanced)

	killed := time.Now()
	conns[0].Close() // p0 is gone: no renewal, no release
	waitFor(t, 20*time.Second, "every shard served by p1 or p2", func() bool {
		own := log.owners(count)
		for k := range count {
			if len(own[k]) != 1 || own[k][0] == "p0" {
				return false
			}
		}
		return true
	})
	took := time.Since(killed)
	t.Logf("shards of the dead process served again after %v (TTL %v)", took.Round(time.Millisecond), ttl)
	if took > ttl+2*ttl/5+time.Second {
		t.Errorf("takeover took %v; want within the TTL %v plus a renewal round", took, ttl)
	}
	// Never two at once: the spans of each shard do not overlap.
	log.mu.Lock()
	defer log.mu.Unlock()
	for k, spans := range log.spans {
		for i, a := range spans {
			for _, b := range spans[i+1:] {
				aEnd, bEnd := a.end, b.end
				if aEnd.IsZero() {
					aEnd = time.Now()
				}
				if bEnd.IsZero() {
					bEnd = time.Now()
				}
				if a.start.Before(bEnd) && b.start.Before(aEnd) {
					t.Errorf("shard %d served by %s (%v–%v) and %s (%v–%v) at once", k,
						a.holder, a.start.Format("05.000"), aEnd.Format("05.000"), b.holder, b.start.Format("05.000"), bEnd.Format("05.000"))
				}
			}
		}
	}
}

// TestIdentifiesSpaced: shards taken at once identify at most
// MaxConcurrency per 5 s over every process.
func TestIdentifiesSpaced(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for identify windows")
	}
	srv := natstest.Server(t, "")
	var (
		mu  sync.Mutex
		ids []time.Time
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range 2 {
		_, js := natstest.Connect(t, srv)
		kv, err := discordkv.OpenBucket(ctx, js, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		sh, err := discordkv.NewShards(kv, func(ctx context.Context, k int) error {
			mu.Lock()
			ids = append(ids, time.Now())
			mu.Unlock()
			<-ctx.Done()
			return nil
		}, discordkv.ShardOptions{Count: 4, TTL: time.Second, MaxConcurrency: 2, Holder: fmt.Sprintf("q%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = sh.Run(ctx) })
	}
	waitFor(t, 30*time.Second, "4 shards identified", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ids) >= 4
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range ids {
		n := 0
		for j := range ids {
			if !ids[j].Before(ids[i]) && ids[j].Sub(ids[i]) < 5*time.Second {
				n++
			}
		}
		if n > 2 {
			t.Errorf("%d identifies within 5 s from %v; max_concurrency is 2", n, ids[i].Format("05.000"))
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, d, cond, testwait.Say(what))
}
