package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	Log *slog.Logger
	// Wait is how long to wait for each projection to reach the stream's
	// end before comparing (0: compare at once).
	Wait  time.Duration
	Lease LeaseOptions
}

// Difference is one way a projection differs from the stream.
type Difference struct {
	Projection string
	Text       string
}

func (d Difference) String() string { return d.Projection + ": " + d.Text }

// LiveVerifier is a sink that can compare itself with the stream while its
// projector keeps running: it reads its checkpoint and its views in one
// consistent snapshot, folds the stream's messages up to that checkpoint
// as each hands them over (in order, chunk by chunk, as the stream is
// read; the chunks are never written again) and returns the checkpoint and
// one line per difference. last is the stream's last sequence when the
// verification began (the checkpoint it waited for): a LiveVerifier may
// fold the messages up to last while it reads its snapshot, and then fold
// again from the start if the checkpoint turns out to be below last. each
// may be called more than once, one call at a time; every call starts at
// the stream's first message.
//
// A LiveVerifier's error that has a method NotLive() returning true says
// it cannot read a consistent snapshot of itself (such as a projection
// spread over a Redis Cluster): Verify then pauses its projector instead.
type LiveVerifier interface {
	VerifyLive(ctx context.Context, last uint64, each func(ctx context.Context, seq uint64, fn func([]events.Recorded) error) error) (uint64, []string, error)
}

