package imaging

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// DefaultCacheSize is the number of timer cards a [Renderer] keeps when
// NewRenderer is given a size of zero or less. A static card is ~30 KB and
// an animated one up to ~400 KB, so the default bounds the cache to a few
// megabytes.
const DefaultCacheSize = 64

// Renderer renders timer cards through a bounded least-recently-used cache
// keyed by [CardKey], so a card whose visible content did not change is
// never rendered or encoded twice — also when several goroutines ask for it
// at once: the first renders, the others wait for its result.
//
// A Renderer is safe for concurrent use by multiple goroutines. The zero
// value is not usable; call NewRenderer.
type Renderer struct {
	size int

	mu    sync.Mutex
	ll    *list.List // of *cacheEntry, most recently used at the front
	items map[CardKey]*list.Element

	hits, misses, evictions atomic.Uint64
}

type cacheEntry struct {
	key  CardKey
	done chan struct{} // closed once img/err are set
	img  Image
	err  error
}

// NewRenderer returns a Renderer that keeps at most size cards
// (DefaultCacheSize if size ≤ 0).
func NewRenderer(size int) *Renderer {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Renderer{size: size, ll: list.New(), items: make(map[CardKey]*list.Element, size)}
}

// CacheStats are counters of a Renderer, for metrics. Hits and Misses count
// Timer calls answered from the cache (including calls that waited for a
// render already in progress) and calls that rendered.
type CacheStats struct {
	Hits, Misses, Evictions uint64
	Entries                 int
}

// Stats returns the current counters.
func (r *Renderer) Stats() CacheStats {
	r.mu.Lock()
	n := r.ll.Len()
	r.mu.Unlock()
	return CacheStats{Hits: r.hits.Load(), Misses: r.misses.Load(), Evictions: r.evictions.Load(), Entries: n}
}

// Timer returns the encoded timer card c (see [RenderTimer]), from the
// cache when a card with the same [CardKey] was rendered before. The
// returned Image.Data is shared with the cache and must not be modified.
//
// Timer blocks only while the same card is being rendered by another
// goroutine; it then returns ctx.Err() if ctx ends first. Failed renders are
// not cached.
func (r *Renderer) Timer(ctx context.Context, c TimerCard) (Image, error) {
	k := c.Key()
	r.mu.Lock()
	if el, ok := r.items[k]; ok {
		r.ll.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		r.mu.Unlock()
		r.hits.Add(1)
		select {
		case <-e.done:
			return e.img, e.err
		default:
		}
		select {
		case <-e.done:
			return e.img, e.err
		case <-ctx.Done():
			return Image{}, fmt.Errorf("wait for timer card: %w", ctx.Err())
		}
	}
	e := &cacheEntry{key: k, done: make(chan struct{})}
	r.items[k] = r.ll.PushFront(e)
	for r.ll.Len() > r.size {
		old := r.ll.Back()
		r.ll.Remove(old)
		delete(r.items, old.Value.(*cacheEntry).key)
		r.evictions.Add(1)
	}
	r.mu.Unlock()
	r.misses.Add(1)

	e.img, e.err = renderKey(k)
	close(e.done)
	if e.err != nil {
		r.mu.Lock()
		if el, ok := r.items[k]; ok && el.Value.(*cacheEntry) == e {
			r.ll.Remove(el)
			delete(r.items, k)
		}
		r.mu.Unlock()
	}
	return e.img, e.err
}
