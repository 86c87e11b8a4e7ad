package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// BatchStore is a Store that can also append several events of one
// subject in one atomic write; natsstore.Store implements it. The handler
// uses it, where CanBatch says the server can, to store the presses of a
// game that queue behind each other in one durable write (group commit).
type BatchStore interface {
	Store
	// CanBatch reports whether AppendBatch works against this server.
	CanBatch() bool
	// AppendBatch stores evs on subject, all or none, if the subject's
	// last sequence is expect, each with its message id; it returns the
	// last one's sequence. A lost race, or an id stored before, is an
	// error wrapping events.ErrConflict.
	AppendBatch(ctx context.Context, subject string, evs []events.Event, expect uint64, msgIDs []string) (uint64, error)
}

// maxGroup is the most presses one write takes; minGroup the fewest queued
// presses worth a batch. An atomic batch has a fixed cost on the server (on
// a single node it stages the batch in a store of its own, about as long as
// a few dozen single durable appends here), so a short queue is served one
// press per write and only a long one is grouped.
const (
	maxGroup = 256
	minGroup = 24
)

// queued is a press waiting for its game.
type queued struct {
	p      Press
	banned bool
	// unknown: an append of this press had an unknown outcome, so finding
	// it stored later means it was this request's own.
	unknown bool
	// started: the press's decision started (it is no longer shed at its
	// DecideBy).
	started bool
	done    chan pressResult
}

type pressResult struct {
	click Click
	err   error
}

func (q *queued) answer(c Click, err error) { q.done <- pressResult{click: c, err: err} }

// groupSize is how many of queued presses one write may take.
func (h *Handler) groupSize(queued int) int {
	if bs, ok := h.store.(BatchStore); ok && bs.CanBatch() && queued >= minGroup {
		return maxGroup
	}
	return 1
}

// late reports whether p's decision may no longer start (Press.DecideBy).
func (p Press) late() bool { return !p.DecideBy.IsZero() && !time.Now().Before(p.DecideBy) }

// decideCtx is ctx, ended at by too (a press's DecideBy; zero: ctx alone):
// for what a press waits for before its decision (reads, never an
// append). Only the slow paths make one — a catch-up from the store, a
// wait for the background read — so that a press decided from memory
// costs no timer.
func decideCtx(ctx context.Context, by time.Time) (context.Context, context.CancelFunc) {
	if by.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, by)
}