// Verify compares every sink with the stream. For each, it waits up to
// Wait for the sink to catch up. A LiveVerifier then compares a consistent
// snapshot of itself with the stream up to the snapshot's checkpoint,
// while its projector goes on (no lease, no pause). Any other sink is
// paused: Verify takes the projection's lease (a running projector stands
// by meanwhile, so the sink holds still), reads the sink's checkpoint and
// hands the sink's Verify every message up to it. A checkpoint behind the
// stream's end is itself a difference. A sink that is not a Verifier is
// an error. It reads the stream once, with one consumer, and keeps it in
// memory.
func Verify(ctx context.Context, feed events.Feed, sinks []Sink, o VerifyOptions) ([]Difference, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Lease = o.Lease.withDefaults()
	last, err := feed.LastSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	for _, sink := range sinks {
		if _, ok := sink.(Verifier); !ok {
			return nil, fmt.Errorf("verify: projection %s cannot verify itself", sink.Name())
		}
	}
	// The stream is read once, by one consumer, from now on: while the
	// projections catch up and read their snapshots; each folds the
	// messages as they arrive, up to its own checkpoint.
	cache := newStreamCache(feed)
	rctx, cancel := context.WithCancel(ctx)
	readDone := make(chan struct{})
	defer func() {
		cancel()
		<-readDone
	}()
	go func() {
		defer close(readDone)
		t := time.Now()
		if n, err := cache.read(rctx, last); err == nil {
			o.Log.Info("stream read", "messages", n, "took", time.Since(t).Round(time.Millisecond))
		}
	}()
	deadline := time.Now().Add(o.Wait)
	for _, sink := range sinks {
		if err := waitFor(ctx, sink, last, deadline); err != nil {
			return nil, fmt.Errorf("verify %s: %w", sink.Name(), err)
		}
	}
	// The lease bucket is opened for the first sink that is verified
	// paused; live sinks never need it.
	bucket := sync.OnceValues(func() (events.Bucket, error) {
		if o.Lease.Disabled {
			return nil, nil
		}
		return openBucket(ctx, feed, o.Lease)
	})
	found := make([][]Difference, len(sinks))
	errs := make([]error, len(sinks))
	var wg sync.WaitGroup
	for i, sink := range sinks {
		wg.Go(func() {
			found[i], errs[i] = verifyOne(ctx, cache, bucket, sink, last, o)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("verify %s: %w", sink.Name(), errs[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var diffs []Difference
	for _, d := range found {
		diffs = append(diffs, d...)
	}
	return diffs, nil
}

// streamCache is the stream read so far, shared by the projections'
// comparisons; each may need it further than the others.
type streamCache struct {
	feed events.Feed
	mu   sync.Mutex
	all  []events.Recorded // in order; elements are never written again
	done bool              // the first read (to the stream's end) is over
	err  error             // its error
	more chan struct{}     // closed (and replaced) when all grows or the read ends
}

func newStreamCache(feed events.Feed) *streamCache {
	return &streamCache{feed: feed, more: make(chan struct{})}
}

// read reads the stream up to last into the cache, waking the readers at
// each chunk, and returns how many messages it read.
func (c *streamCache) read(ctx context.Context, last uint64) (int, error) {
	err := c.feed.ReadRange(ctx, 1, last, 4096, func(chunk []events.Recorded) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.all = append(c.all, chunk...)
		close(c.more)
		c.more = make(chan struct{})
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done, c.err = true, err
	close(c.more)
	return len(c.all), err
}

// each hands fn the stream's messages up to and including pos, in order,
// in chunks as they are read, reading what the first read does not
// cover. fn may keep the chunks: they are never written again.
func (c *streamCache) each(ctx context.Context, pos uint64, fn func([]events.Recorded) error) error {
	i := 0
	for {
		c.mu.Lock()
		all, done, err, more := c.all, c.done, c.err, c.more
		c.mu.Unlock()
		j := i + sort.Search(len(all)-i, func(k int) bool { return all[i+k].Seq > pos })
		if j > i {
			if err := fn(all[i:j]); err != nil {
				return err
			}
			i = j
		}
		switch {
		case j < len(all):
			return nil // the cache holds messages beyond pos
		case done && err != nil:
			return fmt.Errorf("read the stream: %w", err)
		case done:
			return c.extend(ctx, i, pos, fn)
		}
		select {
		case <-more:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// extend reads the messages after the first read up to pos (a projection
// that moved on since the stream's end was read) and hands fn those from
// index i of the cache.
func (c *streamCache) extend(ctx context.Context, i int, pos uint64, fn func([]events.Recorded) error) error {
	c.mu.Lock()
	var err error
	c.all, err = extend(ctx, c.feed, c.all, pos)
	all := c.all
	c.mu.Unlock()
	if err != nil {
		return err
	}
	j := sort.Search(len(all), func(k int) bool { return all[k].Seq > pos })
	if j > i {
		return fn(all[i:j])
	}
	return nil
}

// upTo returns the stream's messages up to and including pos.
func (c *streamCache) upTo(ctx context.Context, pos uint64) ([]events.Recorded, error) {
	var out []events.Recorded
	err := c.each(ctx, pos, func(chunk []events.Recorded) error {
		out = append(out, chunk...)
		return nil
	})
	return out, err
}

// waitFor polls the sink's checkpoint until it reaches seq or the deadline
// passes. Read errors end the wait, not the verification. It polls at
// once, then every 5 ms, doubling up to every 100 ms: a running projector
// is usually a few milliseconds behind.
func waitFor(ctx context.Context, sink Sink, seq uint64, deadline time.Time) error {
	for wait := 5 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 100*time.Millisecond) {
		pos, err := sink.Position(ctx)
		if err == nil && pos >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

func verifyOne(ctx context.Context, cache *streamCache, bucket func() (events.Bucket, error), sink Sink, last uint64, o VerifyOptions) ([]Difference, error) {
	name := sink.Name()
	if lv, ok := sink.(LiveVerifier); ok {
		t := time.Now()
		pos, lines, err := lv.VerifyLive(ctx, last, cache.each)
		if err == nil {
			o.Log.Info("verified a live snapshot", "projection", name, "checkpoint", pos, "took", time.Since(t).Round(time.Millisecond))
			return differences(name, pos, last, lines), nil
		}
		var nl interface{ NotLive() bool }
		if !errors.As(err, &nl) || !nl.NotLive() {
			return nil, err
		}
		o.Log.Info("no live snapshot: verifying with the projector paused", "projection", name, "why", err)
	}
	kv, err := bucket()
	if err != nil {
		return nil, err
	}
	l := disabledLease()
	if kv != nil {
		if l, err = acquireLease(ctx, kv, name, RoleVerify, o.Lease, true, o.Log.With("projection", name)); err != nil {
			return nil, err
		}
	}
	defer l.release()
	pos, err := sink.Position(ctx)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	all, err := cache.upTo(ctx, pos)
	if err != nil {
		return nil, err
	}
	lines, err := sink.(Verifier).Verify(ctx, all)
	if err != nil {
		return nil, err
	}
	return differences(name, pos, last, lines), nil
}

// extend reads the stream's messages after all's last one up to pos, if
// pos is beyond it (a projection that moved on since the stream was read).
func extend(ctx context.Context, feed events.Feed, all []events.Recorded, pos uint64) ([]events.Recorded, error) {
	from := uint64(1)
	if n := len(all); n > 0 {
		from = all[n-1].Seq + 1
	}
	if pos < from {
		return all, nil
	}
	err := feed.ReadRange(ctx, from, pos, 4096, func(chunk []events.Recorded) error {
		all = append(all, chunk...)
		return nil
	})
	return all, err
}

// differences are a projection's lines, after its checkpoint's lag
// behind the stream's last sequence if it lags.
func differences(name string, pos, last uint64, lines []string) []Difference {
	var diffs []Difference
	if pos < last {
		diffs = append(diffs, Difference{name, fmt.Sprintf("checkpoint %d is behind the stream's last sequence %d: %d messages not applied", pos, last, last-pos)})
	}
	for _, line := range lines {
		diffs = append(diffs, Difference{name, line})
	}
	return diffs
}
