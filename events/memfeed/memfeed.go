// Package memfeed is an events.Feed in memory: a stream of events, durable
// consumers with acknowledgements and redelivery, dead letters and
// key-value buckets with revisions, all in one process. It is a real
// implementation for tests of the read side (the projector, its sinks)
// that need no NATS server; nothing of it survives the process.
//
// It imports events and the standard library only.
package memfeed

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// Feed is an in-memory events.Feed. The zero value is not usable; use New.
// It is safe for concurrent use.
type Feed struct {
	mu        sync.Mutex
	msgs      []events.Recorded // in sequence order, from sequence 1, never written again
	changed   chan struct{}     // closed (and replaced) when msgs grows or a delivery is acknowledged
	consumers map[string]*consumer
	dead      map[string]map[string]events.DeadLetter // stream → subject → dead letter
	deadOrder map[string][]string                     // stream → subjects in publication order
	buckets   map[string]*bucket
}

var _ events.Feed = (*Feed)(nil)

// New returns an empty feed.
func New() *Feed {
	return &Feed{
		changed:   make(chan struct{}),
		consumers: map[string]*consumer{},
		dead:      map[string]map[string]events.DeadLetter{},
		deadOrder: map[string][]string{},
		buckets:   map[string]*bucket{},
	}
}

// wake wakes every consumption; f.mu must be held.
func (f *Feed) wake() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Append stores e on subject and returns its sequence.
func (f *Feed) Append(subject string, e events.Event) (uint64, error) {
	data, err := events.Encode(e)
	if err != nil {
		return 0, fmt.Errorf("memfeed: append to %s: %w", subject, err)
	}
	return f.AppendRaw(subject, data), nil
}

// AppendRaw stores data on subject as it is, valid event or not, and
// returns its sequence.
func (f *Feed) AppendRaw(subject string, data []byte) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq := uint64(len(f.msgs)) + 1
	e, err := events.Decode(data)
	f.msgs = append(f.msgs, events.Recorded{Seq: seq, Subject: subject, Event: e, Err: err, Stored: time.Now(), Data: data})
	f.wake()
	return seq
}

// LastSeq returns the last sequence.
func (f *Feed) LastSeq(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(len(f.msgs)), nil
}

