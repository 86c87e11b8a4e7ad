package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// maxAttempts bounds how often one request re-reads and re-decides after
// losing an optimistic race before it gives up with ErrContention.
const maxAttempts = 32

// Bounds of a request facing an unavailable store (a leader election, a
// lost connection, a restart).
const (
	// outcomeWait bounds how long an append whose outcome is unknown is
	// repeated (same event, same expected sequence, same message id)
	// until it is known; it stays inside the store's duplicate window.
	outcomeWait = 90 * time.Second
	// lockWait bounds how long a request waits for a game another request
	// holds (one that may be waiting out an unknown outcome).
	lockWait = 8 * time.Second
	// attemptTimeout bounds one append attempt while resolving.
	attemptTimeout = 2 * time.Second
)

// Click is an accepted press as the presser is told about it.
type Click struct {
	events.ButtonClicked
	// Duplicate is true when this interaction had been counted before:
	// nothing new was recorded and Click is the original click.
	Duplicate bool
}

// GameChange tells a listener that a game's state moved: started, clicked
// (a new deadline) or ended.
type GameChange struct {
	Game       events.GameID
	Active     bool
	DeadlineMS int64
}

// Stats counts what the handler did since it started.
type Stats struct {
	Conflicts uint64 // appends that lost an optimistic race and were retried
}

// Handler takes commands, decides them against in-memory state caught up
// from the store, and appends the decisions. It is safe for concurrent
// use; requests on one game are serialised inside one handler, and
// several handlers (in one process or many) may race on the same games:
// the store's expected-sequence check decides who wins, the loser catches
// up and decides again.
type Handler struct {
	store Store
	clock Clock
	log   *slog.Logger

	mu        sync.RWMutex
	games     map[events.GameID]*gameEntry
	guilds    map[string]*guildEntry
	listeners []func(GameChange)
	maxGame   atomic.Int64

	conflicts atomic.Uint64
	stopWatch func()
	whole     chan struct{}            // a token per game being read whole
	warm      atomic.Pointer[warmRead] // the background read after Open (warm.go)

	// While Open loads, what the watch delivers waits in pending.
	gateMu  sync.Mutex
	loading bool
	pending []events.Recorded
}

// gameLock is a mutex whose Lock can give up.
type gameLock chan struct{}

func (l gameLock) Lock()   { l <- struct{}{} }
func (l gameLock) Unlock() { <-l }

// held reports whether l is locked now.
func (l gameLock) held() bool { return len(l) > 0 }

// TryLock locks l if it is free, without waiting.
func (l gameLock) TryLock() bool {
	select {
	case l <- struct{}{}:
		return true
	default:
		return false
	}
}

// lockCtx locks l unless ctx ends or lockWait passes first.
func (l gameLock) lockCtx(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(lockWait)
	defer t.Stop()
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrContention
	}
}

type gameEntry struct {
	id    events.GameID
	mu    gameLock
	qmu   sync.Mutex
	queue []*queued // presses waiting for the game, in arrival order
	fresh bool      // state holds every event up to the point the watch took over
	g     events.Game
	// hint stands for the game until it is read (g.LastSeq == 0), when
	// Open learnt it from its last event alone.
	hint gameHint

	// What the watch delivered while the game was held: the holder
	// applies it (drain) before it decides, and on release. The watch
	// never waits for a game, so one game's slow append (an fsync) does
	// not hold up what every other game learns from other writers.
	imu   sync.Mutex
	inbox []events.Recorded

	// The background read after Open (warm.go): while warming, what the
	// watch delivers for the game not read yet is also held, to be
	// applied on top of the state the read hands over; warmed is closed
	// once it did (or gave up). check: the handed-over state's last
	// sequence is still to be confirmed by the stream leader.
	warming bool
	warmTo  uint64
	held    []events.Recorded
	warmed  atomic.Pointer[chan struct{}]
	check   bool

	// seen is g.LastSeq as of the last unlock of mu if the entry was then
	// caught up (fresh, confirmed, the game exists), else 0: LastSeq reads
	// it while mu is free instead of taking mu.
	seen atomic.Uint64
}

