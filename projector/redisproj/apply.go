package redisproj

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/events"
)

// errConflict means a slot's checkpoint moved between the read and the
// write of a batch (another writer, a reset): the batch is read again.
var errConflict = errors.New("redis projection: checkpoint moved")

// maxConflicts bounds how often one Apply reads again after a conflict.
const maxConflicts = 5

// Apply writes a batch in three round trips: it reads what the batch
// touches (one pipeline), folds the batch in Go by the rules of
// events.Game, then writes each game's share with that game's checkpoint
// and the cross-game share with its checkpoint (one pipeline of scripts,
// each a compare-and-set on its checkpoint), and last moves the position.
// Messages at or below a checkpoint change nothing, so a batch may be
// applied again after any failure. Messages that are not events, events
// this projection does not use and events the fold of their game refuses
// only move the position. It returns an error wrapping ErrFlushed if Redis
// lost the projection (see ErrFlushed).
func (s *Sink) Apply(ctx context.Context, batch []events.Recorded) error {
	if len(batch) == 0 {
		return nil
	}
	recs := inOrder(batch)
	first, last := recs[0].Seq, recs[len(recs)-1].Seq
	var err error
	for range maxConflicts {
		if err = s.applyOnce(ctx, recs); !errors.Is(err, errConflict) {
			break
		}
		s.conflicts.Add(1)
	}
	if err != nil {
		return fmt.Errorf("redis projection: apply %d–%d: %w", first, last, err)
	}
	return nil
}

// outcome is what the fold of its game made of one message of a batch.
type outcome uint8

const (
	// notGame: not an event of a game; the cross-game fold decides what
	// it writes.
	notGame outcome = iota
	// applied: folded by this batch; its game's writes are in this batch
	// and its cross-game share is due.
	applied
	// appliedBefore: at or below its game's checkpoint and applied
	// (validly) by an earlier batch, which may have stopped before
	// writing the cross-game share: that share is due if the cross-game
	// checkpoint is below it.
	appliedBefore
	// skipped: at or below its game's checkpoint and refused then (or a
	// game message, which has no cross-game share): nothing to write.
	skipped
	// refused: the game's history refuses it (a click out of order, a
	// second start or end): only its game's checkpoint moves; logged.
	refused
	// noGame: its game does not exist: nothing is written; logged.
	noGame
)

// crossGameDue reports whether a game event's cross-game share is written.
func (o outcome) crossGameDue() bool { return o == applied || o == appliedBefore }

// ignoredWhy says why a message of this outcome changes nothing although
// it is an event ("" if it is not ignored): such messages are logged.
func (o outcome) ignoredWhy() string {
	switch o {
	case refused:
		return "the game's history refuses it"
	case noGame:
		return "the game does not exist"
	}
	return ""
}

// appliedIf is the outcome of a message at or below its game's
// checkpoint: appliedBefore if it was applied then (valid), else skipped.
func appliedIf(valid bool) outcome {
	if valid {
		return appliedBefore
	}
	return skipped
}

// A batch message's part in the plan.
type item struct {
	r   events.Recorded
	run int // its game's run, -1 if not a game event
	out outcome
	// Set by the game fold for clicks: the click record and whether it
	// was the player's first click in the game.
	rec       string
	newInGame bool
}

// gameRun is the share of a batch that belongs to one game, and what is
// read of the game for it.
type gameRun struct {
	id    events.GameID
	items []int    // batch indexes, in order
	users []string // distinct clicking users, in order
	hours []string // hour buckets the run's clicks fall in, in order
	seen  map[string]bool

	game    *redis.MapStringStringCmd
	players *redis.SliceCmd
	lowEdge *redis.ZSliceCmd
	hourCnt *redis.SliceCmd
	dups    map[int64]*redis.StringCmd // click number → its stored record
}

// questKey names a monthly board: a guild and a month (YYYYMM).
type questKey struct{ guild, month string }

// questRun is the share of a batch that clicks on one monthly board.
type questRun struct {
	key   questKey
	users []string // distinct clicking users, in order
	seen  map[string]bool
	read  *redis.SliceCmd // the users' records, then _claimed and _clicks
}

