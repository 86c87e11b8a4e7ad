package events

import (
	"context"
	"time"
)

// Feed is the event stream as the read side consumes it: the end of the
// stream, range reads, a durable consumer, dead letters and the key-value
// bucket the projections keep their leases in. It is the only way the
// projector reaches the stream; events/natsstore implements it on
// JetStream and events/memfeed in memory. Implementations are safe for
// concurrent use; errors name what was attempted, and the foreign errors a
// caller branches on are translated into ErrNotFound and ErrConflict.
type Feed interface {
	// LastSeq returns the stream's last sequence (0: empty).
	LastSeq(ctx context.Context) (uint64, error)
	// ReadRange calls fn, from the calling goroutine, with the messages
	// whose sequences lie in from..to (inclusive), in order, in chunks of
	// at most batch; sequences missing from the stream are skipped. It
	// stops at the first error of fn and returns it. fn may keep the
	// chunks: they are never written again. It returns an error if a
	// message up to to does not arrive within a bounded time.
	ReadRange(ctx context.Context, from, to uint64, batch int, fn func([]Recorded) error) error
	// Consume starts delivering the messages of the durable consumer
	// c.Durable, creating it (starting after c.StartAfter) or updating the
	// one that exists (keeping where it starts). Deliveries come in stream
	// order as far as the stream is concerned, but redeliveries may come
	// late and twice; deliver is called from one goroutine owned by the
	// returned Consumption and must not block for long. A delivery not
	// acknowledged within c.AckWait is delivered again.
	Consume(ctx context.Context, c ConsumerConfig, deliver func(Delivery)) (Consumption, error)
	// OpenDeadLetters creates the dead-letter store c, or updates it.
	OpenDeadLetters(ctx context.Context, c DeadLetterConfig) error
	// PublishDeadLetter stores d in the dead-letter store named stream
	// unless a dead letter with d's subject is stored already; stored says
	// whether this call stored it.
	PublishDeadLetter(ctx context.Context, stream string, d DeadLetter) (stored bool, err error)
	// Bucket creates the key-value bucket c, or updates it, and returns it.
	Bucket(ctx context.Context, c BucketConfig) (Bucket, error)
}

// ConsumerConfig configures a Feed's durable consumer.
type ConsumerConfig struct {
	Durable     string // the consumer's name: an identity that never changes
	Description string
	// StartAfter is the sequence a consumer created now starts after.
	StartAfter uint64
	// AckWait is the redelivery timeout; MaxAckPending bounds the
	// unacknowledged deliveries.
	AckWait       time.Duration
	MaxAckPending int
	// Batch is how many messages the consumer asks for at a time.
	Batch int
	// OnNotice, if set, hears of transient consumer problems (heartbeats
	// missed, a reconnect). It is called from the consumer's goroutine.
	OnNotice func(error)
}

// Delivery is one message delivered by a consumer.
type Delivery struct {
	Recorded
	// Pending is how many messages of the consumer were known to follow
	// this one when it was delivered.
	Pending uint64
	// Acker acknowledges the delivery: it is not delivered again. A lost
	// acknowledgement means one more delivery.
	Acker interface{ Ack() error }
}

// Consumption is a running consumer.
type Consumption interface {
	// Stop stops the deliveries and returns once deliver is not called
	// any more.
	Stop()
	// Closed is closed when the consumption ends, by Stop or because the
	// consumer went away.
	Closed() <-chan struct{}
}

// DeadLetterConfig configures the store of dead letters: messages of the
// stream that are not valid events. Its subjects are Prefix + ".>", outside
// the event stream's, so no projection reads a dead letter as an event.
type DeadLetterConfig struct {
	Stream   string
	Prefix   string
	Replicas int
}

// DeadLetter is a message stored in the dead letters.
type DeadLetter struct {
	Subject string
	Data    []byte
	Header  map[string]string
}

// BucketConfig configures a key-value bucket that keeps one revision per
// key.
type BucketConfig struct {
	Name        string
	Description string
	Replicas    int
}

// Bucket is a key-value bucket with revisions for compare-and-set.
// Revisions are positive; a deleted key does not exist.
type Bucket interface {
	// Get returns key's value and revision; ErrNotFound if it does not
	// exist.
	Get(ctx context.Context, key string) (value []byte, rev uint64, err error)
	// Create stores key if it does not exist; ErrConflict if it does.
	Create(ctx context.Context, key string, value []byte) (rev uint64, err error)
	// Update stores key if its revision is rev; ErrConflict if not.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Put stores key whatever its revision.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Delete deletes key if its revision is rev (0: whatever it is);
	// ErrConflict if not. Deleting a key that does not exist is no error
	// when rev is 0.
	Delete(ctx context.Context, key string, rev uint64) error
}

// FeedStatus is what an operator needs to see of a feed.
type FeedStatus struct {
	Name     string
	Messages uint64
	Bytes    uint64
	FirstSeq uint64
	LastSeq  uint64
	LastTime time.Time
	Subjects uint64
	// ConsumerCount is the stream's own count of its consumers; Consumers
	// lists them.
	ConsumerCount int
	Consumers     []ConsumerStatus
}

// ConsumerStatus describes one consumer of a feed.
type ConsumerStatus struct {
	Name          string
	Durable       bool
	Pending       uint64
	AckPending    int
	Redelivered   int
	Waiting       int
	LastDelivered uint64
	AckFloor      uint64
	Paused        bool
}

// StatusFeed is a Feed that can describe itself and its dead letters.
type StatusFeed interface {
	Feed
	// Status describes the stream and its consumers.
	Status(ctx context.Context) (FeedStatus, error)
	// DeadLetterStatus describes the dead-letter store named stream (its
	// Consumers left empty); ErrNotFound if it does not exist.
	DeadLetterStatus(ctx context.Context, stream string) (FeedStatus, error)
	// ExistingBucket returns the key-value bucket named name without
	// creating it; ErrNotFound if it does not exist.
	ExistingBucket(ctx context.Context, name string) (Bucket, error)
}