// unlock publishes the entry's last sequence (seen) and unlocks mu. Every
// holder of a game entry's mu unlocks it here.
func (e *gameEntry) unlock() {
	if e.fresh && !e.check && e.g.Exists() {
		e.seen.Store(e.g.LastSeq)
	} else {
		e.seen.Store(0)
	}
	e.mu.Unlock()
}

type guildEntry struct {
	mu    sync.Mutex
	fresh bool
	g     events.Guild
}

// NewHandler returns a handler on store. Call Open before use.
func NewHandler(store Store, clock Clock, log *slog.Logger) *Handler {
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		store:  store,
		clock:  clock,
		log:    log,
		games:  make(map[events.GameID]*gameEntry),
		guilds: make(map[string]*guildEntry),
		whole:  make(chan struct{}, wholeReads),
	}
}

// Open starts watching the store for events appended by others, then
// learns every game that has not ended from its last event alone (its
// deadline), so the timekeeper can arm it; a game's full state is read on
// its first use. A game whose last event does not tell its deadline (a
// message posted after its last click) is read whole now, a few at a time.
// What the watch delivers meanwhile is applied once that is done. It
// returns once every active game is known. The watch ends with ctx or
// Close.
func (h *Handler) Open(ctx context.Context) error {
	h.gateMu.Lock()
	h.loading = true
	h.gateMu.Unlock()
	defer h.openGate()
	stop, err := h.store.Watch(ctx, events.SubjectRoot, h.observeGated)
	if err != nil {
		return fmt.Errorf("open handler: %w", err)
	}
	h.stopWatch = stop
	if err := h.loadActive(ctx); err != nil {
		stop()
		return fmt.Errorf("open handler: %w", err)
	}
	h.startWarm(ctx)
	return nil
}

// openLoaders is how many games Open reads whole at a time.
const openLoaders = 8

