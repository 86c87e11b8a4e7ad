package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// errorLogEvery is how often a failure that keeps repeating is logged.
const errorLogEvery = 10 * time.Second

// DeadLetterOptions says where messages that are not valid events go. The
// dead-letter stream is separate from the event stream and its subjects
// are outside button.>, so no projector ever reads a dead letter as an
// event.
type DeadLetterOptions struct {
	// Stream is the dead-letter stream (default DefaultDeadLetterStream).
	Stream string
	// Prefix starts every dead-letter subject (default
	// DefaultDeadLetterPrefix): <prefix>.<projection>.<sequence>.
	Prefix string
	// Replicas of the stream (default 1).
	Replicas int
}

// Dead-letter defaults and the headers a dead letter carries.
const (
	DefaultDeadLetterStream = "BUTTON_DEADLETTER"
	DefaultDeadLetterPrefix = "button_deadletter"

	HeaderDeadSubject    = "Button-Dead-Subject"    // the original subject
	HeaderDeadSequence   = "Button-Dead-Sequence"   // its stream sequence
	HeaderDeadProjection = "Button-Dead-Projection" // the projection that refused it
	HeaderDeadError      = "Button-Dead-Error"      // why it is not an event
	HeaderDeadStored     = "Button-Dead-Stored"     // when the original was stored (RFC 3339)
)

func (o DeadLetterOptions) withDefaults() DeadLetterOptions {
	if o.Stream == "" {
		o.Stream = DefaultDeadLetterStream
	}
	if o.Prefix == "" {
		o.Prefix = DefaultDeadLetterPrefix
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	return o
}

// DeadLetterSubject is the subject of the dead letter of the message at seq
// for a projection: one subject per message, so that a message is
// dead-lettered once however often it is read.
func DeadLetterSubject(prefix, projection string, seq uint64) string {
	return prefix + "." + projection + "." + strconv.FormatUint(seq, 10)
}

// openDeadLetters creates or updates the dead-letter stream.
func openDeadLetters(ctx context.Context, feed events.Feed, o DeadLetterOptions) error {
	return feed.OpenDeadLetters(ctx, events.DeadLetterConfig{Stream: o.Stream, Prefix: o.Prefix, Replicas: o.Replicas})
}

// hooks are the optional callbacks of Options.
type hooks struct {
	onApplied    func(n int, lag time.Duration, pending uint64)
	onCheckpoint func(seq uint64)
	onRetry      func(op string, err error)
	onDeadLetter func(r events.Recorded)
}

// applier writes batches into a sink: dead letters first, then the batch,
// each retried with back-off until it succeeds, ctx ends or the lease is
// lost. It is used from one goroutine.
type applier struct {
	name           string
	sink           Sink
	feed           events.Feed
	dl             DeadLetterOptions
	log            *slog.Logger
	minBackoff     time.Duration
	maxBackoff     time.Duration
	attemptTimeout time.Duration
	hooks          hooks
}

// apply writes recs (in stream order, starting right after the sink's
// checkpoint) and returns once they are durable. pending is how many
// stream messages are known to follow recs, for the OnApplied hook.
func (a *applier) apply(ctx context.Context, l *lease, recs []events.Recorded, pending uint64) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if r.Err == nil {
			continue
		}
		if err := a.retry(ctx, l, "dead-letter", func(ctx context.Context) error { return a.deadLetter(ctx, r) }); err != nil {
			return err
		}
	}
	first := recs[0].Seq
	err := a.retry(ctx, l, "apply", func(ctx context.Context) error {
		err := a.sink.Apply(ctx, recs)
		if err == nil {
			return nil
		}
		// A sink that lost its data (or was reset) under us may refuse a
		// batch that does not follow its checkpoint: retrying the batch
		// cannot help, the caller must start again after the checkpoint.
		if pos, perr := a.sink.Position(ctx); perr == nil && pos+1 < first {
			return &behindError{pos: pos, err: err}
		}
		return err
	})
	if err != nil {
		return err
	}
	last := recs[len(recs)-1]
	if a.hooks.onApplied != nil {
		a.hooks.onApplied(len(recs), time.Since(last.Stored), pending)
	}
	if a.hooks.onCheckpoint != nil {
		a.hooks.onCheckpoint(last.Seq)
	}
	return nil
}

// deadLetter stores a message that is not a valid event in the dead-letter
// stream, once: a second attempt for the same message finds its subject
// taken and does nothing.
func (a *applier) deadLetter(ctx context.Context, r events.Recorded) error {
	subject := DeadLetterSubject(a.dl.Prefix, a.name, r.Seq)
	header := map[string]string{
		HeaderDeadSubject:    r.Subject,
		HeaderDeadSequence:   strconv.FormatUint(r.Seq, 10),
		HeaderDeadProjection: a.name,
		HeaderDeadError:      r.Err.Error(),
	}
	if !r.Stored.IsZero() {
		header[HeaderDeadStored] = r.Stored.UTC().Format(time.RFC3339Nano)
	}
	stored, err := a.feed.PublishDeadLetter(ctx, a.dl.Stream, events.DeadLetter{Subject: subject, Data: r.Data, Header: header})
	if err != nil {
		return fmt.Errorf("dead-letter message %d of %s: %w", r.Seq, r.Subject, err)
	}
	if !stored {
		return nil // dead-lettered before
	}
	a.log.Error("message is not a valid event: sent to the dead letters",
		"subject", r.Subject, "seq", r.Seq, "dead_letter", subject, "err", r.Err)
	if a.hooks.onDeadLetter != nil {
		a.hooks.onDeadLetter(r)
	}
	return nil
}

// behindError means the sink's checkpoint fell below the batch being
// applied: the sink lost data or was reset. The caller resumes after pos.
type behindError struct {
	pos uint64
	err error
}

func (e *behindError) Error() string {
	return fmt.Sprintf("projection checkpoint fell back to %d: %v", e.pos, e.err)
}

func (e *behindError) Unwrap() error { return e.err }

// retry runs fn, each attempt bounded by the attempt timeout, until it
// succeeds; between attempts it waits with capped exponential back-off and
// jitter. Failures are logged at error level, the first at once and then
// at most every errorLogEvery. It returns ctx's error when ctx ends and
// errLeaseLost when the lease is lost: a sink that is down makes the
// caller wait, never skip.
func (a *applier) retry(ctx context.Context, l *lease, op string, fn func(context.Context) error) error {
	delay := a.minBackoff
	var (
		failures   int
		first      time.Time
		lastLogged time.Time
	)
	for {
		if !l.valid() {
			return errLeaseLost
		}
		actx, cancel := context.WithTimeout(ctx, l.attemptTimeout(a.attemptTimeout))
		err := fn(actx)
		cancel()
		var behind *behindError
		if errors.As(err, &behind) {
			return err
		}
		if err == nil {
			if failures > 0 {
				a.log.Info("recovered", "op", op, "failures", failures, "after", time.Since(first).Round(time.Millisecond))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures++
		if failures == 1 {
			first = time.Now()
		}
		if a.hooks.onRetry != nil {
			a.hooks.onRetry(op, err)
		}
		if failures == 1 || time.Since(lastLogged) >= errorLogEvery {
			a.log.Error("projection step failed, retrying", "op", op,
				"failures", failures, "down_for", time.Since(first).Round(time.Millisecond), "next_in", delay, "err", err)
			lastLogged = time.Now()
		}
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.lost:
			return errLeaseLost
		case <-time.After(wait):
		}
		delay = min(2*delay, a.maxBackoff)
	}
}