// plan is a batch sorted by game and by monthly board, with what is read
// for it.
type plan struct {
	items    []item
	runs     []*gameRun
	quests   []*questRun
	globalCk *redis.StringCmd
	lowEdge  *redis.ZSliceCmd // the global lowest clicks' rank LowestCap−1
}

// ops is a command list for apply.lua.
type ops []any

func (o *ops) add(cmd, suffix string, stride int, args ...any) {
	if len(args) == 0 {
		return
	}
	*o = append(*o, cmd, suffix, stride, len(args))
	*o = append(*o, args...)
}

// applyOnce reads what the batch touches, folds it and writes it; it
// returns an error wrapping errConflict if a checkpoint moved meanwhile.
func (s *Sink) applyOnce(ctx context.Context, recs []events.Recorded) error {
	p := newPlan(recs)
	if err := s.read(ctx, p); err != nil {
		return err
	}
	globalCk, err := parseCk(p.globalCk)
	if err != nil {
		return err
	}
	if err := s.readAppliedBefore(ctx, p, globalCk); err != nil {
		return err
	}
	var calls []scriptCall
	for _, run := range p.runs {
		call, err := s.foldGame(run, p.items)
		if err != nil {
			return fmt.Errorf("game %d: %w", run.id, err)
		}
		if call != nil {
			calls = append(calls, *call)
		}
	}
	call, err := s.foldCrossGame(p, globalCk, recs[0].Seq)
	if err != nil {
		return err
	}
	if call != nil {
		calls = append(calls, *call)
	}
	if err := s.write(ctx, calls, recs[0].Seq, recs[len(recs)-1].Seq); err != nil {
		return err
	}
	for _, it := range p.items {
		if why := it.out.ignoredWhy(); why != "" {
			s.log.Warn("event ignored", "seq", it.r.Seq, "subject", it.r.Subject, "type", it.r.Event.EventType(), "why", why)
		}
	}
	return nil
}

// newPlan sorts a batch by game and monthly board.
func newPlan(recs []events.Recorded) *plan {
	p := &plan{items: make([]item, len(recs))}
	byGame := map[events.GameID]int{}
	byQuest := map[questKey]*questRun{}
	for i, r := range recs {
		p.items[i] = item{r: r, run: -1}
		id, ok := gameEvent(r)
		if !ok {
			continue
		}
		ri, seen := byGame[id]
		if !seen {
			ri = len(p.runs)
			byGame[id] = ri
			p.runs = append(p.runs, &gameRun{id: id, seen: map[string]bool{}})
		}
		run := p.runs[ri]
		p.items[i].run = ri
		run.items = append(run.items, i)
		c, ok := r.Event.(events.ButtonClicked)
		if !ok {
			continue
		}
		run.users = appendNew(run.users, run.seen, c.User)
		if h := strconv.FormatInt(c.AtMS/3600000, 10); !slices.Contains(run.hours, h) {
			run.hours = append(run.hours, h) // a batch spans few hours
		}
		qk := questKey{c.Guild, monthKey(c.AtMS)}
		q := byQuest[qk]
		if q == nil {
			q = &questRun{key: qk, seen: map[string]bool{}}
			byQuest[qk] = q
			p.quests = append(p.quests, q)
		}
		q.users = appendNew(q.users, q.seen, c.User)
	}
	return p
}

// appendNew appends v to list unless seen has it, and marks it seen.
func appendNew(list []string, seen map[string]bool, v string) []string {
	if seen[v] {
		return list
	}
	seen[v] = true
	return append(list, v)
}

