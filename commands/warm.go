package commands

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// After Open, the active games it learnt from their last event alone are
// read whole in the background: one read of the stream's game subjects in
// stream order (one consumer, deleted after), folding each event of those
// games into a state of its own, exactly as a full open did. A game is
// handed over to its entry once the read passes the last event Open saw
// of it: what the watch delivered for it meanwhile (held by the entry) is
// applied on top, and the game is complete without a read of its own. A
// first use of a game the read has not reached waits for it (warmWait at
// most, and only while the read looks like reaching it in that time);
// otherwise, or once the read failed, the game is read whole on its own as
// before.

// warmWait bounds how long a first use waits for the background read. A
// game's own read costs about as much as the whole background read on an
// interleaved stream (its events are spread over the whole store), and
// the bot defers its answer to a press that takes more than 1.5 s, so a
// first use waits rather long for a read that is getting there: as long
// as the read moves on (by warmStall at least) and looks like reaching
// the game within warmWait. Many games read on their own at once make the
// whole read crawl (measured: 65 s instead of 7 s at 1,000,000 events).
const (
	warmWait  = 30 * time.Second
	warmStall = 2 * time.Second
)

// warmRead is the background read of the games Open learnt from their
// last event.
type warmRead struct {
	began time.Time
	pos   atomic.Uint64 // the last sequence the read has passed
	done  chan struct{} // closed once every game is handed over or given up
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

// warmGame is one game the background read folds.
type warmGame struct {
	e      *gameEntry
	g      events.Game
	to     uint64 // the sequence of the last event Open saw of it
	clicks int64  // its clicks up to that event
	ok     bool   // every event so far fitted
}

// startWarm marks every game known only from its last event as read in the
// background and starts the read. It runs before Open lets the watch
// apply directly, so what the watch delivers from then on is held for the
// hand-over.
func (h *Handler) startWarm(ctx context.Context) {
	h.mu.RLock()
	entries := make([]*gameEntry, 0, len(h.games))
	for _, e := range h.games {
		entries = append(entries, e)
	}
	h.mu.RUnlock()
	games := make(map[events.GameID]*warmGame, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		if e.g.LastSeq == 0 && e.hint.active && !e.warming {
			e.warming, e.warmTo = true, e.hint.seq
			ch := make(chan struct{})
			e.warmed.Store(&ch)
			games[e.id] = &warmGame{e: e, to: e.hint.seq, clicks: e.hint.clicks, ok: true}
		}
		e.unlock()
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &warmRead{began: time.Now(), done: make(chan struct{}), stop: cancel}
	h.warm.Store(w)
	w.wg.Go(func() {
		defer close(w.done)
		defer cancel()
		h.runWarm(wctx, w, games)
	})
}

// runWarm reads the game subjects once and hands every game over.
func (h *Handler) runWarm(ctx context.Context, w *warmRead, games map[events.GameID]*warmGame) {
	total := len(games)
	if total == 0 {
		return
	}
	names := make(map[string]string)
	// Games held by a request when reached (the watch applying news, or a
	// request reading the game whole): the read does not wait for them,
	// it tries again as it goes on, and waits for them at the end.
	var busy []*warmGame
	err := h.store.Scan(ctx, events.GameSubjects, 1, func(r events.Recorded) bool {
		w.pos.Store(r.Seq)
		if len(busy) > 0 {
			busy = h.tryHandOver(busy)
		}
		id, _ := events.ParseGameSubject(r.Subject)
		wg := games[id]
		if wg == nil {
			return true
		}
		wg.fold(r, names)
		if r.Seq >= wg.to {
			busy = h.tryHandOver(append(busy, wg))
			delete(games, id)
		}
		return len(games) > 0
	})
	if err != nil {
		h.log.Warn("background read of the games stopped; the rest are read on first use",
			"err", err, "left", len(games), "of", total)
	}
	for _, wg := range games {
		wg.ok = wg.ok && err == nil // not read to the end: read on first use
		busy = append(busy, wg)
	}
	closing := ctx.Err() != nil
	for _, wg := range busy {
		switch {
		case !closing:
			wg.e.mu.Lock()
		case !wg.e.mu.TryLock():
			continue // closing: a game held now is read whole by its holder
		}
		h.handOver(wg)
	}
	h.log.Info("active games read in the background", "games", total, "whole_read", err == nil,
		"took", time.Since(w.began).Round(time.Millisecond))
}

// tryHandOver hands over the games of busy that are free and returns the
// others.
func (h *Handler) tryHandOver(busy []*warmGame) []*warmGame {
	left := busy[:0]
	for _, wg := range busy {
		if wg.e.mu.TryLock() {
			h.handOver(wg)
		} else {
			left = append(left, wg)
		}
	}
	return left
}

// fold applies one stored message to the game's state, as applyGame does,
// sharing the strings that repeat (players, guild) across clicks, with
// room made at the start for the clicks Open saw.
func (wg *warmGame) fold(r events.Recorded, names map[string]string) {
	if !wg.ok {
		return
	}
	if r.Err != nil {
		wg.g.LastSeq = max(wg.g.LastSeq, r.Seq)
		return
	}
	ev := r.Event
	if c, isClick := ev.(events.ButtonClicked); isClick {
		c.User, c.Guild, c.UserName = intern(names, c.User), intern(names, c.Guild), intern(names, c.UserName)
		ev = c
	}
	if err := wg.g.Apply(r.Seq, ev); err != nil {
		wg.ok = false
		return
	}
	if _, isStart := ev.(events.GameStarted); isStart {
		// The count comes from the game's last event: a stream that
		// claims a huge one (a damaged or hand-written event) makes no
		// huge allocation up front; past the cap the lists grow as usual.
		wg.g.Reserve(int(min(wg.clicks, maxReserve)))
	}
}

// maxReserve is the most clicks the background read makes room for at a
// game's start (about 20 MB of per-click state).
const maxReserve = 1 << 20

func intern(names map[string]string, s string) string {
	if v, ok := names[s]; ok {
		return v
	}
	names[s] = s
	return s
}

// handOver gives a game's state from the background read to its entry,
// with what the watch delivered on top, unless the entry was read whole
// meanwhile; a game whose events did not fit is left to be read on first
// use. The caller holds e.mu; handOver releases it.
func (h *Handler) handOver(wg *warmGame) {
	e := wg.e
	h.drain(e)
	if e.warming && wg.ok && e.g.LastSeq == 0 && wg.g.Exists() {
		wg.g.Compact()
		e.g = wg.g
		e.fresh = true
		// The last event Open saw may have come from a replica behind the
		// leader: the first decision confirms the last sequence there.
		e.check = true
		// The listeners heard of the held events from the hint already:
		// they are told only if the state says otherwise.
		for _, r := range e.held {
			h.foldGame(e, r)
		}
		if e.g.Active() != e.hint.active || e.g.Active() && e.g.DeadlineMS() != e.hint.deadlineMS {
			h.tell(GameChange{Game: e.id, Active: e.g.Active(), DeadlineMS: e.g.DeadlineMS()})
		}
	}
	h.endWarm(e)
	h.release(e)
}

// endWarm ends the background read's claim on a game: it was handed over,
// given up, or read whole on its own. The caller holds e.mu.
func (h *Handler) endWarm(e *gameEntry) {
	if !e.warming {
		return
	}
	e.warming, e.held = false, nil
	if ch := e.warmed.Load(); ch != nil {
		close(*ch)
	}
}

// awaitWarm waits, before a game's first use, for the background read to
// hand it over, if that read looks like reaching it within warmWait (it
// has moved on at a rate that covers the distance left), and while it
// keeps moving, and not past by (if not zero). It returns at once for a
// game already handed over or not in the read.
func (h *Handler) awaitWarm(ctx context.Context, e *gameEntry, by time.Time) {
	ch := e.warmed.Load()
	w := h.warm.Load()
	if ch == nil || w == nil {
		return
	}
	select {
	case <-*ch:
		return
	default:
	}
	if !w.reaches(e.warmTo, warmWait) {
		return
	}
	ctx, cancel := decideCtx(ctx, by)
	defer cancel()
	t := time.NewTimer(warmWait)
	defer t.Stop()
	tick := time.NewTicker(warmStall)
	defer tick.Stop()
	for last := w.pos.Load(); ; {
		select {
		case <-*ch:
			return
		case <-w.done:
			return
		case <-t.C:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			pos := w.pos.Load()
			if pos == last && pos != 0 {
				return // stalled: read the game on its own
			}
			last = pos
		}
	}
}

// reaches estimates whether the read passes sequence seq within d, from
// the rate it has read at so far.
func (w *warmRead) reaches(seq uint64, d time.Duration) bool {
	pos := w.pos.Load()
	if pos >= seq {
		return true
	}
	elapsed := time.Since(w.began)
	if pos == 0 || elapsed <= 0 {
		// Not started reading yet: the consumer is being set up.
		return elapsed < d/2
	}
	left := float64(seq-pos) * float64(elapsed) / float64(pos)
	return time.Duration(left) <= d
}

// Warmed is closed once the background read after Open has handed every
// game over (or given up on what it could not read); nil before Open.
func (h *Handler) Warmed() <-chan struct{} {
	w := h.warm.Load()
	if w == nil {
		return nil
	}
	return w.done
}

// stopWarm stops the background read and waits for it.
func (h *Handler) stopWarm() {
	if w := h.warm.Load(); w != nil {
		w.stop()
		w.wg.Wait()
	}
}

// ready brings a locked entry up to date before a decision: read on from
// its last sequence if it is not fresh, or if the background read handed
// it over and the stream leader has not confirmed its last sequence yet.
// The caller holds e.mu.
func (h *Handler) ready(ctx context.Context, e *gameEntry, subject string) error {
	if e.fresh && !e.check {
		return nil
	}
	if err := h.catchUp(ctx, e, subject); err != nil {
		return err
	}
	e.check = false
	return nil
}
