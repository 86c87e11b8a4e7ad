package imaging

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRendererCachesByVisibleContent(t *testing.T) {
	r := NewRenderer(8)
	ctx := context.Background()
	a, err := r.Timer(ctx, TimerCard{Band: Blue, Remaining: 9*time.Hour + 100*time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Same second, same band: the same bytes, from the cache.
	b, err := r.Timer(ctx, TimerCard{Band: Blue, Remaining: 9*time.Hour + 800*time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if &a.Data[0] != &b.Data[0] {
		t.Error("second call rendered again instead of using the cache")
	}
	if _, err := r.Timer(ctx, TimerCard{Band: Blue, Remaining: 9*time.Hour + time.Second}); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Stats(), (CacheStats{Hits: 1, Misses: 2, Entries: 2}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	// And the cached bytes are what RenderTimer produces.
	fresh, err := RenderTimer(TimerCard{Band: Blue, Remaining: 9 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh.Data, a.Data) {
		t.Error("cached card differs from a fresh render")
	}
}

func TestRendererIsBounded(t *testing.T) {
	r := NewRenderer(3)
	ctx := context.Background()
	for s := 0; s < 10; s++ {
		if _, err := r.Timer(ctx, TimerCard{Band: Purple, Remaining: 11*time.Hour + time.Duration(s)*time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	st := r.Stats()
	if st.Entries != 3 || st.Evictions != 7 || st.Misses != 10 {
		t.Errorf("stats %+v, want 3 entries, 7 evictions, 10 misses", st)
	}
	// The most recent card is still cached, the oldest is not.
	if _, err := r.Timer(ctx, TimerCard{Band: Purple, Remaining: 11*time.Hour + 9*time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Timer(ctx, TimerCard{Band: Purple, Remaining: 11 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Hits != 1 || st.Misses != 11 {
		t.Errorf("after re-use: %+v, want 1 hit, 11 misses", st)
	}
}

func TestRendererRendersOnceUnderConcurrency(t *testing.T) {
	r := NewRenderer(0)
	ctx := context.Background()
	card := TimerCard{Band: Red, Remaining: 4 * time.Minute} // animated: slow enough to overlap
	const n = 16
	var wg sync.WaitGroup
	datas := make([][]byte, n)
	for i := range n {
		wg.Go(func() {
			img, err := r.Timer(ctx, card)
			if err != nil {
				t.Error(err)
				return
			}
			datas[i] = img.Data
		})
	}
	wg.Wait()
	if st := r.Stats(); st.Misses != 1 || st.Hits != n-1 {
		t.Errorf("stats %+v, want 1 miss and %d hits", st, n-1)
	}
	for i := 1; i < n; i++ {
		if len(datas[i]) == 0 || &datas[i][0] != &datas[0][0] {
			t.Fatalf("caller %d got other bytes", i)
		}
	}
}

func TestRendererDoesNotCacheErrors(t *testing.T) {
	r := NewRenderer(4)
	ctx := context.Background()
	for range 2 {
		if _, err := r.Timer(ctx, TimerCard{Band: 9, Remaining: time.Hour}); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("err = %v, want ErrInvalidInput", err)
		}
	}
	if st := r.Stats(); st.Entries != 0 || st.Misses != 2 {
		t.Errorf("stats %+v, want no entries and 2 misses", st)
	}
}

func TestRendererWaitHonoursContext(t *testing.T) {
	r := NewRenderer(4)
	card := TimerCard{Band: Red, Remaining: 10 * time.Second}
	// Plant an in-flight entry that never completes, as if another
	// goroutine were rendering it.
	k := card.Key()
	e := &cacheEntry{key: k, done: make(chan struct{})}
	r.mu.Lock()
	r.items[k] = r.ll.PushFront(e)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Timer(ctx, card); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

// TestConcurrentRenders renders many different cards and charts at once;
// run with -race it checks the shared layers and pools.
func TestConcurrentRenders(t *testing.T) {
	g := SyntheticGame(5, 300, false)
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			card := TimerCard{Band: Band(i % NumBands), Remaining: time.Duration(i*17+3) * time.Second, Width: 300 + 20*(i%3)}
			if _, err := RenderTimer(card); err != nil {
				t.Error(err)
			}
			card.Remaining += 3 * time.Hour
			if _, err := RenderTimer(card); err != nil {
				t.Error(err)
			}
			if i%8 == 0 {
				if _, err := RenderTimeline(g); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
