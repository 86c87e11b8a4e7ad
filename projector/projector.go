package projector

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// ConsumerName is the durable consumer of a projection: "projector-" +
// its name. Names are identities: they never change and a projector never
// deletes its consumer.
func ConsumerName(projection string) string { return "projector-" + projection }

// DefaultLinger is Options.Linger's default.
const DefaultLinger = 2 * time.Millisecond

// Options tunes a Projector. The zero value is usable.
type Options struct {
	// Log receives the projector's logs (default: discarded).
	Log *slog.Logger
	// BatchSize is the most messages one Apply gets (default 1000): a
	// projector that is behind applies full batches.
	BatchSize int
	// Linger is how long a batch that is not full waits, after its first
	// message arrived, for more (default 2ms; negative: not at all, a
	// caught-up projector applies what has arrived). Under a steady flow
	// of presses it turns many one-message batches, each a few round
	// trips to the sink and its own commit, into fewer larger ones, for
	// at most Linger more lag.
	Linger time.Duration
	// AckWait is the consumer's redelivery timeout (default 30s).
	AckWait time.Duration
	// MaxAckPending bounds the consumer's unacknowledged messages (default
	// 20000).
	MaxAckPending int
	// MinBackoff and MaxBackoff bound the wait between two attempts of a
	// failing step (defaults 50ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// ApplyTimeout bounds one attempt of a step (default 30s; with a lease
	// also half its TTL).
	ApplyTimeout time.Duration
	// Resync is how often the projector re-reads the sink's checkpoint,
	// and the stream's end while no message arrives, to catch up when the
	// sink lost data or the consumer stalls (default 1s). Between two
	// resyncs the projector trusts its own record of the checkpoint and
	// relies on the sink to refuse a batch that does not follow its
	// checkpoint (see Sink).
	Resync time.Duration
	// DeadLetter says where undecodable messages go.
	DeadLetter DeadLetterOptions
	// Lease configures the projection's lease (one active member).
	Lease LeaseOptions

	// OnApplied is called after each committed batch with its size, the
	// time since the last message of the batch was stored, and how many
	// messages of the stream were known to follow it (the lag in events).
	OnApplied func(n int, lag time.Duration, pending uint64)
	// OnCheckpoint is called after each committed batch with the
	// sequence of its last message.
	OnCheckpoint func(seq uint64)
	// OnRetry is called after each failed attempt of a step ("apply",
	// "checkpoint", "dead-letter").
	OnRetry func(op string, err error)
	// OnDeadLetter is called after a message was dead-lettered.
	OnDeadLetter func(r events.Recorded)
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxAckPending <= 0 {
		o.MaxAckPending = 20000
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = 30 * time.Second
	}
	if o.Resync <= 0 {
		o.Resync = time.Second
	}
	o.DeadLetter = o.DeadLetter.withDefaults()
	o.Lease = o.Lease.withDefaults()
	return o
}

// Projector keeps one sink up to date with the stream. It reads the
// stream through the durable pull consumer ConsumerName(sink.Name()) and
// holds the projection's lease while it applies: several processes may
// run the same projector, one applies and the others stand by.
//
// The sink's checkpoint, not the consumer, says where the projection is:
// every batch starts right after it. Deliveries at or below it are only
// acknowledged; a delivery beyond it (a gap: messages pending with
// another member, redelivered later, or a sink that lost data) is
// preceded by the missing messages read from the stream. A message is
// acknowledged only after the batch holding it is committed. At start
// the projector catches up from the stream, from the checkpoint to the
// stream's end, in big batches, before it takes the consumer's
// deliveries; when caught up, a batch is whatever has arrived, so that
// each event shows at once.
type Projector struct {
	feed events.Feed
	sink Sink
	o    Options
	log  *slog.Logger
	app  *applier

	pos         uint64 // the sink's checkpoint as last read or written; Run's goroutine only
	warnedAhead bool
}

// New returns a projector of sink on the stream feed reads (which must
// exist). It does nothing until Run.
func New(feed events.Feed, sink Sink, opts Options) *Projector {
	o := opts.withDefaults()
	log := o.Log.With("projection", sink.Name())
	return &Projector{
		feed: feed, sink: sink, o: o, log: log,
		app: &applier{
			name: sink.Name(), sink: sink, feed: feed, dl: o.DeadLetter, log: log,
			minBackoff: o.MinBackoff, maxBackoff: o.MaxBackoff, attemptTimeout: o.ApplyTimeout,
			hooks: hooks{onApplied: o.OnApplied, onCheckpoint: o.OnCheckpoint, onRetry: o.OnRetry, onDeadLetter: o.OnDeadLetter},
		},
	}
}

// Name is the projection's name.
func (p *Projector) Name() string { return p.sink.Name() }

// Run projects until ctx ends, then returns nil after every goroutine it
// started has stopped. Failures (NATS, the sink, a lost lease) never end
// it: it logs them, waits with back-off and starts over from the sink's
// checkpoint. It must not be called twice at once.
func (p *Projector) Run(ctx context.Context) error {
	delay := p.o.MinBackoff
	var lastLogged time.Time
	failures := 0
	for {
		err := p.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errLeaseLost) {
			p.log.Warn("lease lost: standing by")
			delay = p.o.MinBackoff
			continue
		}
		failures++
		if failures == 1 || time.Since(lastLogged) >= errorLogEvery {
			p.log.Error("projector stopped, restarting", "failures", failures, "next_in", delay, "err", err)
			lastLogged = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, p.o.MaxBackoff)
	}
}

