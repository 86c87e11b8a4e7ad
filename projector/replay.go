package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// ReplayOptions configures Replay. The zero value rebuilds from the start
// of the stream, or resumes a replay that was interrupted.
type ReplayOptions struct {
	Log *slog.Logger
	// From is the first sequence to apply after the reset (0 or 1: the
	// whole stream). The projection then holds only what follows From.
	From uint64
	// Fresh starts over even if an interrupted replay is recorded.
	Fresh bool
	// BatchSize is the most messages per Apply (default 5000).
	BatchSize int
	// MinBackoff, MaxBackoff and ApplyTimeout are as in Options.
	MinBackoff, MaxBackoff time.Duration
	ApplyTimeout           time.Duration
	DeadLetter             DeadLetterOptions
	Lease                  LeaseOptions
	// Progress, if set, is called from Replay's goroutine about every
	// ProgressEvery (default 500ms) and once at the end with Done set.
	Progress      func(ReplayProgress)
	ProgressEvery time.Duration
}

// ReplayProgress says how far a replay is.
type ReplayProgress struct {
	Applied uint64        // messages applied by this run
	Total   uint64        // messages this run has to apply (grows if the stream does)
	Seq     uint64        // the last sequence applied
	Last    uint64        // the stream's last sequence when last read
	Elapsed time.Duration // since this run started applying
	Done    bool
}

// ReplayResult sums up a finished replay.
type ReplayResult struct {
	From    uint64 // the first sequence this run applied
	To      uint64 // the last
	Applied uint64
	Elapsed time.Duration // applying only (not the lease wait or the reset)
	Resumed bool          // an interrupted replay was resumed
}

// ErrReplayConflict means an interrupted replay from another sequence is
// recorded: resume it (no From) or start over (Fresh).
var ErrReplayConflict = errors.New("projector: an interrupted replay from another sequence is recorded")

// replayMarker records a replay in progress, so an interrupted one resumes.
type replayMarker struct {
	From      uint64 `json:"from"`
	StartedMS int64  `json:"started_ms"`
	Holder    string `json:"holder"`
	// Reset is true once the sink was reset: a replay interrupted before
	// that resets it when it resumes.
	Reset bool `json:"reset"`
}

// Replay rebuilds sink from the stream: it takes the projection's lease
// (a running projector of the same projection stands by meanwhile and
// then goes on from the checkpoint), resets the sink and applies the
// stream from From in big batches, until it reaches the stream's end.
// A replay is recorded in the lease bucket until it finishes: if it is
// interrupted, the next Replay without Fresh resumes from the sink's
// checkpoint instead of resetting it (a projector that took the lease
// meanwhile will have gone on from the checkpoint too). It returns when
// done, or ctx's error.
func Replay(ctx context.Context, feed events.Feed, sink Sink, o ReplayOptions) (ReplayResult, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 500 * time.Millisecond
	}
	po := Options{MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff, ApplyTimeout: o.ApplyTimeout,
		DeadLetter: o.DeadLetter, Lease: o.Lease}.withDefaults()
	o.Lease, o.DeadLetter = po.Lease, po.DeadLetter
	name := sink.Name()
	log := o.Log.With("projection", name)
	app := &applier{name: name, sink: sink, feed: feed, dl: o.DeadLetter, log: log,
		minBackoff: po.MinBackoff, maxBackoff: po.MaxBackoff, attemptTimeout: po.ApplyTimeout}

	if _, err := feed.LastSeq(ctx); err != nil {
		return ReplayResult{}, fmt.Errorf("replay %s: %w", name, err)
	}
	if err := openDeadLetters(ctx, feed, o.DeadLetter); err != nil {
		return ReplayResult{}, fmt.Errorf("replay %s: %w", name, err)
	}
	kv, err := openBucket(ctx, feed, o.Lease)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("replay %s: %w", name, err)
	}
	l := disabledLease()
	if !o.Lease.Disabled {
		if l, err = acquireLease(ctx, kv, name, RoleReplay, o.Lease, true, log); err != nil {
			return ReplayResult{}, fmt.Errorf("replay %s: %w", name, err)
		}
	}
	defer l.release()

	res, err := replay(ctx, kv, l, app, o, log)
	if err != nil {
		if errors.Is(err, errLeaseLost) {
			err = fmt.Errorf("%w (another replay or a projector with an expired view took over)", err)
		}
		return res, fmt.Errorf("replay %s: %w", name, err)
	}
	return res, nil
}

