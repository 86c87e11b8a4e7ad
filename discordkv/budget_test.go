package discordkv_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/discordkv"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
)

func openKV(tb testing.TB) (jetstream.JetStream, jetstream.KeyValue) {
	tb.Helper()
	srv := natstest.Server(tb, "")
	_, js := natstest.Connect(tb, srv)
	kv, err := discordkv.OpenBucket(context.Background(), js, "", 1)
	if err != nil {
		tb.Fatal(err)
	}
	return js, kv
}

// TestBudgetSharedByProcesses takes tokens from three budgets on one key
// at once: the times they were told to send at never exceed the rate
// (plus the burst) in any second, whoever took them.
func TestBudgetSharedByProcesses(t *testing.T) {
	_, kv := openKV(t)
	const rate, burst, perProc = 20, 3, 30
	var (
		mu    sync.Mutex
		sends []time.Time
		wg    sync.WaitGroup
	)
	ctx := context.Background()
	for range 3 {
		b := discordkv.NewBudget(kv, discordkv.BudgetOptions{Rate: rate, Burst: burst, Timeout: 5 * time.Second})
		for range 4 { // several callers per process
			wg.Go(func() {
				for range perProc / 4 {
					d, err := b.Reserve(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					at := time.Now().Add(d)
					mu.Lock()
					sends = append(sends, at)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	slices.SortFunc(sends, func(a, b time.Time) int { return a.Compare(b) })
	if len(sends) < 3*(perProc/4)*4 {
		t.Fatalf("%d tokens taken", len(sends))
	}
	j := 0
	worst := 0
	for i := range sends {
		for sends[i].Sub(sends[j]) >= time.Second {
			j++
		}
		worst = max(worst, i-j+1)
	}
	// The times are computed a little after each update: allow one.
	if worst > rate+burst+1 {
		t.Errorf("%d sends within one second; the budget allows %d+%d", worst, rate, burst)
	}
	span := sends[len(sends)-1].Sub(sends[0])
	if want := time.Duration(float64(len(sends)-burst) / rate * float64(time.Second)); span < want-50*time.Millisecond {
		t.Errorf("%d tokens spread over %v, want at least %v", len(sends), span, want)
	}
	t.Logf("%d tokens over %v, at most %d in a second", len(sends), span.Round(time.Millisecond), worst)
}

// TestBudgetFallsBackWhenNATSIsGone: with its bucket deleted and NATS
// closed, a budget still answers, from its own limiter.
func TestBudgetFallsBackWhenNATSIsGone(t *testing.T) {
	srv := natstest.Server(t, "")
	nc, js := natstest.Connect(t, srv)
	kv, err := discordkv.OpenBucket(context.Background(), js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	b := discordkv.NewBudget(kv, discordkv.BudgetOptions{Rate: 1000, Burst: 10, Timeout: 200 * time.Millisecond})
	if _, err := b.Reserve(context.Background()); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	start := time.Now()
	for range 5 {
		if _, err := b.Reserve(context.Background()); err != nil {
			t.Fatalf("reserve without NATS: %v", err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("5 reservations without NATS took %v: the fallback should answer at once after the first timeout", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Reserve(ctx); err == nil {
		t.Error("reserve with an ended context: no error")
	}
}

// BenchmarkBudgetReserve is the cost of one shared token (one process,
// no waiting: the rate is far above what the loop takes).
func BenchmarkBudgetReserve(b *testing.B) {
	_, kv := openKV(b)
	bud := discordkv.NewBudget(kv, discordkv.BudgetOptions{Rate: 1e9, Burst: 1e6})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bud.Reserve(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBudgetReserveThreeProcesses: three budgets on one key take
// tokens in parallel (each update after another's conflicts once).
func BenchmarkBudgetReserveThreeProcesses(b *testing.B) {
	_, kv := openKV(b)
	buds := make([]*discordkv.Budget, 3)
	for i := range buds {
		buds[i] = discordkv.NewBudget(kv, discordkv.BudgetOptions{Rate: 1e9, Burst: 1e6, Timeout: 5 * time.Second})
	}
	ctx := context.Background()
	var n sync.Mutex
	k := 0
	b.ReportAllocs()
	b.SetParallelism(2) // 4 goroutines on 2 cores, over 3 budgets
	b.RunParallel(func(pb *testing.PB) {
		n.Lock()
		bud := buds[k%3]
		k++
		n.Unlock()
		for pb.Next() {
			if _, err := bud.Reserve(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	var ups, confl uint64
	for _, bud := range buds {
		u, c := bud.Stats()
		ups, confl = ups+u, confl+c
	}
	b.ReportMetric(float64(confl)/float64(max(ups, 1)), "conflicts/op")
}