// loadActive learns every game whose last event is not its end.
func (h *Handler) loadActive(ctx context.Context) error {
	began := time.Now()
	subjects, err := h.store.Subjects(ctx, events.GameSubjects)
	if err != nil {
		return err
	}
	list := make([]string, 0, len(subjects))
	for subject := range subjects {
		if id, ok := events.ParseGameSubject(subject); ok {
			h.raiseMaxGame(id)
			list = append(list, subject)
		}
	}
	var whole []events.GameID // deadline unknown from the last event
	err = h.store.Lasts(ctx, list, func(r events.Recorded) {
		id, _ := events.ParseGameSubject(r.Subject)
		hint, ok := hintOf(r)
		switch {
		case !ok:
			whole = append(whole, id)
		case hint.active:
			e := h.entry(id)
			e.mu.Lock()
			h.applyHint(e, hint)
			e.unlock()
		}
	})
	if err != nil {
		return err
	}
	if err := h.loadWhole(ctx, whole); err != nil {
		return err
	}
	h.log.Info("active games known", "games", len(list), "active", len(h.ActiveGames()),
		"read_whole", len(whole), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// loadWhole reads games whole, openLoaders at a time.
func (h *Handler) loadWhole(ctx context.Context, ids []events.GameID) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range min(openLoaders, len(ids)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ids) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				e := h.entry(ids[i])
				e.mu.Lock()
				errs[i] = h.catchUp(ctx, e, events.GameSubject(ids[i]))
				e.unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// gameHint is what a game's last event tells of it: whether it is active
// and its deadline. It stands for a game not read yet (g.LastSeq == 0),
// for the timekeeper; decisions always read the game whole first.
type gameHint struct {
	seq        uint64
	active     bool
	deadlineMS int64
	clicks     int64 // the game's clicks up to that event
}

// hintOf tells a game's status and deadline from its last event, if that
// event tells them: its start, a click decided here (value + time claimed
// is the duration, so the deadline is its time plus the duration) or its
// end. A click decided elsewhere (imported), a posted message or an
// undecodable message do not.
func hintOf(r events.Recorded) (gameHint, bool) {
	switch ev := r.Event.(type) {
	case events.GameStarted:
		return gameHint{seq: r.Seq, active: true, deadlineMS: ev.AtMS + ev.DurationMS}, true
	case events.ButtonClicked:
		if !ev.Imported.IsZero() || ev.ValueMS < 0 || ev.ClaimedMS < 0 {
			return gameHint{}, false
		}
		return gameHint{seq: r.Seq, active: true, deadlineMS: ev.AtMS + ev.ValueMS + ev.ClaimedMS, clicks: ev.Number}, true
	case events.GameEnded:
		return gameHint{seq: r.Seq}, true
	}
	return gameHint{}, false
}

// applyHint moves a game not read yet to what its newer event r tells,
// and tells the listeners. An event that does not tell the deadline (a
// posted message) leaves it: only clicks, starts and ends move it. The
// caller holds e.mu.
func (h *Handler) applyHint(e *gameEntry, hint gameHint) {
	if hint.seq <= e.hint.seq {
		return
	}
	e.hint = hint
	h.tell(GameChange{Game: e.id, Active: hint.active, DeadlineMS: hint.deadlineMS})
}

// observeHint applies what the watch delivers to a game not read yet.
// The caller holds e.mu.
func (h *Handler) observeHint(e *gameEntry, r events.Recorded) {
	if hint, ok := hintOf(r); ok {
		h.applyHint(e, hint)
		return
	}
	// A posted message (or a message that is not an event) moves neither
	// status nor deadline.
	e.hint.seq = max(e.hint.seq, r.Seq)
}

// tell calls the listeners with a change.
func (h *Handler) tell(change GameChange) {
	h.mu.RLock()
	listeners := h.listeners
	h.mu.RUnlock()
	for _, fn := range listeners {
		fn(change)
	}
}

// observeGated is the watch's callback: it holds what arrives while Open
// loads, and applies it otherwise.
func (h *Handler) observeGated(r events.Recorded) {
	h.gateMu.Lock()
	defer h.gateMu.Unlock()
	if h.loading {
		h.pending = append(h.pending, r)
		return
	}
	h.observe(r)
}

// openGate applies what the watch delivered while Open loaded, in order,
// and lets the watch apply directly from then on.
func (h *Handler) openGate() {
	h.gateMu.Lock()
	defer h.gateMu.Unlock()
	for _, r := range h.pending {
		h.observe(r)
	}
	h.pending, h.loading = nil, false
}

// Close stops the watch and the background read after Open, and waits
// for the latter. Requests in flight finish on their own contexts.
func (h *Handler) Close() {
	if h.stopWatch != nil {
		h.stopWatch()
	}
	h.stopWarm()
}

// Stats returns the handler's counters.
func (h *Handler) Stats() Stats { return Stats{Conflicts: h.conflicts.Load()} }

// OnChange registers fn to be called after every change of a game's state
// this handler sees. fn runs while the game is locked: it must be quick and
// must not call back into the handler.
func (h *Handler) OnChange(fn func(GameChange)) {
	h.mu.Lock()
	h.listeners = append(h.listeners, fn)
	h.mu.Unlock()
}

// ActiveGames returns every loaded game that is active, with its deadline.
func (h *Handler) ActiveGames() []GameChange {
	h.mu.RLock()
	entries := make(map[events.GameID]*gameEntry, len(h.games))
	for id, e := range h.games {
		entries[id] = e
	}
	h.mu.RUnlock()
	var out []GameChange
	for id, e := range entries {
		e.mu.Lock()
		h.drain(e)
		switch {
		case e.g.Active():
			out = append(out, GameChange{Game: id, Active: true, DeadlineMS: e.g.DeadlineMS()})
		case !e.g.Exists() && e.hint.active:
			out = append(out, GameChange{Game: id, Active: true, DeadlineMS: e.hint.deadlineMS})
		}
		h.release(e)
	}
	return out
}

// Game returns a copy of a game's summary state (not its per-player maps),
// caught up from the store, and whether it exists.
func (h *Handler) Game(ctx context.Context, id events.GameID) (events.Game, bool, error) {
	var out events.Game
	err := h.withGame(ctx, id, func(e *gameEntry) error {
		out = e.g.Summary()
		return nil
	})
	if errors.Is(err, errNoGame) {
		return events.Game{}, false, nil
	}
	return out, err == nil, err
}

// LastSeq returns the stream sequence of a game's latest event, caught up
// like Game, and whether the game exists. A reader of the views that must
// show the game as it is now (a repost) waits for the views to apply it
// (readmodel.Reader.WaitApplied) instead of reading the game here. A game
// caught up and not held, with nothing from the watch to apply, is
// answered without taking its lock.
func (h *Handler) LastSeq(ctx context.Context, id events.GameID) (uint64, bool, error) {
	if seq := h.seenSeq(id); seq > 0 {
		return seq, true, nil
	}
	var seq uint64
	err := h.withGame(ctx, id, func(e *gameEntry) error {
		seq = e.g.LastSeq
		return nil
	})
	if errors.Is(err, errNoGame) {
		return 0, false, nil
	}
	return seq, err == nil, err
}

// seenSeq returns what LastSeq would return for a game known to exist if
// it took the game's lock now, or 0 where that needs the lock: the game is
// not in memory, not caught up, held (its holder may append), or the
// watch delivered something for it not applied yet.
func (h *Handler) seenSeq(id events.GameID) uint64 {
	h.mu.RLock()
	e := h.games[id]
	h.mu.RUnlock()
	if e == nil || e.mu.held() {
		return 0
	}
	e.imu.Lock()
	pending := len(e.inbox) > 0
	e.imu.Unlock()
	if pending {
		return 0
	}
	// Published before the last unlock, which came before the lock was
	// seen free: the state as a holder taking the lock then would find it.
	return e.seen.Load()
}

func (h *Handler) raiseMaxGame(id events.GameID) {
	for {
		cur := h.maxGame.Load()
		if int64(id) <= cur || h.maxGame.CompareAndSwap(cur, int64(id)) {
			return
		}
	}
}

func (h *Handler) entry(id events.GameID) *gameEntry {
	h.mu.RLock()
	e := h.games[id]
	h.mu.RUnlock()
	if e != nil {
		return e
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e = h.games[id]; e == nil {
		e = &gameEntry{id: id, mu: make(gameLock, 1)}
		h.games[id] = e
	}
	return e
}

var errNoGame = errors.New("no such game")

// withGame runs fn with the game locked and caught up. A game that does
// not exist is not kept in memory (forged ids cost nothing) and gives
// errNoGame.
func (h *Handler) withGame(ctx context.Context, id events.GameID, fn func(*gameEntry) error) error {
	e := h.entry(id)
	h.awaitWarm(ctx, e, time.Time{})
	if err := e.mu.lockCtx(ctx); err != nil {
		return err
	}
	defer h.release(e)
	h.drain(e)
	if err := h.ready(ctx, e, events.GameSubject(id)); err != nil {
		return err
	}
	if !e.g.Exists() {
		h.mu.Lock()
		if h.games[id] == e {
			delete(h.games, id)
		}
		h.mu.Unlock()
		e.fresh = false
		return errNoGame
	}
	return fn(e)
}

// wholeReads is how many games may be read whole at once (a first use
// after Open, or a game whose deadlines passed while the service was
// down): each such read may hold a consumer on the stream while it runs.
const wholeReads = 64

// catchUp reads what the store has after the entry's last sequence and
// folds it in. The caller holds e.mu.
func (h *Handler) catchUp(ctx context.Context, e *gameEntry, subject string) error {
	if e.g.LastSeq == 0 {
		select {
		case h.whole <- struct{}{}:
			defer func() { <-h.whole }()
		case <-ctx.Done():
			return fmt.Errorf("catch up %s: %w", subject, ctx.Err())
		}
	}
	recs, err := h.store.Load(ctx, subject, e.g.LastSeq)
	if err != nil {
		return fmt.Errorf("catch up %s: %w", subject, err)
	}
	for _, r := range recs {
		h.applyGame(e, r)
	}
	e.fresh = true
	h.endWarm(e)
	return nil
}

// applyGame folds one stored message into a game entry (caller holds
// e.mu) and tells the listeners. A message that is not a valid event is
// stepped over; an event that does not fit the state leaves the entry
// stale, to be caught up from the store on next use.
func (h *Handler) applyGame(e *gameEntry, r events.Recorded) {
	if h.foldGame(e, r) {
		h.tell(GameChange{Game: e.g.Started.Game, Active: e.g.Active(), DeadlineMS: e.g.DeadlineMS()})
	}
}

// foldGame is applyGame without telling the listeners; it reports whether
// the event moved an existing game.
func (h *Handler) foldGame(e *gameEntry, r events.Recorded) bool {
	if r.Seq <= e.g.LastSeq {
		return false
	}
	if r.Err != nil {
		h.log.Warn("skipping undecodable message", "subject", r.Subject, "seq", r.Seq, "err", r.Err)
		e.g.LastSeq = r.Seq
		return false
	}
	if err := e.g.Apply(r.Seq, r.Event); err != nil {
		h.log.Error("event does not fit game state", "subject", r.Subject, "seq", r.Seq, "err", err)
		e.fresh = false
		return false
	}
	if !e.g.Exists() {
		return false
	}
	h.raiseMaxGame(e.g.Started.Game)
	return true
}

// observe applies what the watch delivers: other handlers' appends (ours
// are applied already and are skipped by sequence).
func (h *Handler) observe(r events.Recorded) {
	if id, ok := events.ParseGameSubject(r.Subject); ok {
		h.raiseMaxGame(id)
		h.mu.RLock()
		e := h.games[id]
		h.mu.RUnlock()
		if e == nil {
			if _, started := r.Event.(events.GameStarted); !started {
				return // not in memory: loaded from the store when needed
			}
			e = h.entry(id)
		}
		e.imu.Lock()
		e.inbox = append(e.inbox, r)
		e.imu.Unlock()
		if e.mu.TryLock() {
			h.drain(e)
			h.release(e)
		}
		return
	}
	if guild, ok := events.ParseGuildSubject(r.Subject); ok {
		h.mu.RLock()
		e := h.guilds[guild]
		h.mu.RUnlock()
		if e == nil {
			return
		}
		e.mu.Lock()
		if e.fresh {
			h.applyGuild(e, r)
		}
		e.mu.Unlock()
	}
}

// drain applies what the watch left in the entry's inbox, in order. The
// caller holds e.mu.
func (h *Handler) drain(e *gameEntry) {
	e.imu.Lock()
	recs := e.inbox
	e.inbox = nil
	e.imu.Unlock()
	for _, r := range recs {
		switch {
		case e.g.LastSeq == 0 && e.hint.seq > 0:
			h.observeHint(e, r) // not read yet: what it tells the timekeeper
			if e.warming {
				e.held = append(e.held, r)
			}
		case e.fresh || e.g.LastSeq == 0:
			h.applyGame(e, r)
			e.fresh = e.fresh || e.g.Exists()
		}
	}
}

// release unlocks e.mu, first applying what the watch delivered while it
// was held; what arrives during the unlock is applied by whoever holds the
// game next, or here if the game is still free.
func (h *Handler) release(e *gameEntry) {
	for {
		h.drain(e)
		e.unlock()
		e.imu.Lock()
		more := len(e.inbox) > 0
		e.imu.Unlock()
		if !more || !e.mu.TryLock() {
			return
		}
	}
}

// refresh brings an entry up to date after an append lost its race
// (conflict is the store's error): from what the watch delivered if that
// reached the subject's last sequence the store reported, otherwise with a
// read from the stream leader. Deciding on part of the news would only
// lose the next race too (an atomic batch that loses one costs as much as
// one that wins). The caller holds e.mu.
func (h *Handler) refresh(ctx context.Context, e *gameEntry, subject string, conflict error) error {
	h.drain(e)
	if last, ok := events.ConflictLast(conflict); ok && e.fresh && e.g.LastSeq >= last {
		return nil
	}
	return h.catchUp(ctx, e, subject)
}

func (h *Handler) applyGuild(e *guildEntry, r events.Recorded) {
	if r.Seq <= e.g.LastSeq {
		return
	}
	if r.Err != nil {
		h.log.Warn("skipping undecodable message", "subject", r.Subject, "seq", r.Seq, "err", r.Err)
		e.g.LastSeq = r.Seq
		return
	}
	if err := e.g.Apply(r.Seq, r.Event); err != nil {
		h.log.Error("event does not fit guild state", "subject", r.Subject, "seq", r.Seq, "err", err)
		e.g.LastSeq = r.Seq
	}
}

// withGuild runs fn with the guild's settings locked and caught up; a
// catch-up from the store ends at by too (if not zero).
func (h *Handler) withGuild(ctx context.Context, guild string, by time.Time, fn func(*guildEntry) error) error {
	h.mu.RLock()
	e := h.guilds[guild]
	h.mu.RUnlock()
	if e == nil {
		h.mu.Lock()
		if e = h.guilds[guild]; e == nil {
			e = &guildEntry{}
			h.guilds[guild] = e
		}
		h.mu.Unlock()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.fresh {
		cctx, cancel := decideCtx(ctx, by)
		err := h.catchUpGuild(cctx, e, guild)
		cancel()
		if err != nil {
			return err
		}
	}
	return fn(e)
}

func (h *Handler) catchUpGuild(ctx context.Context, e *guildEntry, guild string) error {
	subject := events.GuildSubject(guild)
	recs, err := h.store.Load(ctx, subject, e.g.LastSeq)
	if err != nil {
		return fmt.Errorf("catch up %s: %w", subject, err)
	}
	for _, r := range recs {
		h.applyGuild(e, r)
	}
	e.fresh = true
	return nil
}

// isBanned reads the guild's ban list, loading it on first use (by then,
// if by is not zero).
func (h *Handler) isBanned(ctx context.Context, guild, user string, by time.Time) (bool, error) {
	var banned bool
	err := h.withGuild(ctx, guild, by, func(e *guildEntry) error {
		banned = e.g.IsBanned(user)
		return nil
	})
	return banned, err
}

// failed is err as the caller sees it once an append's outcome was
// unknown: the entry is re-read on next use, and the error wraps
// ErrOutcomeUnknown. Without an unknown outcome it is err itself.
func (e *gameEntry) failed(unknown bool, err error) error {
	if !unknown {
		return err
	}
	e.fresh = false
	if errors.Is(err, ErrOutcomeUnknown) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
}

// appendGame appends an event decided by decide to a game, retrying on
// conflict: it catches up and decides again, at most maxAttempts times.
// decide returns nil to append nothing (its outcome is final). The
// caller holds e.mu.
//
// An append whose outcome is unknown (a timeout, a lost connection, a
// leader election) is repeated as it was, with the same message id, until
// the store says stored, duplicate (stored before) or conflict (not
// stored: another event took the place, and the catch-up shows whether it
// was this one), for at most outcomeWait and past the caller's context:
// such a request is never reported as failed while it may have been
// recorded. If the store stays away, the error wraps ErrOutcomeUnknown.
func (h *Handler) appendGame(ctx context.Context, e *gameEntry, msgID string, decide func() (events.Event, error)) (uint64, bool, error) {
	subject := events.GameSubject(e.g.Started.Game)
	unknown := false
	// Once an outcome is unknown the request goes on past the caller's
	// context, within outcomeWait of its start.
	detached, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeWait)
	defer cancel()
	for range maxAttempts {
		ev, err := decide()
		if err != nil || ev == nil {
			return 0, false, err
		}
		id := msgID
		if id == "" {
			id = newMsgID()
		}
		expect := e.g.LastSeq
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		seq, dup, err := h.store.Append(actx, subject, ev, expect, id)
		acancel()
		if err != nil && !errors.Is(err, events.ErrConflict) && !errors.Is(err, events.ErrRefused) {
			unknown, ctx = true, detached
			h.log.Warn("append outcome unknown, repeating it", "subject", subject, "expect", expect, "msg_id", id, "err", err)
			seq, dup, err = h.resolve(ctx, subject, ev, expect, id, err)
		}
		switch {
		case errors.Is(err, events.ErrConflict):
			h.conflicts.Add(1)
			if err := h.refresh(ctx, e, subject, err); err != nil {
				return 0, false, e.failed(unknown, err)
			}
			continue
		case err != nil:
			return 0, false, e.failed(unknown, err)
		case dup:
			// Stored before (a retried write): read it back, nothing new —
			// unless the earlier write was this request's own, whose
			// outcome was unknown: then this is its event.
			if err := h.catchUp(ctx, e, subject); err != nil {
				return 0, false, e.failed(unknown, err)
			}
			return seq, !unknown, nil
		}
		h.applyGame(e, events.Recorded{Seq: seq, Subject: subject, Event: ev})
		return seq, false, nil
	}
	return 0, false, e.failed(unknown, ErrContention)
}

// appendKnown appends ev with message id msgID (which must not be empty)
// and, if the outcome is unknown, repeats the same append past ctx, within
// outcomeWait, until the store answers it (see resolve). unknown reports
// that an attempt's outcome was unknown, so that a duplicate answer means
// this request's own earlier attempt.
func (h *Handler) appendKnown(ctx context.Context, subject string, ev events.Event, expect uint64, msgID string) (seq uint64, dup, unknown bool, err error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	seq, dup, err = h.store.Append(actx, subject, ev, expect, msgID)
	cancel()
	if err == nil || errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrRefused) {
		return seq, dup, false, err
	}
	h.log.Warn("append outcome unknown, repeating it", "subject", subject, "expect", expect, "msg_id", msgID, "err", err)
	detached, dcancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeWait)
	defer dcancel()
	seq, dup, err = h.resolve(detached, subject, ev, expect, msgID, err)
	return seq, dup, true, err
}

// resolve repeats an append whose outcome is unknown until the store
// answers it, or ctx ends (then the error wraps ErrOutcomeUnknown).
func (h *Handler) resolve(ctx context.Context, subject string, ev events.Event, expect uint64, msgID string, last error) (uint64, bool, error) {
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
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		seq, dup, err := h.store.Append(actx, subject, ev, expect, msgID)
		cancel()
		if err == nil || errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrRefused) {
			if err == nil {
				h.log.Info("append outcome known", "subject", subject, "seq", seq, "duplicate", dup)
			}
			return seq, dup, err
		}
		last = err
	}
}

