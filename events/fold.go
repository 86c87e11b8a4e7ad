package events

import (
	"fmt"
	"iter"
	"slices"
	"strconv"
)

// Status is a game's lifecycle state.
type Status string

// Game statuses.
const (
	StatusActive  Status = "active"
	StatusEnded   Status = "ended"   // the clock ran out
	StatusAborted Status = "aborted" // an admin stopped it
)

// PlayerState is what the rules need to know of one player in one game.
type PlayerState struct {
	Clicks      int64
	LastClickMS int64
	LastNumber  int64 // number of the player's last click
}

// Game is the fold of one game's events. The zero value is a game that does
// not exist yet; Apply builds it up event by event. A Game is not safe for
// concurrent use.
//
// A command handler keeps one Game per active game in memory, so what it
// keeps is compact: per click its time, who made it (for the sequential
// rule and to rebuild the click) and its interaction id (so the same
// interaction is never counted twice, and a repeat is answered with the
// original click, see Counted); per player its last click and its count
// (Player).
type Game struct {
	Started GameStarted // the opening event; Started.Game == 0 until applied

	Status      Status
	Clicks      int64
	LastClickMS int64 // time of the last click, the start time before any
	LastEventMS int64 // time of the newest event: times never go backwards
	LastSeq     uint64

	// Last is the latest click (zero before the first).
	Last ButtonClicked

	MessageChannel string
	MessageID      string

	Ended GameEnded // set once the game ended or was aborted

	clicks clickLog
}

// clickLog is what a Game keeps of its clicks and players. Per click
// (index = number − 1) it keeps 20 bytes; per player 24 bytes and a map
// entry keyed by a number.
//
// A player is known by a key: a user id written as a canonical decimal
// below 2⁶³ (a Discord snowflake) by its value, any other by textKey | its
// index in texts. An interaction id written as a canonical decimal is kept
// as its value in ids, any other in strIDs.
type clickLog struct {
	at     []int64  // each click's time
	by     []uint32 // who made each click: an index into idents
	idents []ident  // each (player, name) a click was made under, in order of first use

	players map[uint64]player // by key
	users   map[string]uint64 // the key of each user id that is not a number
	texts   []string          // those user ids, by key &^ textKey

	// ids holds each click's interaction id if it is a number larger than
	// every one before it, else the largest before it (0: none): it never
	// decreases, so a counted id is found by binary search, its first
	// occurrence's index being its click's number − 1. Numeric ids that
	// came out of order are in late, other ids in strIDs, each mapped to
	// its click's number.
	ids    []uint64
	late   map[uint64]int64
	strIDs map[string]int64

	// odd holds, by number, the clicks with an interaction id that
	// rebuild (see Game.rebuild) does not give back exactly, whole: a
	// click decided elsewhere, or by other arithmetic.
	odd map[int64]ButtonClicked
}

// ident is a player under one name.
type ident struct {
	user uint64 // the player's key
	name string
}

// player is one player's state: the number of its last click and how many
// it made.
type player struct{ last, clicks uint32 }

// textKey marks the key of a user id that is not a canonical decimal below
// 2⁶³; the other bits are its index in clickLog.texts.
const textKey = uint64(1) << 63

// maxClicks bounds a game's click numbers: a player's state keeps them in
// 32 bits.
const maxClicks = 1<<32 - 1

