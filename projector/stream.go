package projector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
)

// record turns a stored message into an events.Recorded; a payload that is
// not a valid event has Err set.
func record(subject string, seq uint64, stored time.Time, data []byte) events.Recorded {
	e, err := events.Decode(data)
	return events.Recorded{Seq: seq, Subject: subject, Event: e, Err: err, Stored: stored, Data: data}
}

// lastSeq returns the stream's last sequence.
func lastSeq(ctx context.Context, s jetstream.Stream) (uint64, error) {
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// directGets is the largest range read message by message; longer ranges
// are read with an ordered consumer.
const directGets = 8

// readIdle is how long a range read waits for the next message before it
// decides the stream has no more.
const readIdle = 5 * time.Second

// readRange reads the messages with sequences from..to (inclusive) in
// order and hands them to fn in chunks of at most batch. Sequences missing
// from the stream are skipped. It stops at the first error of fn. Long
// ranges are read and decoded by a second goroutine while fn works on the
// previous chunk; readRange waits for it before it returns.
func readRange(ctx context.Context, s jetstream.Stream, from, to uint64, batch int, fn func([]events.Recorded) error) error {
	if to < from {
		return nil
	}
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
			chunk = append(chunk, record(m.Subject, m.Sequence, m.Time, m.Data))
		}
		if len(chunk) == 0 {
			return nil
		}
		return fn(chunk)
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
			chunk = append(chunk, record(m.Subject(), last, md.Timestamp, m.Data()))
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

// ReadAll returns every message of the stream with a sequence from 1 up to
// and including until, in order, read by one ordered consumer.
func ReadAll(ctx context.Context, s jetstream.Stream, until uint64) ([]events.Recorded, error) {
	var all []events.Recorded
	err := readRange(ctx, s, 1, until, 4096, func(chunk []events.Recorded) error {
		all = append(all, chunk...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}
