package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/internal/testwait"
)

// gateStore holds every append while its gate is closed: the press being
// appended keeps its game, the presses behind it queue.
type gateStore struct {
	*natsstore.Store
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	waiting atomic.Int64
}

func (s *gateStore) close() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *gateStore) open() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

func (s *gateStore) pass(ctx context.Context) error {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g == nil {
		return nil
	}
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *gateStore) CanBatch() bool { return false }

func (s *gateStore) Append(ctx context.Context, subject string, e events.Event, expect uint64, msgID string) (uint64, bool, error) {
	if err := s.pass(ctx); err != nil {
		return 0, false, err
	}
	return s.Store.Append(ctx, subject, e, expect, msgID)
}

// A press still queued behind its game at its DecideBy is shed (ErrShed,
// nothing recorded); a press whose decision started is decided and stored
// however long its append takes.
func TestPressShedPastItsDecideBy(t *testing.T) {
	e := newEnv(t)
	store, h := e.gatedHandler(t, nil)
	game := start(t, h, commands.StartGame{Duration: time.Hour, Cooldown: 0}).Game
	ctx := context.Background()
	press := func(user, inter string, by time.Time) (commands.Click, error) {
		return h.Press(ctx, commands.Press{Game: game, Guild: "10", User: user, Interaction: inter, DecideBy: by})
	}

	// The first press's append is held, and its game with it. Its
	// decision started within its budget: it is not shed however long
	// the append takes.
	store.close()
	first := make(chan error, 1)
	go func() {
		_, err := press("3001", "first", time.Now().Add(200*time.Millisecond))
		first <- err
	}()
	testwait.For(t, 10*time.Second, func() bool { return store.waiting.Load() == 1 }, testwait.Say("the first append never reached the store"))

	// The presses behind it cannot start their decision within 300 ms.
	const queued = 5
	errs := make([]error, queued)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range queued {
		wg.Go(func() {
			_, errs[i] = press(fmt.Sprint(3100+i), fmt.Sprint("queued-", i), time.Now().Add(300*time.Millisecond))
		})
	}
	wg.Wait()
	took := time.Since(began)
	for i, err := range errs {
		if !errors.Is(err, commands.ErrShed) {
			t.Errorf("queued press %d: %v, want ErrShed", i, err)
		}
	}
	if took > 5*time.Second {
		t.Errorf("the queued presses were shed after %v, want about their 300 ms budget", took)
	}
	// One already past its budget is shed at once.
	if _, err := press("3200", "late", time.Now().Add(-time.Millisecond)); !errors.Is(err, commands.ErrShed) {
		t.Errorf("press past its budget: %v, want ErrShed", err)
	}
	select {
	case err := <-first:
		t.Fatalf("the first press returned while its append was held: %v", err)
	default:
	}

	store.open()
	if err := <-first; err != nil {
		t.Errorf("first press: %v, want accepted", err)
	}
	var clicks []string
	for _, r := range history(t, e.store, events.GameSubject(game)) {
		if c, ok := r.Event.(events.ButtonClicked); ok {
			clicks = append(clicks, c.Interaction)
		}
	}
	if len(clicks) != 1 || clicks[0] != "first" {
		t.Errorf("clicks stored %v, want only the first press", clicks)
	}
	// Shed presses left nothing behind: pressed again, they count.
	if c, err := press("3100", "queued-again", time.Now().Add(time.Second)); err != nil || c.Duplicate {
		t.Errorf("a shed player pressing again: %+v, %v, want accepted", c, err)
	}
}