// newMsgID is a message id for an append that has none of its own, so that
// repeating it stores it at most once.
func newMsgID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "w-" + hex.EncodeToString(b[:])
}

// Press decides a press and, if accepted, records the click. A refusal is
// a *Rejection; the same interaction pressed again returns the original
// click with Duplicate set. A press whose decision could not start by its
// DecideBy returns an error wrapping ErrShed, nothing recorded. It blocks
// for at most a few store round trips.
func (h *Handler) Press(ctx context.Context, p Press) (Click, error) {
	if rej := validatePress(p); rej != nil {
		return Click{}, rej
	}
	if p.At.IsZero() {
		p.At = h.clock.Now()
	}
	if p.late() {
		return Click{}, fmt.Errorf("press on game %d: %w", p.Game, ErrShed)
	}
	banned, err := h.isBanned(ctx, p.Guild, p.User, p.DecideBy)
	if err != nil {
		if ctx.Err() == nil && p.late() {
			err = ErrShed // the ban list took the time of the decision
		}
		return Click{}, fmt.Errorf("press on game %d: %w", p.Game, err)
	}
	out, err := h.pressQueued(ctx, p, banned)
	if err != nil {
		if _, ok := AsRejection(err); ok {
			return Click{}, err
		}
		return Click{}, fmt.Errorf("press on game %d: %w", p.Game, err)
	}
	return out, nil
}