// idKey returns s as a number if it is one written the canonical way
// (decimal digits, no leading zero), so that formatting the number gives s
// back.
func idKey(s string) (uint64, bool) {
	if s == "" || s[0] == '0' || len(s) > 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// key returns user's key, and whether user has one (a numeric id always
// has; another only once the game has seen it).
func (l *clickLog) key(user string) (uint64, bool) {
	if k, ok := idKey(user); ok && k < textKey {
		return k, true
	}
	k, ok := l.users[user]
	return k, ok
}

// addKey returns user's key, giving a user id that is not a number one if
// it had none.
func (l *clickLog) addKey(user string) uint64 {
	if k, ok := l.key(user); ok {
		return k
	}
	k := textKey | uint64(len(l.texts))
	l.texts = append(l.texts, user)
	if l.users == nil {
		l.users = make(map[string]uint64)
	}
	l.users[user] = k
	return k
}

// user returns the user id of key k.
func (l *clickLog) user(k uint64) string {
	if k&textKey != 0 {
		return l.texts[k&^textKey]
	}
	return strconv.FormatUint(k, 10)
}

// number returns the number of the click that counted interaction id.
func (l *clickLog) number(id string) (int64, bool) {
	k, ok := idKey(id)
	if !ok {
		n, seen := l.strIDs[id]
		return n, seen
	}
	if n, seen := l.late[k]; seen {
		return n, true
	}
	if i, found := slices.BinarySearch(l.ids, k); found {
		return int64(i) + 1, true
	}
	return 0, false
}

// count records click n's interaction id (empty: none) as the next entry
// of ids, and in late or strIDs if it cannot go there.
func (l *clickLog) count(id string, n int64) {
	var top uint64
	if len(l.ids) > 0 {
		top = l.ids[len(l.ids)-1]
	}
	k, numeric := idKey(id)
	switch {
	case numeric && k > top:
		l.ids = append(l.ids, k)
		return
	case numeric:
		if l.late == nil {
			l.late = make(map[uint64]int64)
		}
		l.late[k] = n
	case id != "":
		if l.strIDs == nil {
			l.strIDs = make(map[string]int64)
		}
		l.strIDs[id] = n
	}
	l.ids = append(l.ids, top)
}

// Counted reports whether interaction id was counted, and returns its
// click as it was stored.
func (g *Game) Counted(id string) (ButtonClicked, bool) {
	if id == "" {
		return ButtonClicked{}, false
	}
	n, ok := g.clicks.number(id)
	if !ok {
		return ButtonClicked{}, false
	}
	if c, ok := g.clicks.odd[n]; ok {
		return c, true
	}
	c := g.rebuild(n)
	c.User = g.clicks.user(g.clicks.idents[g.clicks.by[n-1]].user)
	c.Interaction = id
	return c, true
}

// rebuild returns click n (1 ≤ n ≤ Clicks) from the click log, with every
// figure as DecidePress computes it: the value is what was left of the
// clock set by the click before (or the start), the rest follows from the
// value and the duration. User and Interaction are left empty.
func (g *Game) rebuild(n int64) ButtonClicked {
	l := &g.clicks
	i := n - 1
	prev := g.Started.AtMS
	if i > 0 {
		prev = l.at[i-1]
	}
	d := g.Started.DurationMS
	at := l.at[i]
	v := Remaining(prev+d, at)
	who := l.idents[l.by[i]]
	return ButtonClicked{Game: g.Started.Game, Guild: g.Started.Guild, Number: n, UserName: who.name,
		AtMS: at, ValueMS: v, Band: int(BandOf(v, d)), ClaimedMS: Claimed(v, d), MMRMilli: MMRMilli(v, d)}
}

// Player returns what the game knows of user, and false if user never
// clicked in it.
func (g *Game) Player(user string) (PlayerState, bool) {
	l := &g.clicks
	k, ok := l.key(user)
	if !ok {
		return PlayerState{}, false
	}
	p, ok := l.players[k]
	if !ok {
		return PlayerState{}, false
	}
	return l.state(p), true
}

func (l *clickLog) state(p player) PlayerState {
	return PlayerState{Clicks: int64(p.clicks), LastClickMS: l.at[p.last-1], LastNumber: int64(p.last)}
}

// PlayerCount returns how many distinct players clicked in the game.
func (g *Game) PlayerCount() int { return len(g.clicks.players) }

// Players yields every player who clicked in the game, with its state, in
// no particular order.
func (g *Game) Players() iter.Seq2[string, PlayerState] {
	return func(yield func(string, PlayerState) bool) {
		l := &g.clicks
		for k, p := range l.players {
			if !yield(l.user(k), l.state(p)) {
				return
			}
		}
	}
}

// Reserve makes room for the game to reach clicks clicks without growing
// its per-click state, for a reader that knows how many it will apply.
func (g *Game) Reserve(clicks int) {
	l := &g.clicks
	if clicks > cap(l.at) {
		l.at, l.by, l.ids = withCap(l.at, clicks), withCap(l.by, clicks), withCap(l.ids, clicks)
	}
}

// Compact lets the game's per-click and per-player lists take no more
// memory than they hold (appending grows them by up to twice), for a game
// kept long after it was read. The next click grows them again.
func (g *Game) Compact() {
	l := &g.clicks
	l.at, l.by, l.ids = exact(l.at), exact(l.by), exact(l.ids)
	l.idents, l.texts = exact(l.idents), exact(l.texts)
}

// exact returns s, copied to an array of its length unless it fills its
// own.
func exact[S ~[]E, E any](s S) S {
	if cap(s) == len(s) {
		return s
	}
	if len(s) == 0 {
		return nil
	}
	return withCap(s, len(s))
}

// withCap returns a copy of s with capacity n ≥ len(s).
func withCap[S ~[]E, E any](s S, n int) S {
	return append(S(make([]E, 0, n)), s...)
}

// Summary returns a copy of g without its per-player and per-click state,
// so that the copy shares nothing with g: it has no players, it counts no
// interaction and DistinctOthersSince finds nobody.
func (g *Game) Summary() Game {
	out := *g
	out.clicks = clickLog{}
	return out
}

// Exists reports whether the game has started.
func (g *Game) Exists() bool { return g.Started.Game != 0 }

// DurationMS is the full length of the clock.
func (g *Game) DurationMS() int64 { return g.Started.DurationMS }

// DeadlineMS is the last click time (or the start) plus the duration.
func (g *Game) DeadlineMS() int64 { return g.LastClickMS + g.Started.DurationMS }

// Active reports whether the game has started and has not ended or been
// aborted. An active game may already be past its deadline: it ends at the
// deadline whether or not the end is recorded yet.
func (g *Game) Active() bool { return g.Exists() && g.Status == StatusActive }

// Now returns t, or the time of the game's newest event if t is earlier:
// within a game, times never go backwards (GAME-RULES §2).
func (g *Game) Now(tMS int64) int64 { return max(tMS, g.LastEventMS) }

// DistinctOthersSince counts the distinct players other than user who
// clicked after click number n, stopping once it reaches limit.
func (g *Game) DistinctOthersSince(user string, n int64, limit int) int {
	if limit <= 0 {
		return 0
	}
	l := &g.clicks
	self, known := l.key(user)
	seen := make(map[uint64]struct{}, limit)
	for i := int64(len(l.by)) - 1; i >= n; i-- {
		u := l.idents[l.by[i]].user
		if known && u == self {
			continue
		}
		seen[u] = struct{}{}
		if len(seen) >= limit {
			break
		}
	}
	return len(seen)
}

// Apply folds one event of this game's subject into the state. seq is its
// stream sequence; events at or below LastSeq are skipped, so applying the
// same event twice changes nothing. An event that cannot follow the state
// (a click before the start, a second start, another game's event) is an
// error and leaves the state unchanged.
func (g *Game) Apply(seq uint64, e Event) error {
	if seq != 0 && seq <= g.LastSeq {
		return nil
	}
	if err := g.apply(e); err != nil {
		return err
	}
	if seq != 0 {
		g.LastSeq = seq
	}
	return nil
}

func (g *Game) apply(e Event) error {
	switch e := e.(type) {
	case GameStarted:
		if g.Exists() {
			return fmt.Errorf("fold: game %d started twice", e.Game)
		}
		g.Started = e
		g.Status = StatusActive
		g.LastClickMS = e.AtMS
		g.LastEventMS = e.AtMS
		return nil
	case ButtonClicked:
		if err := g.check(e.Game, e.EventType()); err != nil {
			return err
		}
		if e.Number != g.Clicks+1 {
			return fmt.Errorf("fold: game %d click %d follows click %d", e.Game, e.Number, g.Clicks)
		}
		if e.Number > maxClicks {
			return fmt.Errorf("fold: game %d click %d: more clicks than a game can keep", e.Game, e.Number)
		}
		l := &g.clicks
		// Who: the player's latest name, or a new one.
		k := l.addKey(e.User)
		if l.players == nil {
			l.players = make(map[uint64]player)
		}
		p, known := l.players[k]
		who := uint32(len(l.idents))
		if known && l.idents[l.by[p.last-1]].name == e.UserName {
			who = l.by[p.last-1]
		} else {
			l.idents = append(l.idents, ident{user: k, name: e.UserName})
		}
		l.at = append(l.at, e.AtMS)
		l.by = append(l.by, who)
		l.count(e.Interaction, e.Number)
		g.Clicks = e.Number
		g.LastClickMS = e.AtMS
		g.touch(e.AtMS)
		g.Last = e
		p.clicks++
		p.last = uint32(e.Number)
		l.players[k] = p
		if e.Interaction != "" {
			r := g.rebuild(e.Number)
			r.User, r.Interaction = e.User, e.Interaction // e.User is the user of key k
			if r != e {
				if l.odd == nil {
					l.odd = make(map[int64]ButtonClicked)
				}
				l.odd[e.Number] = e
			}
		}
		return nil
	case GameEnded:
		if err := g.check(e.Game, e.EventType()); err != nil {
			return err
		}
		if g.Status != StatusActive {
			return fmt.Errorf("fold: game %d ended twice", e.Game)
		}
		g.Status = StatusEnded
		if e.Reason == EndAborted {
			g.Status = StatusAborted
		}
		g.Ended = e
		g.touch(e.AtMS)
		return nil
	case GameMessagePosted:
		if err := g.check(e.Game, e.EventType()); err != nil {
			return err
		}
		g.MessageChannel, g.MessageID = e.Channel, e.MessageID
		g.touch(e.AtMS)
		return nil
	default:
		return fmt.Errorf("fold: %s is not a game event", e.EventType())
	}
}

func (g *Game) check(id GameID, typ string) error {
	if !g.Exists() {
		return fmt.Errorf("fold: %s for game %d before it started", typ, id)
	}
	if id != g.Started.Game {
		return fmt.Errorf("fold: %s for game %d applied to game %d", typ, id, g.Started.Game)
	}
	return nil
}

func (g *Game) touch(tMS int64) { g.LastEventMS = max(g.LastEventMS, tMS) }

// Guild is the fold of one guild's settings events. The zero value is a
// guild with no settings. It is not safe for concurrent use.
type Guild struct {
	Icon    string
	Name    string // as a source knew it (GuildNamed); empty if none
	Banned  map[string]PlayerBanned
	LastSeq uint64
}

// IsBanned reports whether user is on the guild's ban list.
func (g *Guild) IsBanned(user string) bool {
	_, ok := g.Banned[user]
	return ok
}

// Apply folds one event of the guild's subject into the state; events at
// or below LastSeq are skipped.
func (g *Guild) Apply(seq uint64, e Event) error {
	if seq != 0 && seq <= g.LastSeq {
		return nil
	}
	switch e := e.(type) {
	case GuildIconSet:
		g.Icon = e.Icon
	case PlayerBanned:
		if g.Banned == nil {
			g.Banned = make(map[string]PlayerBanned)
		}
		g.Banned[e.User] = e
	case PlayerUnbanned:
		delete(g.Banned, e.User)
	case GuildNamed:
		g.Name = e.Name
	default:
		return fmt.Errorf("fold: %s is not a guild event", e.EventType())
	}
	if seq != 0 {
		g.LastSeq = seq
	}
	return nil
}

// ClickUndo takes back clicks applied tentatively, for a writer that
// decides several presses in a row before storing them together: if the
// write fails, Undo returns the game to where Tentative began.
type ClickUndo struct {
	saved   Game
	players map[uint64]*player // state before by key, nil: had none
	users   []string           // user ids given a key since
	inters  []counted          // interaction ids counted in late or strIDs, with what they counted before
}

type counted struct {
	id   string
	had  bool
	prev int64
}

// Tentative starts recording clicks applied through the returned undo.
func (g *Game) Tentative() *ClickUndo {
	return &ClickUndo{saved: *g, players: map[uint64]*player{}}
}

// Apply applies c to g (without a sequence: LastSeq stays), remembering
// how to take it back.
func (u *ClickUndo) Apply(g *Game, c ButtonClicked) error {
	l := &g.clicks
	k, hasKey := l.key(c.User)
	var before *player
	if p, ok := l.players[k]; hasKey && ok {
		before = &p
	}
	var in counted
	if c.Interaction != "" {
		in.id = c.Interaction
		if k, numeric := idKey(c.Interaction); numeric {
			in.prev, in.had = l.late[k]
		} else {
			in.prev, in.had = l.strIDs[c.Interaction]
		}
	}
	if err := g.Apply(0, c); err != nil {
		return err
	}
	if !hasKey {
		k, _ = l.key(c.User)
		u.users = append(u.users, c.User)
	}
	if _, seen := u.players[k]; !seen {
		u.players[k] = before
	}
	if in.id != "" {
		u.inters = append(u.inters, in)
	}
	return nil
}

// Undo returns g to its state when Tentative was called.
func (u *ClickUndo) Undo(g *Game) {
	l := g.clicks
	for k, before := range u.players {
		if before == nil {
			delete(l.players, k)
		} else {
			l.players[k] = *before
		}
	}
	for _, user := range u.users {
		delete(l.users, user)
	}
	for i := len(u.inters) - 1; i >= 0; i-- {
		c := u.inters[i]
		k, numeric := idKey(c.id)
		switch {
		case numeric && c.had:
			l.late[k] = c.prev
		case numeric:
			delete(l.late, k)
		case c.had:
			l.strIDs[c.id] = c.prev
		default:
			delete(l.strIDs, c.id)
		}
	}
	for n := u.saved.Clicks + 1; n <= g.Clicks; n++ {
		delete(l.odd, n)
	}
	// The slices take back their old lengths; the maps (some perhaps made
	// since) are the same.
	*g = u.saved
	g.clicks.players, g.clicks.users, g.clicks.late, g.clicks.strIDs, g.clicks.odd = l.players, l.users, l.late, l.strIDs, l.odd
}
