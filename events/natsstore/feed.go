package natsstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
)

// Feed is the stream as the read side consumes it: it implements
// events.StatusFeed on JetStream. It is safe for concurrent use.
type Feed struct {
	js   jetstream.JetStream
	name string

	mu     sync.Mutex
	stream jetstream.Stream // looked up once, on first use
}

var _ events.StatusFeed = (*Feed)(nil)

// NewFeed returns the feed of the stream named stream. The stream is looked
// up on first use; until it exists, every call fails.
func NewFeed(js jetstream.JetStream, stream string) *Feed {
	return &Feed{js: js, name: stream}
}

// Feed returns the feed of the store's stream.
func (s *Store) Feed() *Feed {
	return &Feed{js: s.js, name: s.name, stream: s.stream}
}

// Name is the stream's name.
func (f *Feed) Name() string { return f.name }

func (f *Feed) handle(ctx context.Context) (jetstream.Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stream != nil {
		return f.stream, nil
	}
	s, err := f.js.Stream(ctx, f.name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", f.name, translate(err))
	}
	f.stream = s
	return s, nil
}

// LastSeq returns the stream's last sequence.
func (f *Feed) LastSeq(ctx context.Context) (uint64, error) {
	s, err := f.handle(ctx)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", translate(err))
	}
	return info.State.LastSeq, nil
}

// directGets is the largest range read message by message; longer ranges
// are read with an ordered consumer.
const directGets = 8

// readIdle is how long a range read waits for the next message before it
// decides the stream has no more.
const readIdle = 5 * time.Second

// ReadRange reads the messages with sequences from..to (inclusive) in
// order and hands them to fn in chunks of at most batch. Sequences missing
// from the stream are skipped. It stops at the first error of fn. Long
// ranges are read with an ordered consumer and decoded by a second
// goroutine while fn works on the previous chunk; ReadRange waits for it
// before it returns.
func (f *Feed) ReadRange(ctx context.Context, from, to uint64, batch int, fn func([]events.Recorded) error) error {
	if to < from {
		return nil
	}
	s, err := f.handle(ctx)
	if err != nil {
		return err
	}
	batch = max(batch, 1)
	if to-from < directGets {
		chunk := make([]events.Recorded, 0, to-from+1)
		for seq := from; seq <= to; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read message %d: %w", seq, err)
			}
			chunk = append(chunk, decodeMsg(m.Subject, m.Sequence, m.Time, m.Data))
		}
		for len(chunk) > 0 {
			n := min(len(chunk), batch)
			if err := fn(chunk[:n:n]); err != nil {
				return err
			}
			chunk = chunk[n:]
		}
		return nil
	}
	rctx, cancel := context.WithCancel(ctx)
	chunks := make(chan []events.Recorded, 2)
	var scanErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(chunks)
		scanErr = scan(rctx, s, from, to, batch, chunks)
	})
	defer func() {
		cancel()
		for range chunks { // let the reader finish
		}
		wg.Wait()
	}()
	for chunk := range chunks {
		if err := fn(chunk); err != nil {
			return err
		}
	}
	wg.Wait()
	return scanErr
}

