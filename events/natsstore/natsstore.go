// Package natsstore keeps the events of package events in a NATS JetStream
// stream: it owns the stream's configuration, appends with an expected
// subject sequence and a message id, reads subjects back, and watches new
// events. JetStream errors are translated here, by code, into the
// sentinels of package events.
//
// It imports events and nats.go's jetstream package (never the legacy
// JetStreamContext) and nothing else of this module.
package natsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
)

// DefaultStream is the stream's name.
const DefaultStream = "BUTTON"

// Config configures the stream. The zero value is a single-replica stream
// named BUTTON with a two-minute duplicate window.
type Config struct {
	Stream     string
	Replicas   int
	Duplicates time.Duration // the message-id de-duplication window
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 2 * time.Minute
	}
	return c
}

// StreamConfig is the configuration Open applies: file storage, no age,
// size or per-subject limits (history is never dropped), deletes and
// purges denied, direct gets allowed.
func StreamConfig(c Config) jetstream.StreamConfig {
	c = c.withDefaults()
	return jetstream.StreamConfig{
		Name:              c.Stream,
		Description:       "The Button: every accepted decision, one subject per game",
		Subjects:          []string{events.SubjectRoot},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxAge:            0,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        c.Duplicates,
		Replicas:          c.Replicas,
		DenyDelete:        true,
		DenyPurge:         true,
		AllowDirect:       true,
	}
}

// Store appends and reads events. It is safe for concurrent use.
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	name   string
}

// Open creates the stream, or updates it to StreamConfig if it exists,
// and returns a store on it. Calling it again with the same configuration
// changes nothing.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	stream, err := js.CreateOrUpdateStream(ctx, StreamConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Stream, err)
	}
	return &Store{js: js, stream: stream, name: cfg.Stream}, nil
}

// Stream is the underlying JetStream stream, for consumers and status.
func (s *Store) Stream() jetstream.Stream { return s.stream }

// JetStream is the JetStream context the store uses.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Name is the stream's name.
func (s *Store) Name() string { return s.name }

// Header names written with every event, so `nats stream view` shows them.
const (
	HeaderType    = "Button-Event-Type"
	HeaderVersion = "Button-Event-Version"
)

// Append stores e on subject if the subject's last sequence is expect (0:
// the subject must be empty). msgID, if not empty, de-duplicates: a second
// append with the same id within the duplicate window stores nothing and
// returns the first one's sequence with duplicate true, whatever expect
// says. A lost race returns an error wrapping events.ErrConflict.
func (s *Store) Append(ctx context.Context, subject string, e events.Event, expect uint64, msgID string) (seq uint64, duplicate bool, err error) {
	data, err := events.Encode(e)
	if err != nil {
		return 0, false, err
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(HeaderType, e.EventType())
	msg.Header.Set(HeaderVersion, fmt.Sprint(events.Version))
	opts := []jetstream.PublishOpt{
		jetstream.WithExpectStream(s.name),
		jetstream.WithExpectLastSequencePerSubject(expect),
	}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := s.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return 0, false, fmt.Errorf("append %s to %s: %w", e.EventType(), subject, translate(err))
	}
	return ack.Sequence, ack.Duplicate, nil
}

// translate turns JetStream errors callers branch on into events sentinels.
func translate(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return fmt.Errorf("%w: %v", events.ErrConflict, err)
		case jetstream.JSErrCodeMessageNotFound, jetstream.JSErrCodeStreamNotFound:
			return fmt.Errorf("%w: %v", events.ErrNotFound, err)
		}
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%w: %v", events.ErrNotFound, err)
	}
	return err
}

func decodeMsg(subject string, seq uint64, t time.Time, data []byte) events.Recorded {
	e, err := events.Decode(data)
	return events.Recorded{Seq: seq, Subject: subject, Event: e, Err: err, Stored: t, Data: data}
}

// Last returns the last message of subject, or an error wrapping
// events.ErrNotFound if the subject is empty.
func (s *Store) Last(ctx context.Context, subject string) (events.Recorded, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return events.Recorded{}, fmt.Errorf("last message of %s: %w", subject, translate(err))
	}
	return decodeMsg(m.Subject, m.Sequence, m.Time, m.Data), nil
}

// shortWalk is how many messages Load fetches one by one before it opens a
// consumer instead: a catch-up after a conflict is usually one or two.
const shortWalk = 8

// Load returns the messages of subject with a sequence above after, in
// order, up to the subject's last message at the time of the call.
func (s *Store) Load(ctx context.Context, subject string, after uint64) ([]events.Recorded, error) {
	last, err := s.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(translate(err), events.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", subject, translate(err))
	}
	if last.Sequence <= after {
		return nil, nil
	}
	var out []events.Recorded
	next := after + 1
	for range shortWalk {
		if next == last.Sequence {
			return append(out, decodeMsg(last.Subject, last.Sequence, last.Time, last.Data)), nil
		}
		m, err := s.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return nil, fmt.Errorf("load %s from %d: %w", subject, next, translate(err))
		}
		out = append(out, decodeMsg(m.Subject, m.Sequence, m.Time, m.Data))
		if m.Sequence >= last.Sequence {
			return out, nil
		}
		next = m.Sequence + 1
	}
	rest, err := s.scan(ctx, subject, next, last.Sequence)
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

// scan reads subject from sequence from up to and including until with an
// ordered consumer, in batches.
func (s *Store) scan(ctx context.Context, subject string, from, until uint64) ([]events.Recorded, error) {
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", subject, translate(err))
	}
	var out []events.Recorded
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", subject, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("scan %s: %w", subject, err)
			}
			out = append(out, decodeMsg(m.Subject(), md.Sequence.Stream, md.Timestamp, m.Data()))
			if md.Sequence.Stream >= until {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("scan %s: %w", subject, err)
		}
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("scan %s: stream ended before sequence %d", subject, until)
		}
	}
}

// Subjects returns every subject matching filter (such as
// events.GameSubjects) with its message count.
func (s *Store) Subjects(ctx context.Context, filter string) (map[string]uint64, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("list subjects %s: %w", filter, translate(err))
	}
	return info.State.Subjects, nil
}

// Watch calls fn, from one goroutine and in stream order, for every
// message on a subject matching filter stored after Watch was called. It
// returns once the watch is set up; the watch ends when ctx is cancelled or
// stop is called. fn must not block for long: it holds up the watch.
func (s *Store) Watch(ctx context.Context, filter string, fn func(events.Recorded)) (stop func(), err error) {
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		NamePrefix:     "handler-watch", // nats consumer ls shows what it is: handler-watch_1, …
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", filter, translate(err))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			fn(events.Recorded{Subject: m.Subject(), Err: err, Data: m.Data()})
			return
		}
		fn(decodeMsg(m.Subject(), md.Sequence.Stream, md.Timestamp, m.Data()))
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", filter, err)
	}
	go func() {
		select {
		case <-ctx.Done():
			cc.Stop()
		case <-cc.Closed():
		}
	}()
	return cc.Stop, nil
}