// read reads what the batch touches in one round trip.
func (s *Sink) read(ctx context.Context, p *plan) error {
	pipe := s.rdb.Pipeline()
	for _, run := range p.runs {
		run.game = pipe.HGetAll(ctx, s.k.game(run.id))
		if len(run.users) > 0 {
			run.players = pipe.HMGet(ctx, s.k.players(run.id), run.users...)
			run.lowEdge = pipe.ZRangeWithScores(ctx, s.k.low(run.id), LowestCap-1, LowestCap-1)
			run.hourCnt = pipe.HMGet(ctx, s.k.hours(run.id), run.hours...)
		}
	}
	p.globalCk = pipe.HGet(ctx, s.k.meta(), "ck")
	p.lowEdge = pipe.ZRangeWithScores(ctx, s.k.globalLow(), LowestCap-1, LowestCap-1)
	for _, q := range p.quests {
		q.read = pipe.HMGet(ctx, s.k.quest(q.key.guild, q.key.month), append(slices.Clone(q.users), "_claimed", "_clicks")...)
	}
	return translate("read", execErr(ctx, pipe))
}

// readAppliedBefore reads the stored records of the clicks at or below
// their game's checkpoint but above the cross-game one: an interrupted
// batch applied them to the game, and whether they were valid then
// decides whether their cross-game share is due.
func (s *Sink) readAppliedBefore(ctx context.Context, p *plan, globalCk uint64) error {
	var pipe redis.Pipeliner
	for _, run := range p.runs {
		ck, err := strconv.ParseUint(cmp.Or(run.game.Val()["ck"], "0"), 10, 64)
		if err != nil {
			return fmt.Errorf("game %d checkpoint: %w", run.id, err)
		}
		for _, i := range run.items {
			c, ok := p.items[i].r.Event.(events.ButtonClicked)
			if !ok || p.items[i].r.Seq > ck || p.items[i].r.Seq <= globalCk {
				continue
			}
			if pipe == nil {
				pipe = s.rdb.Pipeline()
			}
			if run.dups == nil {
				run.dups = map[int64]*redis.StringCmd{}
			}
			run.dups[c.Number] = pipe.LIndex(ctx, s.k.clicks(run.id), c.Number-1)
		}
	}
	if pipe == nil {
		return nil
	}
	return translate("read", execErr(ctx, pipe))
}

// write runs the batch's scripts, then moves the position to last.
func (s *Sink) write(ctx context.Context, calls []scriptCall, first, last uint64) error {
	if len(calls) > 0 {
		for _, err := range s.run(ctx, calls) {
			switch {
			case err == nil:
			case redis.HasErrorPrefix(err, "FLUSHED"):
				return fmt.Errorf("%w (%v)", ErrFlushed, err)
			case redis.HasErrorPrefix(err, "CONFLICT"):
				return fmt.Errorf("%w: %v", errConflict, err)
			default:
				return err
			}
		}
	}
	err := s.run(ctx, []scriptCall{{script: s.position, keys: []string{s.k.pos()},
		args: []any{strconv.FormatUint(first, 10), strconv.FormatUint(last, 10), s.k.applied()}}})[0]
	if redis.HasErrorPrefix(err, "FLUSHED") {
		return fmt.Errorf("%w (%v)", ErrFlushed, err)
	}
	return err
}

type zMember struct {
	value  int64
	member string
}

// zEdge returns the member read at rank LowestCap−1 and whether there was
// one (the set is full).
func zEdge(z []redis.Z) (zMember, bool) {
	if len(z) == 0 {
		return zMember{}, false
	}
	m, _ := z[0].Member.(string)
	return zMember{int64(z[0].Score), m}, true
}

func parseCk(cmd *redis.StringCmd) (uint64, error) {
	v, err := cmd.Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, translate("read checkpoint", err)
	}
	return strconv.ParseUint(v, 10, 64)
}

func ckString(ck uint64) string {
	if ck == 0 {
		return ""
	}
	return strconv.FormatUint(ck, 10)
}

// gameEvent reports whether a message is an event of the game of its
// subject, and which game.
func gameEvent(r events.Recorded) (events.GameID, bool) {
	if r.Err != nil || r.Event == nil {
		return 0, false
	}
	id, ok := events.ParseGameSubject(r.Subject)
	if !ok {
		return 0, false
	}
	var of events.GameID
	switch e := r.Event.(type) {
	case events.GameStarted:
		of = e.Game
	case events.ButtonClicked:
		of = e.Game
	case events.GameEnded:
		of = e.Game
	case events.GameMessagePosted:
		of = e.Game
	}
	return id, of == id
}
