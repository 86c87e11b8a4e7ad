package events

import (
	"fmt"
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
// keeps per click is compact: the click's time and who made it (for the
// sequential rule and to rebuild the click), and its interaction id mapped
// to its number (so the same interaction is never counted twice, and a
// repeat is answered with the original click, see Counted).
type Game struct {
	Started GameStarted // the opening event; Started.Game == 0 until applied

	Status      Status
	Clicks      int64
	LastClickMS int64 // time of the last click, the start time before any
	LastEventMS int64 // time of the newest event: times never go backwards
	LastSeq     uint64

	// Last is the latest click (zero before the first).
	Last ButtonClicked

	Players map[string]*PlayerState

	MessageChannel string
	MessageID      string

	Ended GameEnded // set once the game ended or was aborted

	clicks clickLog
}

// clickLog is what a Game keeps of every click, index = number − 1.
type clickLog struct {
	at     []int64  // each click's time
	by     []uint32 // who made each click: an index into idents
	idents []ident  // each (user, name) a click was made under, in order of first use
	// Counted interaction ids: a canonical decimal (a Discord snowflake)
	// by its value, any other by its text, each to its click's number.
	ids    map[uint64]int64
	strIDs map[string]int64
	// odd holds, by number, the clicks with an interaction id that
	// rebuild (see Game.rebuild) does not give back exactly, whole: a
	// click decided elsewhere, or by other arithmetic.
	odd map[int64]ButtonClicked
}

// ident is a player under one name.
type ident struct{ user, name string }

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

// number returns the number of the click that counted interaction id.
func (l *clickLog) number(id string) (int64, bool) {
	if k, ok := idKey(id); ok {
		n, seen := l.ids[k]
		return n, seen
	}
	n, seen := l.strIDs[id]
	return n, seen
}

// count records that interaction id counted as click n.
func (l *clickLog) count(id string, n int64) {
	if k, ok := idKey(id); ok {
		if l.ids == nil {
			l.ids = make(map[uint64]int64)
		}
		l.ids[k] = n
		return
	}
	if l.strIDs == nil {
		l.strIDs = make(map[string]int64)
	}
	l.strIDs[id] = n
}

// uncount forgets interaction id.
func (l *clickLog) uncount(id string) {
	if k, ok := idKey(id); ok {
		delete(l.ids, k)
		return
	}
	delete(l.strIDs, id)
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
	c.Interaction = id
	return c, true
}

// rebuild returns click n (1 ≤ n ≤ Clicks) from the click log, with every
// figure as DecidePress computes it: the value is what was left of the
// clock set by the click before (or the start), the rest follows from the
// value and the duration. Interaction is left empty.
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
	return ButtonClicked{Game: g.Started.Game, Guild: g.Started.Guild, Number: n, User: who.user, UserName: who.name,
		AtMS: at, ValueMS: v, Band: int(BandOf(v, d)), ClaimedMS: Claimed(v, d), MMRMilli: MMRMilli(v, d)}
}

// Summary returns a copy of g without its per-player and per-click state,
// so that the copy shares nothing with g: its Players is nil, it counts no
// interaction and DistinctOthersSince finds nobody.
func (g *Game) Summary() Game {
	out := *g
	out.Players, out.clicks = nil, clickLog{}
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
	seen := make(map[string]struct{}, limit)
	l := &g.clicks
	for i := int64(len(l.by)) - 1; i >= n; i-- {
		u := l.idents[l.by[i]].user
		if u == user {
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
		g.Players = make(map[string]*PlayerState)
		return nil
	case ButtonClicked:
		if err := g.check(e.Game, e.EventType()); err != nil {
			return err
		}
		if e.Number != g.Clicks+1 {
			return fmt.Errorf("fold: game %d click %d follows click %d", e.Game, e.Number, g.Clicks)
		}
		l := &g.clicks
		// Who: the player's latest name, or a new one.
		p := g.Players[e.User]
		who := uint32(len(l.idents))
		if p != nil && l.idents[l.by[p.LastNumber-1]].name == e.UserName {
			who = l.by[p.LastNumber-1]
		} else {
			user := e.User
			if p == nil {
				p = &PlayerState{}
				g.Players[user] = p
			} else {
				user = l.idents[l.by[p.LastNumber-1]].user // the same string, kept once
			}
			l.idents = append(l.idents, ident{user: user, name: e.UserName})
		}
		l.at = append(l.at, e.AtMS)
		l.by = append(l.by, who)
		g.Clicks = e.Number
		g.LastClickMS = e.AtMS
		g.touch(e.AtMS)
		g.Last = e
		p.Clicks++
		p.LastClickMS = e.AtMS
		p.LastNumber = e.Number
		if e.Interaction != "" {
			l.count(e.Interaction, e.Number)
			r := g.rebuild(e.Number)
			r.Interaction = e.Interaction
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
	players map[string]*PlayerState // state before, nil: had none
	inters  []counted               // interaction ids counted, with what they counted before
}

type counted struct {
	id   string
	had  bool
	prev int64
}

// Tentative starts recording clicks applied through the returned undo.
func (g *Game) Tentative() *ClickUndo {
	return &ClickUndo{saved: *g, players: map[string]*PlayerState{}}
}

// Apply applies c to g (without a sequence: LastSeq stays), remembering
// how to take it back.
func (u *ClickUndo) Apply(g *Game, c ButtonClicked) error {
	if _, seen := u.players[c.User]; !seen {
		if p := g.Players[c.User]; p != nil {
			before := *p
			u.players[c.User] = &before
		} else {
			u.players[c.User] = nil
		}
	}
	prev, had := g.clicks.number(c.Interaction)
	if err := g.Apply(0, c); err != nil {
		return err
	}
	if c.Interaction != "" {
		u.inters = append(u.inters, counted{id: c.Interaction, had: had, prev: prev})
	}
	return nil
}

// Undo returns g to its state when Tentative was called.
func (u *ClickUndo) Undo(g *Game) {
	players, l := g.Players, g.clicks
	for user, before := range u.players {
		if before == nil {
			delete(players, user)
		} else if p := players[user]; p != nil {
			*p = *before
		}
	}
	for i := len(u.inters) - 1; i >= 0; i-- {
		if c := u.inters[i]; c.had {
			l.count(c.id, c.prev)
		} else {
			l.uncount(c.id)
		}
	}
	for n := u.saved.Clicks + 1; n <= g.Clicks; n++ {
		delete(l.odd, n)
	}
	// The slices take back their old lengths; the maps (some perhaps made
	// since) are the same.
	*g = u.saved
	g.Players = players
	g.clicks.ids, g.clicks.strIDs, g.clicks.odd = l.ids, l.strIDs, l.odd
}