// startReplay reads or records the replay's marker and resets the sink
// unless the marker says it was reset already (an interrupted replay,
// resumed).
func startReplay(ctx context.Context, kv events.Bucket, key string, l *lease, app *applier, o ReplayOptions, log *slog.Logger) (replayMarker, ReplayResult, error) {
	var res ReplayResult
	var marker replayMarker
	value, _, err := kv.Get(ctx, key)
	switch {
	case err == nil && !o.Fresh:
		if err := json.Unmarshal(value, &marker); err != nil {
			return marker, res, fmt.Errorf("read replay marker %s: %w", key, err)
		}
		if o.From > 1 && o.From != marker.From {
			return marker, res, fmt.Errorf("%w: recorded from %d, asked from %d", ErrReplayConflict, marker.From, o.From)
		}
		res.Resumed = true
	case err == nil, errors.Is(err, events.ErrNotFound):
		marker = replayMarker{From: max(o.From, 1), StartedMS: time.Now().UnixMilli(), Holder: o.Lease.Holder}
	default:
		return marker, res, fmt.Errorf("read replay marker %s: %w", key, err)
	}
	if !marker.Reset {
		data, _ := json.Marshal(marker)
		if _, err := kv.Put(ctx, key, data); err != nil {
			return marker, res, fmt.Errorf("record replay: %w", err)
		}
		log.Info("resetting the projection", "from", marker.From)
		if err := app.retry(ctx, l, "reset", func(ctx context.Context) error { return app.sink.Reset(ctx) }); err != nil {
			return marker, res, err
		}
		marker.Reset = true
		data, _ = json.Marshal(marker)
		if _, err := kv.Put(ctx, key, data); err != nil {
			return marker, res, fmt.Errorf("record replay: %w", err)
		}
	}
	return marker, res, nil
}

func replay(ctx context.Context, kv events.Bucket, l *lease, app *applier, o ReplayOptions, log *slog.Logger) (ReplayResult, error) {
	key := replayKey(app.name)
	marker, res, err := startReplay(ctx, kv, key, l, app, o, log)
	if err != nil {
		return res, err
	}
	var pos uint64
	if err := app.retry(ctx, l, "checkpoint", func(ctx context.Context) error {
		var err error
		pos, err = app.sink.Position(ctx)
		return err
	}); err != nil {
		return res, err
	}
	from := max(marker.From, pos+1)
	if res.Resumed {
		log.Info("resuming an interrupted replay", "from", from, "checkpoint", pos)
	}
	res.From = from
	start := time.Now()
	var (
		total, applied uint64
		seq            = from - 1
		lastReport     time.Time
		last           uint64
	)
	report := func(done bool) {
		if o.Progress == nil || (!done && time.Since(lastReport) < o.ProgressEvery) {
			return
		}
		lastReport = time.Now()
		o.Progress(ReplayProgress{Applied: applied, Total: total, Seq: seq, Last: last, Elapsed: time.Since(start), Done: done})
	}
	for {
		if last, err = app.feed.LastSeq(ctx); err != nil {
			return res, err
		}
		if last <= seq {
			break
		}
		total += last - seq
		report(false)
		err := app.feed.ReadRange(ctx, seq+1, last, o.BatchSize, func(chunk []events.Recorded) error {
			if err := app.apply(ctx, l, chunk, last-chunk[len(chunk)-1].Seq); err != nil {
				return err
			}
			applied += uint64(len(chunk))
			seq = chunk[len(chunk)-1].Seq
			report(false)
			return nil
		})
		if err != nil {
			return res, err
		}
		seq = last
	}
	res.To, res.Applied, res.Elapsed = seq, applied, time.Since(start)
	report(true)
	if err := kv.Delete(ctx, key, 0); err != nil {
		log.Warn("replay done but its marker stays: the next replay resumes instead of starting over", "key", key, "err", err)
	}
	log.Info("replay done", "from", res.From, "to", res.To, "events", applied, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res, nil
}