// scan reads the stream from sequence from up to and including to with an
// ordered consumer and sends chunks of at most batch decoded messages. It
// returns an error if no message arrives for readIdle before to.
func scan(ctx context.Context, s jetstream.Stream, from, to uint64, batch int, out chan<- []events.Recorded) error {
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   max(from, 1),
	})
	if err != nil {
		return fmt.Errorf("read stream from %d: %w", from, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(max(2*batch, 256)))
	if err != nil {
		return fmt.Errorf("read stream from %d: %w", from, err)
	}
	defer it.Stop()
	chunk := make([]events.Recorded, 0, min(uint64(batch), to-from+1))
	var last uint64
	for last < to {
		// One deadline per chunk: no timer per message.
		cctx, cancel := context.WithTimeout(ctx, readIdle)
		for len(chunk) < batch && last < to {
			m, err := it.Next(jetstream.NextContext(cctx))
			if err != nil {
				cancel()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if errors.Is(err, context.DeadlineExceeded) {
					return fmt.Errorf("read stream from %d: nothing after %d for %s, expected up to %d", from, last, readIdle, to)
				}
				return fmt.Errorf("read stream from %d: %w", from, err)
			}
			md, err := m.Metadata()
			if err != nil {
				cancel()
				return fmt.Errorf("read stream from %d: %w", from, err)
			}
			last = md.Sequence.Stream
			if last > to {
				break
			}
			chunk = append(chunk, decodeMsg(m.Subject(), last, md.Timestamp, m.Data()))
		}
		cancel()
		if len(chunk) > 0 {
			select {
			case out <- chunk:
			case <-ctx.Done():
				return ctx.Err()
			}
			chunk = make([]events.Recorded, 0, cap(chunk))
		}
	}
	return nil
}

// Consume creates the durable pull consumer c.Durable on every event
// subject (events.SubjectRoot), starting after c.StartAfter, or updates
// the one that exists, keeping where it starts; then it delivers its
// messages. A message without JetStream metadata is terminated (never
// delivered again) and reported to c.OnNotice.
func (f *Feed) Consume(ctx context.Context, c events.ConsumerConfig, deliver func(events.Delivery)) (events.Consumption, error) {
	s, err := f.handle(ctx)
	if err != nil {
		return nil, err
	}
	cons, err := durable(ctx, s, c)
	if err != nil {
		return nil, err
	}
	notice := c.OnNotice
	if notice == nil {
		notice = func(error) {}
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			_ = m.Term()
			notice(fmt.Errorf("delivery on %s without metadata: terminated: %w", m.Subject(), err))
			return
		}
		deliver(events.Delivery{
			Recorded: decodeMsg(m.Subject(), md.Sequence.Stream, md.Timestamp, m.Data()),
			Pending:  md.NumPending,
			Acker:    m,
		})
	},
		jetstream.PullMaxMessages(max(c.Batch, 1)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { notice(err) }))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", c.Durable, err)
	}
	return consumption{cc}, nil
}

// durable creates the durable consumer, starting after c.StartAfter, or
// updates the one that exists, keeping where it starts.
func durable(ctx context.Context, s jetstream.Stream, c events.ConsumerConfig) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   c.Description,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: c.MaxAckPending,
		FilterSubject: events.SubjectRoot,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
	existing, err := s.Consumer(ctx, c.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if c.StartAfter > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, c.StartAfter+1
		}
		cons, err := s.CreateConsumer(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("create consumer %s: %w", c.Durable, err)
		}
		return cons, nil
	case err != nil:
		return nil, fmt.Errorf("consumer %s: %w", c.Durable, err)
	}
	old := existing.CachedInfo().Config
	cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
	cons, err := s.UpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("update consumer %s: %w", c.Durable, err)
	}
	return cons, nil
}

type consumption struct{ cc jetstream.ConsumeContext }

func (c consumption) Stop() {
	c.cc.Stop()
	<-c.cc.Closed()
}

func (c consumption) Closed() <-chan struct{} { return c.cc.Closed() }

// OpenDeadLetters creates or updates the dead-letter stream: file storage,
// no limits, direct gets allowed.
func (f *Feed) OpenDeadLetters(ctx context.Context, c events.DeadLetterConfig) error {
	_, err := f.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "The Button: stream messages a projection could not decode",
		Subjects:    []string{c.Prefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Discard:     jetstream.DiscardOld,
		Replicas:    max(c.Replicas, 1),
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("create or update stream %s: %w", c.Stream, err)
	}
	return nil
}