// Expire ends a game at its deadline if the deadline has passed. It
// reports whether the game is over (ended now or before) and, if not, its
// current deadline.
//
// Presses queued on the game and stamped before now are decided first, in
// order, as their holder would have (GAME-RULES §2: a press's stamp alone
// decides expiry, so one received before the deadline is not refused
// because the end got the game first); the expiry is then decided against
// the state they leave.
func (h *Handler) Expire(ctx context.Context, id events.GameID) (over bool, deadlineMS int64, err error) {
	err = h.withGame(ctx, id, func(e *gameEntry) error {
		now := h.clock.Now()
		h.decideQueued(ctx, e, now)
		_, _, err := h.appendGame(ctx, e, fmt.Sprintf("end-%d", id), func() (events.Event, error) {
			end, ok := DecideExpire(&e.g, e.g.Now(ms(now)))
			if !ok {
				return nil, nil
			}
			return end, nil
		})
		over, deadlineMS = !e.g.Active(), e.g.DeadlineMS()
		return err
	})
	if errors.Is(err, errNoGame) {
		return true, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("expire game %d: %w", id, err)
	}
	return over, deadlineMS, nil
}

// Aborted is an accepted abort: the end recorded and what the clock still
// showed when the game was stopped.
type Aborted struct {
	events.GameEnded
	// LeftMS is the time that was left on the clock at the abort.
	LeftMS int64
}