// session runs one leadership term: set up, take the lease, catch up,
// consume. It returns when ctx ends, the lease is lost or a step outside
// the retried ones fails.
func (p *Projector) session(ctx context.Context) (err error) {
	if _, err := p.feed.LastSeq(ctx); err != nil {
		return err
	}
	if err := openDeadLetters(ctx, p.feed, p.o.DeadLetter); err != nil {
		return err
	}
	l := disabledLease()
	if !p.o.Lease.Disabled {
		kv, err := openBucket(ctx, p.feed, p.o.Lease)
		if err != nil {
			return err
		}
		if l, err = acquireLease(ctx, kv, p.sink.Name(), RoleProjector, p.o.Lease, false, p.log); err != nil {
			return err
		}
	}
	defer l.release()

	// The session's context ends when the lease is lost.
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-l.lost:
			cancel()
		case <-sctx.Done():
		}
	})
	defer wg.Wait()
	defer cancel()
	defer func() {
		if ctx.Err() == nil && !l.valid() && (err == nil || errors.Is(err, context.Canceled)) {
			err = errLeaseLost
		}
	}()

	if err := p.refresh(sctx, l); err != nil {
		return err
	}
	// A consumer created now starts after the checkpoint read before the
	// catch-up: what the catch-up applies is delivered again and skipped.
	start := p.pos
	if err := p.fellBack(sctx, l, p.catchUpToEnd(sctx, l)); err != nil {
		return err
	}
	p.log.Info("projecting", "checkpoint", p.pos, "consumer", ConsumerName(p.sink.Name()))
	return p.consume(sctx, l, start)
}

// stalledResyncs is how many resyncs in a row may find the stream gone on
// while the consumer delivered nothing before the consumption is started
// again.
const stalledResyncs = 3

// errStalled ends a consumption whose consumer stopped delivering.
var errStalled = errors.New("the consumer delivered nothing while the stream went on")

// consume creates the durable consumer, starting after start, or updates
// the one that exists, keeping where it starts, and applies what it
// delivers until ctx ends. A consumption that stalls (its pull request
// lost, say: the client notices that only after two missed heartbeats)
// is started again; the resyncs keep the projection going meanwhile.
func (p *Projector) consume(ctx context.Context, l *lease, start uint64) error {
	for {
		err := p.consumeOnce(ctx, l, start)
		if !errors.Is(err, errStalled) {
			return err
		}
		p.log.Warn("consumer stalled: consuming again", "err", err, "resyncs", stalledResyncs, "checkpoint", p.pos)
	}
}

// consumeOnce is one consumption of consume: it returns errStalled when
// stalledResyncs resyncs in a row caught up with the stream while the
// consumer delivered nothing.
func (p *Projector) consumeOnce(ctx context.Context, l *lease, start uint64) error {
	name := ConsumerName(p.sink.Name())
	msgs := make(chan events.Delivery, 2*p.o.BatchSize)
	quit := make(chan struct{})
	cc, err := p.feed.Consume(ctx, events.ConsumerConfig{
		Durable:       name,
		Description:   "The Button projection " + p.sink.Name(),
		StartAfter:    start,
		AckWait:       p.o.AckWait,
		MaxAckPending: p.o.MaxAckPending,
		Batch:         p.o.BatchSize,
		OnNotice:      func(err error) { p.log.Debug("consumer notice", "err", err) },
	}, func(d events.Delivery) {
		select {
		case msgs <- d:
		case <-quit:
		}
	})
	if err != nil {
		return err
	}
	defer func() {
		close(quit)
		cc.Stop()
	}()

	tick := time.NewTicker(p.o.Resync)
	defer tick.Stop()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	idle, stalled := true, 0
	batch := make([]events.Delivery, 0, p.o.BatchSize)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-cc.Closed():
			return errors.New("consumer subscription closed")
		case m := <-msgs:
			// A batch is applied when full, or Linger after its first
			// message (at once without a linger).
			batch = append(batch[:0], m)
			linger.Reset(max(p.o.Linger, 0))
		drain:
			for len(batch) < p.o.BatchSize {
				select {
				case m := <-msgs:
					batch = append(batch, m)
				case <-linger.C:
					break drain
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			linger.Stop()
			if err := p.fellBack(ctx, l, p.handle(ctx, l, batch)); err != nil {
				return err
			}
			clear(batch)
			idle = false
		case <-tick.C:
			before := p.pos
			if err := p.fellBack(ctx, l, p.resync(ctx, l, idle)); err != nil {
				return err
			}
			if idle && p.pos > before {
				stalled++
			} else {
				stalled = 0
			}
			if stalled == stalledResyncs {
				return errStalled
			}
			idle = true
		}
	}
}