// pressQueued queues a press on its game and waits for its answer. The
// request that holds the game decides every queued press in order and
// stores the accepted ones in one write; a request that waits longer than
// lockWait (or its context) without its press being taken gets
// ErrContention, and one still waiting at its DecideBy ErrShed: nothing
// recorded.
func (h *Handler) pressQueued(ctx context.Context, p Press, banned bool) (Click, error) {
	e := h.entry(p.Game)
	h.awaitWarm(ctx, e, p.DecideBy)
	if p.late() {
		return Click{}, ErrShed
	}
	q := &queued{p: p, banned: banned, done: make(chan pressResult, 1)}
	e.qmu.Lock()
	e.queue = append(e.queue, q)
	e.qmu.Unlock()

	wait, waited := lockWait, ErrContention
	if !p.DecideBy.IsZero() {
		if d := time.Until(p.DecideBy); d < wait {
			wait, waited = d, ErrShed
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case r := <-q.done:
		return r.click, r.err
	case e.mu <- struct{}{}:
	case <-ctx.Done():
		return h.abandon(e, q, ctx.Err())
	case <-t.C:
		return h.abandon(e, q, waited)
	}
	defer h.release(e)
	for {
		select {
		case r := <-q.done:
			return r.click, r.err
		default:
		}
		e.qmu.Lock()
		n := min(len(e.queue), h.groupSize(len(e.queue)))
		batch := append([]*queued(nil), e.queue[:n]...)
		e.queue = append(e.queue[:0], e.queue[n:]...)
		e.qmu.Unlock()
		if n == 0 {
			return Click{}, fmt.Errorf("press %s: lost from its game's queue", p.Interaction)
		}
		h.pressGroup(ctx, e, batch)
	}
}

// decideQueued decides and stores the presses queued on a game that were
// stamped before now, in their order, in groups as pressQueued's holder
// does; presses stamped later stay queued. An end (Expire, Abort) calls it
// before deciding itself, with its own time. The caller holds e.mu.
func (h *Handler) decideQueued(ctx context.Context, e *gameEntry, now time.Time) {
	for {
		e.qmu.Lock()
		due := 0
		for _, q := range e.queue {
			if q.p.At.Before(now) {
				due++
			}
		}
		limit := h.groupSize(due)
		var batch []*queued
		keep := e.queue[:0]
		for _, q := range e.queue {
			if len(batch) < limit && q.p.At.Before(now) {
				batch = append(batch, q)
			} else {
				keep = append(keep, q)
			}
		}
		e.queue = keep
		e.qmu.Unlock()
		if len(batch) == 0 {
			return
		}
		h.pressGroup(ctx, e, batch)
	}
}

// abandon takes q off its game's queue; if the holder took it already, its
// answer is awaited (the holder answers within outcomeWait).
func (h *Handler) abandon(e *gameEntry, q *queued, err error) (Click, error) {
	e.qmu.Lock()
	for i, x := range e.queue {
		if x == q {
			e.queue = append(e.queue[:i], e.queue[i+1:]...)
			e.qmu.Unlock()
			return Click{}, err
		}
	}
	e.qmu.Unlock()
	r := <-q.done
	return r.click, r.err
}

// pressGroup decides and stores presses of one game, answering each. The
// caller holds e.mu.
func (h *Handler) pressGroup(ctx context.Context, e *gameEntry, pending []*queued) {
	answerAll := func(qs []*queued, err error) {
		for _, q := range qs {
			q.answer(Click{}, err)
		}
	}
	id := pending[0].p.Game
	subject := events.GameSubject(id)
	h.drain(e)
	if err := h.ready(ctx, e, subject); err != nil {
		answerAll(pending, err)
		return
	}
	if !e.g.Exists() {
		h.mu.Lock()
		if h.games[id] == e {
			delete(h.games, id)
		}
		h.mu.Unlock()
		e.fresh = false
		answerAll(pending, &Rejection{Reason: ReasonNoSuchGame, Game: id})
		return
	}
	unknown := false
	detached, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeWait)
	defer cancel()
	limit := h.groupSize(len(pending))
	// Only lost races count against maxAttempts: a round that stores
	// presses makes progress.
	for conflicts := 0; conflicts < maxAttempts; {
		expect := e.g.LastSeq
		undo := e.g.Tentative()
		var (
			evs      []events.Event
			ids      []string
			accepted []*queued
			clicks   []events.ButtonClicked
			refused  []*queued
			refusals []*Rejection
			later    []*queued
		)
		inGroup := map[string]bool{}
		for _, q := range pending {
			if len(evs) == limit || inGroup[q.p.Interaction] {
				later = append(later, q)
				continue
			}
			if n, seen := e.g.Counted(q.p.Interaction); seen {
				// Counted before — or by this very request, whose append's
				// outcome was unknown until the catch-up showed it.
				q.answer(Click{ButtonClicked: n, Duplicate: !q.unknown}, nil)
				continue
			}
			if !q.started {
				if q.p.late() {
					q.answer(Click{}, ErrShed)
					continue
				}
				q.started = true
			}
			c, rej := DecidePress(&e.g, q.banned, q.p, e.g.Now(ms(q.p.At)))
			if rej != nil {
				// Final only once the presses before it are stored.
				refused, refusals = append(refused, q), append(refusals, rej)
				continue
			}
			if err := undo.Apply(&e.g, c); err != nil {
				q.answer(Click{}, fmt.Errorf("press on game %d: %w", id, err))
				continue
			}
			inGroup[q.p.Interaction] = true
			evs, ids = append(evs, c), append(ids, "press-"+q.p.Interaction)
			accepted, clicks = append(accepted, q), append(clicks, c)
		}
		if len(evs) == 0 {
			// No append validates these refusals: one that events missed
			// here could turn (a click elsewhere moved the deadline, or
			// brought the players a sequential rule waits for) is given
			// only once the leader has nothing newer.
			if staleRisk(&e.g, refusals) {
				before := e.g.LastSeq
				if err := h.catchUp(ctx, e, subject); err != nil {
					answerAll(append(refused, later...), e.failed(unknown, err))
					return
				}
				if e.g.LastSeq != before {
					conflicts++
					pending = append(refused, later...)
					continue
				}
			}
			for i, q := range refused {
				q.answer(Click{}, refusals[i])
			}
			if pending = later; len(pending) == 0 {
				return
			}
			continue
		}
		publish := func(ctx context.Context) (uint64, bool, error) {
			actx, acancel := context.WithTimeout(ctx, attemptTimeout)
			defer acancel()
			if len(evs) == 1 {
				return h.store.Append(actx, subject, evs[0], expect, ids[0])
			}
			seq, err := h.store.(BatchStore).AppendBatch(actx, subject, evs, expect, ids)
			return seq, false, err
		}
		seq, dup, err := publish(ctx)
		if err != nil && !errors.Is(err, events.ErrConflict) && !errors.Is(err, events.ErrRefused) {
			unknown, ctx = true, detached
			for _, q := range accepted {
				q.unknown = true
			}
			h.log.Warn("append outcome unknown, repeating it", "subject", subject, "expect", expect, "events", len(evs), "err", err)
			seq, dup, err = h.repeat(ctx, subject, publish, err)
		}
		retry := append(append(append([]*queued(nil), accepted...), refused...), later...)
		switch {
		case errors.Is(err, events.ErrConflict) || err == nil && dup:
			// Not stored now: another event took the place (or this one
			// was stored before). Read what is there and decide again.
			undo.Undo(&e.g)
			conflicts++
			if err != nil {
				h.conflicts.Add(1)
			}
			if err := h.refresh(ctx, e, subject, err); err != nil {
				answerAll(retry, e.failed(unknown, err))
				return
			}
			pending = retry
			continue
		case err != nil:
			undo.Undo(&e.g)
			answerAll(retry, e.failed(unknown, fmt.Errorf("press on game %d: %w", id, err)))
			return
		}
		e.g.LastSeq = seq
		h.notify(e)
		for i, q := range accepted {
			q.answer(Click{ButtonClicked: clicks[i]}, nil)
		}
		for i, q := range refused {
			q.answer(Click{}, refusals[i])
		}
		if pending = later; len(pending) == 0 {
			return
		}
	}
	answerAll(pending, e.failed(unknown, ErrContention))
}

