package projector_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/thebutton-game/thebutton/events"
)

// memSink is a hand-written in-memory projection for the loop's tests. It
// keeps the sequence of every message applied, in order, and notes every
// broken promise of the loop: a batch out of order, a gap after the
// checkpoint, two Apply calls at once where one member should apply.
type memSink struct {
	name string

	mu       sync.Mutex
	pos      uint64
	applied  []uint64 // every applied sequence, in order of application
	bad      []string // broken promises
	failing  func(batch []events.Recorded) error
	deadSeen []uint64 // sequences applied with Err set
	// allowStart lets the first batch after a reset start above 1 (replay
	// --from-seq).
	allowStart uint64
	// refuseAfterLoss makes Apply refuse, after lose, a batch that does not
	// start at 1, as the Redis projection does when Redis was flushed.
	refuseAfterLoss bool
	lost            bool
	// loseOnApply makes the next Apply lose the data first: the loss
	// falls between the loop's checkpoint read and its write.
	loseOnApply atomic.Bool

	inFlight   atomic.Int32
	concurrent atomic.Int32 // times two Apply calls overlapped
	applies    atomic.Int64
}

var _ interface {
	Verify(context.Context, []events.Recorded) ([]string, error)
} = (*memSink)(nil)

func newMemSink(name string) *memSink { return &memSink{name: name} }

func (s *memSink) Name() string { return s.name }

func (s *memSink) Position(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing != nil {
		if err := s.failing(nil); err != nil {
			return 0, err
		}
	}
	return s.pos, nil
}

var (
	errDown = errors.New("memsink: down")
	errLost = errors.New("memsink: data lost, apply from the start")
)

func (s *memSink) Apply(ctx context.Context, batch []events.Recorded) error {
	if s.inFlight.Add(1) > 1 {
		s.concurrent.Add(1)
	}
	defer s.inFlight.Add(-1)
	s.applies.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing != nil {
		if err := s.failing(batch); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.loseOnApply.CompareAndSwap(true, false) {
		s.pos, s.applied, s.lost = 0, nil, s.refuseAfterLoss
	}
	if s.lost && len(batch) > 0 && batch[0].Seq > 1 {
		return errLost
	}
	s.lost = false
	for i, r := range batch {
		if i > 0 && r.Seq <= batch[i-1].Seq {
			s.bad = append(s.bad, fmt.Sprintf("batch out of order: %d after %d", r.Seq, batch[i-1].Seq))
		}
		if r.Seq <= s.pos {
			continue
		}
		if r.Seq != s.pos+1 && !(s.pos == 0 && r.Seq == s.allowStart) {
			s.bad = append(s.bad, fmt.Sprintf("gap: %d applied after checkpoint %d", r.Seq, s.pos))
		}
		s.applied = append(s.applied, r.Seq)
		if r.Err != nil {
			s.deadSeen = append(s.deadSeen, r.Seq)
		}
		s.pos = r.Seq
	}
	return nil
}

func (s *memSink) Reset(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos, s.applied, s.deadSeen, s.lost = 0, nil, nil, false
	return nil
}

// lose drops data and checkpoint behind the loop's back, like a Redis
// FLUSHALL.
func (s *memSink) lose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos, s.applied = 0, nil
	s.lost = s.refuseAfterLoss
}

func (s *memSink) setFailing(f func([]events.Recorded) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = f
}

func (s *memSink) position() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

func (s *memSink) snapshot() (applied []uint64, bad []string, dead []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.applied...), append([]string(nil), s.bad...), append([]uint64(nil), s.deadSeen...)
}

// Verify reports every sequence of all that was not applied exactly once,
// in order.
func (s *memSink) Verify(_ context.Context, all []events.Recorded) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if len(s.applied) != len(all) {
		out = append(out, fmt.Sprintf("applied %d messages, the stream has %d", len(s.applied), len(all)))
	}
	for i := range min(len(s.applied), len(all)) {
		if s.applied[i] != all[i].Seq {
			out = append(out, fmt.Sprintf("message %d: applied %d, stream has %d", i, s.applied[i], all[i].Seq))
			break
		}
	}
	return append(out, s.bad...), nil
}