// Abort stops an active game before its deadline and returns the end.
//
// Presses queued on the game and stamped before the abort's time are
// decided first, in order, as in Expire (GAME-RULES §2: a press's stamp
// alone decides its order, so one received before the abort is not refused
// because the abort got the game first); presses stamped at or after it
// are refused as stopped by an admin. The end is recorded at the abort's
// time, with what the clock showed after those presses.
func (h *Handler) Abort(ctx context.Context, a Abort) (Aborted, error) {
	if a.At.IsZero() {
		a.At = h.clock.Now()
	}
	if !events.ValidID(a.Guild) || !events.ValidID(a.By) {
		return Aborted{}, &Rejection{Reason: ReasonInvalid, Game: a.Game, Detail: "guild and admin must be Discord ids"}
	}
	var out Aborted
	err := h.withGame(ctx, a.Game, func(e *gameEntry) error {
		h.decideQueued(ctx, e, a.At)
		_, _, err := h.appendGame(ctx, e, "", func() (events.Event, error) {
			end, rej := DecideAbort(&e.g, a, e.g.Now(ms(a.At)))
			if rej != nil {
				return nil, rej
			}
			out = Aborted{GameEnded: end, LeftMS: events.Remaining(e.g.DeadlineMS(), end.AtMS)}
			return end, nil
		})
		return err
	})
	if errors.Is(err, errNoGame) {
		return Aborted{}, &Rejection{Reason: ReasonNoSuchGame, Game: a.Game}
	}
	return out, err
}

// PostMessage records the Discord message that shows a game. Recording the
// message already recorded appends nothing.
func (h *Handler) PostMessage(ctx context.Context, m PostMessage) error {
	if m.At.IsZero() {
		m.At = h.clock.Now()
	}
	if !events.ValidID(m.Channel) || !events.ValidID(m.MessageID) {
		return &Rejection{Reason: ReasonInvalid, Game: m.Game, Detail: "channel and message must be Discord ids"}
	}
	err := h.withGame(ctx, m.Game, func(e *gameEntry) error {
		_, _, err := h.appendGame(ctx, e, "", func() (events.Event, error) {
			if e.g.MessageChannel == m.Channel && e.g.MessageID == m.MessageID {
				return nil, nil
			}
			return events.GameMessagePosted{Game: m.Game, Channel: m.Channel, MessageID: m.MessageID,
				AtMS: e.g.Now(ms(m.At))}, nil
		})
		return err
	})
	if errors.Is(err, errNoGame) {
		return &Rejection{Reason: ReasonNoSuchGame, Game: m.Game}
	}
	return err
}