// ReadRange hands fn the messages from..to in chunks of at most batch.
func (f *Feed) ReadRange(ctx context.Context, from, to uint64, batch int, fn func([]events.Recorded) error) error {
	from = max(from, 1)
	if to < from {
		return nil
	}
	f.mu.Lock()
	all := f.msgs[:min(uint64(len(f.msgs)), to)]
	f.mu.Unlock()
	if from > uint64(len(all)) {
		return nil
	}
	all = all[from-1:]
	batch = max(batch, 1)
	for len(all) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(all), batch)
		if err := fn(all[:n:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// consumer is the state of a durable consumer, shared by its consumptions.
type consumer struct {
	next    uint64               // the next sequence never delivered
	unacked map[uint64]time.Time // delivered, not acknowledged: when last delivered
	// Redeliveries counts the deliveries of an already delivered message.
	redeliveries int
}

// Consume delivers the durable consumer c.Durable's messages from a
// goroutine the returned Consumption owns. A consumer created now starts
// after c.StartAfter; one that exists keeps its place. Deliveries not
// acknowledged within c.AckWait (default 30s) are delivered again, oldest
// first; at most c.MaxAckPending (0: no limit) are unacknowledged at once.
func (f *Feed) Consume(ctx context.Context, c events.ConsumerConfig, deliver func(events.Delivery)) (events.Consumption, error) {
	if c.Durable == "" {
		return nil, fmt.Errorf("memfeed: consume: no durable name")
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	c.Batch = max(c.Batch, 1)
	f.mu.Lock()
	cons, ok := f.consumers[c.Durable]
	if !ok {
		cons = &consumer{next: c.StartAfter + 1, unacked: map[uint64]time.Time{}}
		f.consumers[c.Durable] = cons
	}
	f.mu.Unlock()
	cn := &consumption{stop: make(chan struct{}), done: make(chan struct{})}
	go func() { // owned by cn: Stop waits for it
		defer close(cn.done)
		for {
			ds, changed, wait := f.take(cons, c)
			for _, d := range ds {
				select {
				case <-cn.stop:
					return
				default:
				}
				deliver(d)
			}
			if len(ds) > 0 {
				continue
			}
			t := time.NewTimer(wait)
			select {
			case <-cn.stop:
				t.Stop()
				return
			case <-changed:
			case <-t.C:
			}
			t.Stop()
		}
	}()
	return cn, nil
}

// take picks the next deliveries of cons: redeliveries that are due, then
// new messages, within the consumer's limits. With none, it returns what
// to wait for: a change or the next redelivery.
func (f *Feed) take(cons *consumer, c events.ConsumerConfig) ([]events.Delivery, <-chan struct{}, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	last := uint64(len(f.msgs))
	var ds []events.Delivery
	add := func(seq uint64) {
		cons.unacked[seq] = now
		ds = append(ds, events.Delivery{Recorded: f.msgs[seq-1], Pending: last - seq,
			Acker: acker{f: f, cons: cons, seq: seq}})
	}
	wait := c.AckWait
	var due []uint64
	for seq, at := range cons.unacked {
		if d := now.Sub(at); d >= c.AckWait {
			due = append(due, seq)
		} else {
			wait = min(wait, c.AckWait-d)
		}
	}
	slices.Sort(due)
	for _, seq := range due[:min(len(due), c.Batch)] {
		cons.redeliveries++
		add(seq)
	}
	for len(ds) < c.Batch && cons.next <= last && (c.MaxAckPending <= 0 || len(cons.unacked) < c.MaxAckPending) {
		seq := cons.next
		cons.next++
		add(seq)
	}
	return ds, f.changed, wait
}

type acker struct {
	f    *Feed
	cons *consumer
	seq  uint64
}

func (a acker) Ack() error {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	delete(a.cons.unacked, a.seq)
	a.f.wake()
	return nil
}

type consumption struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func (c *consumption) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}

func (c *consumption) Closed() <-chan struct{} { return c.done }

// Redeliveries returns how many times the durable consumer name delivered
// a message again.
func (f *Feed) Redeliveries(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.consumers[name]; ok {
		return c.redeliveries
	}
	return 0
}

// OpenDeadLetters creates the dead-letter store c.Stream if it does not
// exist.
func (f *Feed) OpenDeadLetters(_ context.Context, c events.DeadLetterConfig) error {
	if c.Stream == "" {
		return fmt.Errorf("memfeed: open dead letters: no stream name")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead[c.Stream] == nil {
		f.dead[c.Stream] = map[string]events.DeadLetter{}
	}
	return nil
}

// PublishDeadLetter stores d unless its subject is taken.
func (f *Feed) PublishDeadLetter(_ context.Context, stream string, d events.DeadLetter) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.dead[stream]
	if !ok {
		return false, fmt.Errorf("memfeed: publish dead letter %s: stream %s: %w", d.Subject, stream, events.ErrNotFound)
	}
	if _, ok := s[d.Subject]; ok {
		return false, nil
	}
	s[d.Subject] = d
	f.deadOrder[stream] = append(f.deadOrder[stream], d.Subject)
	return true, nil
}

// DeadLetters returns the dead letters of stream in publication order.
func (f *Feed) DeadLetters(stream string) []events.DeadLetter {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []events.DeadLetter
	for _, subject := range f.deadOrder[stream] {
		out = append(out, f.dead[stream][subject])
	}
	return out
}

// Bucket returns the bucket c.Name, creating it if it does not exist.
func (f *Feed) Bucket(_ context.Context, c events.BucketConfig) (events.Bucket, error) {
	if c.Name == "" {
		return nil, fmt.Errorf("memfeed: bucket: no name")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[c.Name]
	if !ok {
		b = &bucket{entries: map[string]entry{}}
		f.buckets[c.Name] = b
	}
	return b, nil
}

type entry struct {
	value []byte
	rev   uint64
}

// bucket keeps one revision per key; revisions count every write of the
// bucket, as in JetStream.
type bucket struct {
	mu      sync.Mutex
	rev     uint64
	entries map[string]entry
}

func (b *bucket) Get(_ context.Context, key string) ([]byte, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return nil, 0, fmt.Errorf("memfeed: get %s: %w", key, events.ErrNotFound)
	}
	return slices.Clone(e.value), e.rev, nil
}

func (b *bucket) put(key string, value []byte) uint64 {
	b.rev++
	b.entries[key] = entry{value: slices.Clone(value), rev: b.rev}
	return b.rev
}

func (b *bucket) Create(_ context.Context, key string, value []byte) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.entries[key]; ok {
		return 0, fmt.Errorf("memfeed: create %s: %w", key, events.ErrConflict)
	}
	return b.put(key, value), nil
}

func (b *bucket) Update(_ context.Context, key string, value []byte, rev uint64) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; !ok || e.rev != rev {
		return 0, fmt.Errorf("memfeed: update %s at revision %d: %w", key, rev, events.ErrConflict)
	}
	return b.put(key, value), nil
}

func (b *bucket) Put(_ context.Context, key string, value []byte) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.put(key, value), nil
}

func (b *bucket) Delete(_ context.Context, key string, rev uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rev > 0 {
		if e, ok := b.entries[key]; !ok || e.rev != rev {
			return fmt.Errorf("memfeed: delete %s at revision %d: %w", key, rev, events.ErrConflict)
		}
	}
	delete(b.entries, key)
	b.rev++
	return nil
}
