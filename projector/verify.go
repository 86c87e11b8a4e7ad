package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
// consistent snapshot, asks upTo for the stream's messages up to that
// checkpoint and returns the checkpoint and one line per difference. It
//
// A LiveVerifier's error that has a method NotLive() returning true says
// it cannot read a consistent snapshot of itself (such as a projection
// spread over a Redis Cluster): Verify then pauses its projector instead.
type LiveVerifier interface {
	VerifyLive(ctx context.Context, upTo func(ctx context.Context, seq uint64) ([]events.Recorded, error)) (uint64, []string, error)
}

// Verify compares every sink with the stream. For each, it waits up to
// Wait for the sink to catch up. A LiveVerifier then compares a consistent
// snapshot of itself with the stream up to the snapshot's checkpoint,
// while its projector goes on (no lease, no pause). Any other sink is
// paused: Verify takes the projection's lease (a running projector stands
// by meanwhile, so the sink holds still), reads the sink's checkpoint and
// hands the sink's Verify every message up to it. A checkpoint behind the
// stream's end is itself a difference. A sink that is not a Verifier is
// an error. It reads the stream once and keeps it in memory.
func Verify(ctx context.Context, js jetstream.JetStream, stream string, sinks []Sink, o VerifyOptions) ([]Difference, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Lease = o.Lease.withDefaults()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("verify: stream %s: %w", stream, err)
	}
	last, err := lastSeq(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	for _, sink := range sinks {
		if _, ok := sink.(Verifier); !ok {
			return nil, fmt.Errorf("verify: projection %s cannot verify itself", sink.Name())
		}
	}
	deadline := time.Now().Add(o.Wait)
	for _, sink := range sinks {
		if err := waitFor(ctx, sink, last, deadline); err != nil {
			return nil, fmt.Errorf("verify %s: %w", sink.Name(), err)
		}
	}
	var kv jetstream.KeyValue
	if !o.Lease.Disabled {
		if kv, err = openBucket(ctx, js, o.Lease); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	// The stream is read while the projections read their snapshots; the
	// projections are compared at once, each at its own checkpoint.
	cache := &streamCache{s: s, read: make(chan struct{})}
	rctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		<-cache.read
	}()
	go func() {
		defer close(cache.read)
		t := time.Now()
		cache.all, cache.readErr = ReadAll(rctx, s, last)
		if cache.readErr == nil {
			o.Log.Info("stream read", "messages", len(cache.all), "took", time.Since(t).Round(time.Millisecond))
		}
	}()
	found := make([][]Difference, len(sinks))
	errs := make([]error, len(sinks))
	var wg sync.WaitGroup
	for i, sink := range sinks {
		wg.Go(func() {
			found[i], errs[i] = verifyOne(ctx, cache, kv, sink, last, o)
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
	s       jetstream.Stream
	read    chan struct{} // closed when the first read (to the stream's end) is done
	readErr error
	mu      sync.Mutex
	all     []events.Recorded
}

// upTo returns the stream's messages up to and including pos, reading
// what is missing. The slices it returns are never written again.
func (c *streamCache) upTo(ctx context.Context, pos uint64) ([]events.Recorded, error) {
	select {
	case <-c.read:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.readErr != nil {
		return nil, fmt.Errorf("read the stream: %w", c.readErr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.all, err = extend(ctx, c.s, c.all, pos); err != nil {
		return nil, err
	}
	all := c.all
	return all[:sort.Search(len(all), func(i int) bool { return all[i].Seq > pos })], nil
}

// waitFor polls the sink's checkpoint until it reaches seq or the deadline
// passes. Read errors end the wait, not the verification.
func waitFor(ctx context.Context, sink Sink, seq uint64, deadline time.Time) error {
	for time.Now().Before(deadline) {
		pos, err := sink.Position(ctx)
		if err == nil && pos >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func verifyOne(ctx context.Context, cache *streamCache, kv jetstream.KeyValue, sink Sink, last uint64, o VerifyOptions) ([]Difference, error) {
	name := sink.Name()
	if lv, ok := sink.(LiveVerifier); ok {
		t := time.Now()
		pos, lines, err := lv.VerifyLive(ctx, cache.upTo)
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
	l := disabledLease()
	if kv != nil {
		var err error
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
func extend(ctx context.Context, s jetstream.Stream, all []events.Recorded, pos uint64) ([]events.Recorded, error) {
	from := uint64(1)
	if n := len(all); n > 0 {
		from = all[n-1].Seq + 1
	}
	if pos < from {
		return all, nil
	}
	err := readRange(ctx, s, from, pos, 4096, func(chunk []events.Recorded) error {
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