// PublishDeadLetter publishes d to the dead-letter stream, expecting its
// subject to be empty: a dead letter is stored once however often it is
// sent.
func (f *Feed) PublishDeadLetter(ctx context.Context, stream string, d events.DeadLetter) (bool, error) {
	msg := &nats.Msg{Subject: d.Subject, Data: d.Data, Header: nats.Header{}}
	for k, v := range d.Header {
		msg.Header.Set(k, v)
	}
	_, err := f.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(stream), jetstream.WithExpectLastSequencePerSubject(0))
	if isWrongLastSequence(err) {
		return false, nil // dead-lettered before
	}
	if err != nil {
		return false, fmt.Errorf("publish dead letter %s: %w", d.Subject, err)
	}
	return true, nil
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// Bucket creates or updates the key-value bucket c (file storage, one
// revision per key).
func (f *Feed) Bucket(ctx context.Context, c events.BucketConfig) (events.Bucket, error) {
	kv, err := f.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      c.Name,
		Description: c.Description,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(c.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("create or update bucket %s: %w", c.Name, err)
	}
	return bucket{kv}, nil
}

// ExistingBucket returns the key-value bucket named name, if it exists.
func (f *Feed) ExistingBucket(ctx context.Context, name string) (events.Bucket, error) {
	kv, err := f.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s: %w: %v", name, events.ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	return bucket{kv}, nil
}

// bucket translates a JetStream key-value bucket's errors.
type bucket struct{ kv jetstream.KeyValue }

func translateKV(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return fmt.Errorf("%w: %v", events.ErrNotFound, err)
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists), isWrongLastSequence(err):
		return fmt.Errorf("%w: %v", events.ErrConflict, err)
	}
	return err
}

func (b bucket) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := b.kv.Get(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, translateKV(err))
	}
	return e.Value(), e.Revision(), nil
}

func (b bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.kv.Create(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, translateKV(err))
	}
	return rev, nil
}

func (b bucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	next, err := b.kv.Update(ctx, key, value, rev)
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, translateKV(err))
	}
	return next, nil
}

func (b bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.kv.Put(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, translateKV(err))
	}
	return rev, nil
}

func (b bucket) Delete(ctx context.Context, key string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev > 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	if err := b.kv.Delete(ctx, key, opts...); err != nil {
		return fmt.Errorf("delete %s: %w", key, translateKV(err))
	}
	return nil
}

// Status describes the stream and lists its consumers.
func (f *Feed) Status(ctx context.Context) (events.FeedStatus, error) {
	s, err := f.handle(ctx)
	if err != nil {
		return events.FeedStatus{}, err
	}
	st, err := streamStatus(ctx, s)
	if err != nil {
		return st, err
	}
	lister := s.ListConsumers(ctx)
	for ci := range lister.Info() {
		st.Consumers = append(st.Consumers, events.ConsumerStatus{
			Name: ci.Name, Durable: ci.Config.Durable != "", Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered,
			Waiting: ci.NumWaiting, LastDelivered: ci.Delivered.Stream, AckFloor: ci.AckFloor.Stream, Paused: ci.Paused,
		})
	}
	if err := lister.Err(); err != nil {
		return st, fmt.Errorf("consumers of %s: %w", f.name, err)
	}
	return st, nil
}

// DeadLetterStatus describes the dead-letter stream named stream.
func (f *Feed) DeadLetterStatus(ctx context.Context, stream string) (events.FeedStatus, error) {
	s, err := f.js.Stream(ctx, stream)
	if err != nil {
		return events.FeedStatus{}, fmt.Errorf("stream %s: %w", stream, translate(err))
	}
	return streamStatus(ctx, s)
}

func streamStatus(ctx context.Context, s jetstream.Stream) (events.FeedStatus, error) {
	info, err := s.Info(ctx)
	if err != nil {
		return events.FeedStatus{}, fmt.Errorf("stream info: %w", translate(err))
	}
	return events.FeedStatus{
		Name: info.Config.Name, Messages: info.State.Msgs, Bytes: info.State.Bytes,
		FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq, LastTime: info.State.LastTime,
		Subjects: info.State.NumSubjects, ConsumerCount: info.State.Consumers,
	}, nil
}
