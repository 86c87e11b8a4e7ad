package commands

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// EndMargin is how long after a game's deadline the timekeeper records
// its end. The recorded end time is the deadline itself, and a press
// stamped at or after the deadline is refused as game over by every
// instance at once (DecidePress), so no player gets any grace: the margin
// only delays the end event (and so the end summary and announcement) by
// this much.
//
// Why: a press stamped before the deadline must be decided by the rules
// alone (GAME-RULES §2), but it may still be on its way to the store when
// the deadline passes — stamped on another instance and not appended yet,
// or on this one and not queued on its game yet (the ban list being read,
// the bot's answer path). Several instances share no lock; the store's
// expected-sequence check only says which append came first, and an end
// appended first would refuse such a press. Appending the end a short
// bounded margin late lets these presses land first in the normal case
// (their stamp-to-append time is a few milliseconds, a few hundred under
// a burst on a loaded machine); a press slower than that (a stalled
// store) that loses to the end is told so truthfully
// (Rejection.BeforeEnd). Presses already queued on this instance's game
// are decided before the end whatever the margin (Handler.Expire). A
// margin as long as the bot's decide budget (8 s) would cover a stalled
// press too, at 8 s on every end announcement; half a second is the
// trade taken: it adds exactly that to the end summary and announcement,
// which stay inside their 2-s target (docs/benchmarks.md, bench discord).
const EndMargin = 500 * time.Millisecond

// Timekeeper ends every active game at its deadline: it arms a timer per
// game at the deadline the handler knows plus EndMargin and, when it
// fires, asks the handler to expire the game, which records the end at the
// deadline. A click seen meanwhile moves the timer; a timer that fires on
// a stale deadline finds the game caught up and re-arms. After a restart,
// games whose deadline has passed (by more than EndMargin) are ended at
// once, at their deadline. Several timekeepers (in several processes) may
// run on the same games: the handler's guarded append ends each game once.
type Timekeeper struct {
	h     *Handler
	clock Clock
	log   *slog.Logger

	mu      sync.Mutex
	ctx     context.Context
	armed   map[events.GameID]*arm
	wg      sync.WaitGroup
	stopped bool
}

type arm struct {
	deadline int64
	timer    Timer
}

// NewTimekeeper returns a timekeeper for the handler's games.
func NewTimekeeper(h *Handler, clock Clock, log *slog.Logger) *Timekeeper {
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Timekeeper{h: h, clock: clock, log: log, armed: make(map[events.GameID]*arm)}
}

// Run arms every active game and keeps arming as games change, until ctx
// ends; then it stops its timers and waits for expiries in flight. The
// handler must be open.
func (t *Timekeeper) Run(ctx context.Context) error {
	t.mu.Lock()
	t.ctx = ctx
	t.mu.Unlock()
	t.h.OnChange(t.changed)
	for _, g := range t.h.ActiveGames() {
		t.changed(g)
	}
	<-ctx.Done()
	t.mu.Lock()
	t.stopped = true
	for id, a := range t.armed {
		a.timer.Stop()
		delete(t.armed, id)
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

// changed arms, moves or drops a game's timer. It is called by the handler
// with the game locked, so it only touches timers.
func (t *Timekeeper) changed(c GameChange) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || t.ctx == nil {
		return
	}
	a := t.armed[c.Game]
	if !c.Active {
		if a != nil {
			a.timer.Stop()
			delete(t.armed, c.Game)
		}
		return
	}
	if a != nil {
		if a.deadline == c.DeadlineMS {
			return
		}
		a.timer.Stop()
	}
	t.armLocked(c.Game, c.DeadlineMS, t.untilDeadline(c.DeadlineMS), 0)
}

// untilDeadline is how long until the timer of a game with this deadline
// fires: EndMargin after it.
func (t *Timekeeper) untilDeadline(deadline int64) time.Duration {
	return time.Duration(deadline-t.clock.Now().UnixMilli())*time.Millisecond + EndMargin
}

// armLocked sets a timer for the game's deadline to fire after d; retry is
// the back-off in force after failed expiries. The caller holds t.mu.
func (t *Timekeeper) armLocked(id events.GameID, deadline int64, d, retry time.Duration) {
	a := &arm{deadline: deadline}
	t.wg.Add(1)
	a.timer = t.clock.AfterFunc(d, func() {
		defer t.wg.Done()
		t.fire(id, a, retry)
	})
	t.armed[id] = a
	// A stopped timer never runs its function: account for it then.
	stop := a.timer
	a.timer = stopFunc(func() bool {
		if stop.Stop() {
			t.wg.Done()
			return true
		}
		return false
	})
}

type stopFunc func() bool

func (f stopFunc) Stop() bool { return f() }

func (t *Timekeeper) fire(id events.GameID, a *arm, retry time.Duration) {
	t.mu.Lock()
	ctx := t.ctx
	if t.stopped || t.armed[id] != a {
		t.mu.Unlock()
		return // moved or stopped meanwhile
	}
	t.mu.Unlock()

	over, deadline, err := t.h.Expire(ctx, id)

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || t.armed[id] != a {
		return
	}
	switch {
	case err != nil:
		retry = min(max(2*retry, 50*time.Millisecond), 5*time.Second)
		t.log.Error("ending game failed, retrying", "game", id, "retry_in", retry, "err", err)
		t.armLocked(id, a.deadline, retry, retry)
	case over:
		delete(t.armed, id)
		t.log.Info("game over", "game", id)
	default:
		t.armLocked(id, deadline, t.untilDeadline(deadline), 0)
	}
}