// handle applies a batch of deliveries: sorted, without what the sink
// has, with gaps filled from the stream, acknowledged after the commit.
// It sorts ds in place.
func (p *Projector) handle(ctx context.Context, l *lease, ds []events.Delivery) error {
	slices.SortStableFunc(ds, func(a, b events.Delivery) int { return cmp.Compare(a.Seq, b.Seq) })

	var pending uint64 // messages after the newest delivery of the batch
	if n := len(ds); n > 0 {
		pending = ds[n-1].Pending
	}
	var (
		chunk []events.Recorded
		acks  []events.Delivery
		next  = p.pos + 1
	)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := p.apply(ctx, l, chunk, pending); err != nil {
			return err
		}
		for _, d := range acks {
			_ = d.Acker.Ack() // a lost ack means a redelivery, which is skipped
		}
		chunk, acks = nil, nil
		return nil
	}
	for _, d := range ds {
		seq := d.Seq
		switch {
		case seq <= p.pos:
			_ = d.Acker.Ack() // applied before: redelivered or delivered twice
			continue
		case seq < next:
			acks = append(acks, d) // the same message twice in this batch
			continue
		case seq > next:
			if err := flush(); err != nil {
				return err
			}
			p.log.Debug("gap before delivery: reading the stream", "from", next, "to", seq-1)
			if err := p.catchUp(ctx, l, next, seq-1); err != nil {
				return err
			}
			next = p.pos + 1
			if seq < next {
				_ = d.Acker.Ack()
				continue
			}
		}
		chunk = append(chunk, d.Recorded)
		acks = append(acks, d)
		next = seq + 1
		if len(chunk) >= p.o.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// apply commits a chunk and moves the known checkpoint.
func (p *Projector) apply(ctx context.Context, l *lease, chunk []events.Recorded, pending uint64) error {
	if len(chunk) == 0 {
		return nil
	}
	if err := p.app.apply(ctx, l, chunk, pending); err != nil {
		return err
	}
	p.pos = max(p.pos, chunk[len(chunk)-1].Seq)
	return nil
}

// catchUp reads from..to from the stream and applies it in batches.
func (p *Projector) catchUp(ctx context.Context, l *lease, from, to uint64) error {
	return p.feed.ReadRange(ctx, from, to, p.o.BatchSize, func(chunk []events.Recorded) error {
		// Start right after the checkpoint, whatever happened meanwhile.
		i, _ := slices.BinarySearchFunc(chunk, p.pos+1, func(r events.Recorded, seq uint64) int { return cmp.Compare(r.Seq, seq) })
		return p.apply(ctx, l, chunk[i:], to-chunk[len(chunk)-1].Seq)
	})
}

// refresh re-reads the sink's checkpoint. A checkpoint below the known
// one means the sink lost data (Redis flushed, a replay reset it): the
// next batch then starts after the lower checkpoint, with the missing
// messages read from the stream.
func (p *Projector) refresh(ctx context.Context, l *lease) error {
	var cur uint64
	err := p.app.retry(ctx, l, "checkpoint", func(ctx context.Context) error {
		var err error
		cur, err = p.sink.Position(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if cur < p.pos {
		p.log.Warn("projection is behind its checkpoint: it lost data or was reset; rebuilding from the stream",
			"checkpoint", cur, "was", p.pos)
	}
	p.pos = cur
	return nil
}

// resync runs every Resync: it re-reads the checkpoint, to notice a sink
// that lost data without refusing a batch (see Sink), and, when the
// checkpoint fell back or no message arrived since the last time, catches
// up from the stream (a consumer stalls while messages are pending with a
// member that died).
func (p *Projector) resync(ctx context.Context, l *lease, idle bool) error {
	before := p.pos
	if err := p.refresh(ctx, l); err != nil {
		return err
	}
	if !idle && p.pos >= before {
		return nil
	}
	return p.catchUpToEnd(ctx, l)
}

// catchUpToEnd applies what the stream holds after the checkpoint.
func (p *Projector) catchUpToEnd(ctx context.Context, l *lease) error {
	last, err := p.feed.LastSeq(ctx)
	if err != nil {
		return err
	}
	if last < p.pos && !p.warnedAhead {
		p.log.Error("projection checkpoint is beyond the stream's end: it was built from another stream; replay it",
			"checkpoint", p.pos, "stream_last", last)
		p.warnedAhead = true
	}
	if last <= p.pos {
		return nil
	}
	p.log.Info("catching up from the stream", "from", p.pos+1, "to", last)
	return p.catchUp(ctx, l, p.pos+1, last)
}

// fellBack passes err on unless it says that the sink's checkpoint fell
// below the batch being applied (the sink lost data or was reset); then it
// goes on from the lower checkpoint, catching up from the stream.
func (p *Projector) fellBack(ctx context.Context, l *lease, err error) error {
	for {
		var behind *behindError
		if !errors.As(err, &behind) {
			return err
		}
		p.log.Warn("projection is behind its checkpoint: it lost data or was reset; rebuilding from the stream",
			"checkpoint", behind.pos, "was", p.pos, "err", behind.err)
		p.pos = behind.pos
		err = p.catchUpToEnd(ctx, l)
	}
}
