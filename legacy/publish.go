package legacy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
)

// errStreamMoved means another writer appended to the stream while the
// import was writing; the import re-reads where it stands and goes on.
var errStreamMoved = errors.New("the stream changed under the import")

// JetStream's error code for a wrong Nats-Expected-Last-Msg-Id (nats.go
// has no constant for it).
const codeWrongLastMsgID jetstream.ErrorCode = 10070

// window is how many appends may await their acknowledgement at once.
const window = 2048

// ackTimeout is how long settle waits for the next acknowledgement.
const ackTimeout = 30 * time.Second

// chain appends events pipelined, each conditional on its predecessor
// being the stream's last message (Nats-Expected-Last-Msg-Id); the first
// is conditional on the stream's last sequence or last message id as read
// before the import looked at the subjects. So nothing is stored after a
// message that was not stored, an import interrupted anywhere leaves a
// prefix of its events, and any other writer in between stops the chain
// instead of interleaving with a stale view. Not safe for concurrent use.
type chain struct {
	js      jetstream.JetStream
	stream  string
	prevID  string // message id of the stream's last message, "" if none or unknown
	lastSeq uint64 // the stream's last sequence, used while prevID is ""
	flight  []jetstream.PubAckFuture
	stored  int // acknowledged as newly stored
	dups    int // acknowledged as already stored
}

func newChain(nc *nats.Conn, stream string, lastSeq uint64, lastID string) (*chain, error) {
	// No per-message timeout (a timer per message costs more than the
	// append): settle bounds each wait instead.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*window))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &chain{js: js, stream: stream, prevID: lastID, lastSeq: lastSeq}, nil
}

// append sends one event; it blocks only when the window is full.
func (c *chain) append(ctx context.Context, it item) error {
	data, err := events.Encode(it.event)
	if err != nil {
		return fmt.Errorf("encode %s: %w", it.msgID, err)
	}
	msg := &nats.Msg{Subject: it.subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(natsstore.HeaderType, it.event.EventType())
	msg.Header.Set(natsstore.HeaderVersion, strconv.Itoa(events.Version))
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(it.msgID), jetstream.WithExpectStream(c.stream)}
	if c.prevID != "" {
		opts = append(opts, jetstream.WithExpectLastMsgID(c.prevID))
	} else {
		opts = append(opts, jetstream.WithExpectLastSequence(c.lastSeq))
	}
	f, err := c.js.PublishMsgAsync(msg, opts...)
	if err != nil {
		return fmt.Errorf("append %s: %w", it.msgID, err)
	}
	c.prevID = it.msgID
	c.flight = append(c.flight, f)
	if len(c.flight) >= window {
		return c.settle(ctx, window/2)
	}
	return nil
}

// flush waits for every acknowledgement.
func (c *chain) flush(ctx context.Context) error { return c.settle(ctx, len(c.flight)) }

// settle waits for the oldest n acknowledgements. On the first failure it
// still waits for the rest in flight (they fail too, or were stored), so
// the caller can re-read the stream knowing nothing more will land.
func (c *chain) settle(ctx context.Context, n int) error {
	var first error
	done := 0
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	for i, f := range c.flight {
		if i >= n && first == nil {
			break
		}
		timer.Reset(ackTimeout)
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				c.dups++
			} else {
				c.stored++
			}
		case err := <-f.Err():
			if first == nil {
				first = classify(f.Msg(), err)
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("append %s: no acknowledgement within %s", f.Msg().Header.Get(jetstream.MsgIDHeader), ackTimeout)
		}
		done = i + 1
	}
	c.flight = c.flight[done:]
	if first != nil {
		c.flight = nil
		c.prevID = ""
	}
	return first
}

func classify(m *nats.Msg, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case codeWrongLastMsgID, jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return fmt.Errorf("%w: %v", errStreamMoved, err)
		}
	}
	return fmt.Errorf("append %s to %s: %w", m.Header.Get(jetstream.MsgIDHeader), m.Subject, err)
}