// staleRisk reports whether a refusal among refusals could be false on a
// state that misses events stored since: the deadline passed on a game
// still active, or the sequential rule. Ended games, cooldowns (events
// only add to them), bans and wrong guilds cannot turn that way.
func staleRisk(g *events.Game, refusals []*Rejection) bool {
	for _, r := range refusals {
		if r.Reason == ReasonSequential || r.Reason == ReasonGameOver && g.Active() {
			return true
		}
	}
	return false
}

// repeat repeats a write whose outcome is unknown until the store answers
// it, or ctx ends (then the error wraps ErrOutcomeUnknown).
func (h *Handler) repeat(ctx context.Context, subject string, publish func(context.Context) (uint64, bool, error), last error) (uint64, bool, error) {
	wait := 20 * time.Millisecond
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, false, fmt.Errorf("%w: %s: %v", ErrOutcomeUnknown, subject, last)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
		seq, dup, err := publish(ctx)
		if err == nil || errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrRefused) {
			if err == nil {
				h.log.Info("append outcome known", "subject", subject, "seq", seq, "duplicate", dup)
			}
			return seq, dup, err
		}
		last = err
	}
}

// notify tells the listeners a game's state (caller holds e.mu).
func (h *Handler) notify(e *gameEntry) {
	h.mu.RLock()
	listeners := h.listeners
	h.mu.RUnlock()
	change := GameChange{Game: e.g.Started.Game, Active: e.g.Active(), DeadlineMS: e.g.DeadlineMS()}
	for _, fn := range listeners {
		fn(change)
	}
}
