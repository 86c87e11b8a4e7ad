package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// Status is what an operator needs to see of the read side.
type Status struct {
	Stream      StreamStatus       `json:"stream"`
	Consumers   []ConsumerStatus   `json:"consumers"`
	Projections []ProjectionStatus `json:"projections"`
	DeadLetters DeadLetterStatus   `json:"dead_letters"`
}

// StreamStatus describes the event stream.
type StreamStatus struct {
	Name      string    `json:"name"`
	Messages  uint64    `json:"messages"`
	Bytes     uint64    `json:"bytes"`
	FirstSeq  uint64    `json:"first_seq"`
	LastSeq   uint64    `json:"last_seq"`
	LastTime  time.Time `json:"last_time"`
	Subjects  uint64    `json:"subjects"`
	Consumers int       `json:"consumers"`
}

// ConsumerStatus describes one durable consumer of the stream.
type ConsumerStatus struct {
	Name          string `json:"name"`
	Durable       bool   `json:"durable"`     // false: an ephemeral consumer (a watch, a replay)
	Pending       uint64 `json:"pending"`     // not yet delivered
	AckPending    int    `json:"ack_pending"` // delivered, not acknowledged
	Redelivered   int    `json:"redelivered"`
	Waiting       int    `json:"waiting"` // pull requests waiting
	LastDelivered uint64 `json:"last_delivered"`
	AckFloor      uint64 `json:"ack_floor"`
	Paused        bool   `json:"paused,omitempty"`
}

// ProjectionStatus describes one projection.
type ProjectionStatus struct {
	Name       string `json:"name"`
	Checkpoint uint64 `json:"checkpoint"`
	Lag        uint64 `json:"lag"` // stream messages not applied yet
	Holder     string `json:"holder,omitempty"`
	Role       string `json:"role,omitempty"` // what holds the lease: projector, replay, verify
	Replay     bool   `json:"replay_in_progress,omitempty"`
	Err        string `json:"error,omitempty"`
}

// DeadLetterStatus describes the dead-letter stream.
type DeadLetterStatus struct {
	Stream   string    `json:"stream"`
	Messages uint64    `json:"messages"`
	LastTime time.Time `json:"last_time"`
	Err      string    `json:"error,omitempty"`
}

// StatusOptions names the buckets and streams Status reads.
type StatusOptions struct {
	Lease      LeaseOptions
	DeadLetter DeadLetterOptions
}

// ReadStatus gathers the stream, its consumers, each sink's checkpoint and
// lease, and the dead letters. Only a failure to read the stream is an
// error; what cannot be read of a projection or of the dead letters is
// reported in its Err.
func ReadStatus(ctx context.Context, feed events.StatusFeed, sinks []Sink, o StatusOptions) (Status, error) {
	o.Lease = o.Lease.withDefaults()
	o.DeadLetter = o.DeadLetter.withDefaults()
	var st Status
	fs, err := feed.Status(ctx)
	if err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	st.Stream = StreamStatus{
		Name: fs.Name, Messages: fs.Messages, Bytes: fs.Bytes,
		FirstSeq: fs.FirstSeq, LastSeq: fs.LastSeq, LastTime: fs.LastTime,
		Subjects: fs.Subjects, Consumers: fs.ConsumerCount,
	}
	for _, c := range fs.Consumers {
		st.Consumers = append(st.Consumers, ConsumerStatus(c))
	}

	kv, kvErr := feed.ExistingBucket(ctx, o.Lease.Bucket)
	for _, sink := range sinks {
		ps := ProjectionStatus{Name: sink.Name()}
		if pos, err := sink.Position(ctx); err != nil {
			ps.Err = err.Error()
		} else {
			ps.Checkpoint = pos
			if st.Stream.LastSeq > pos {
				ps.Lag = st.Stream.LastSeq - pos
			}
		}
		if kvErr == nil {
			if value, _, err := kv.Get(ctx, leaseKey(sink.Name())); err == nil {
				var v leaseValue
				if json.Unmarshal(value, &v) == nil {
					ps.Holder, ps.Role = v.Holder, v.Role
				}
			}
			if _, _, err := kv.Get(ctx, replayKey(sink.Name())); err == nil {
				ps.Replay = true
			}
		}
		st.Projections = append(st.Projections, ps)
	}

	st.DeadLetters.Stream = o.DeadLetter.Stream
	dl, err := feed.DeadLetterStatus(ctx, o.DeadLetter.Stream)
	switch {
	case errors.Is(err, events.ErrNotFound):
		// no projector ran yet: no dead letters
	case err != nil:
		st.DeadLetters.Err = err.Error()
	default:
		st.DeadLetters.Messages, st.DeadLetters.LastTime = dl.Messages, dl.LastTime
	}
	return st, nil
}
