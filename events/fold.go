package events

import (
	"fmt"
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
	// Clickers holds the user of every click in order (index = number − 1),
	// for the sequential rule.
	Clickers []string
	// Interactions maps each counted interaction id to its click, so the
	// same interaction is never counted twice.
	Interactions map[string]ButtonClicked

	MessageChannel string
	MessageID      string

	Ended GameEnded // set once the game ended or was aborted
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
	for i := int64(len(g.Clickers)) - 1; i >= n; i-- {
		u := g.Clickers[i]
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
		g.Interactions = make(map[string]ButtonClicked)
		return nil
	case ButtonClicked:
		if err := g.check(e.Game, e.EventType()); err != nil {
			return err
		}
		if e.Number != g.Clicks+1 {
			return fmt.Errorf("fold: game %d click %d follows click %d", e.Game, e.Number, g.Clicks)
		}
		g.Clicks = e.Number
		g.LastClickMS = e.AtMS
		g.touch(e.AtMS)
		g.Last = e
		p := g.Players[e.User]
		if p == nil {
			p = &PlayerState{}
			g.Players[e.User] = p
		}
		p.Clicks++
		p.LastClickMS = e.AtMS
		p.LastNumber = e.Number
		g.Clickers = append(g.Clickers, e.User)
		if e.Interaction != "" {
			g.Interactions[e.Interaction] = e
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
	inters  []string
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
	_, had := g.Interactions[c.Interaction]
	if err := g.Apply(0, c); err != nil {
		return err
	}
	if c.Interaction != "" && !had {
		u.inters = append(u.inters, c.Interaction)
	}
	return nil
}

// Undo returns g to its state when Tentative was called.
func (u *ClickUndo) Undo(g *Game) {
	players, inters := g.Players, g.Interactions
	for user, before := range u.players {
		if before == nil {
			delete(players, user)
		} else if p := players[user]; p != nil {
			*p = *before
		}
	}
	for _, id := range u.inters {
		delete(inters, id)
	}
	*g = u.saved // Clickers keeps its old length; the maps are the same
	g.Players, g.Interactions = players, inters
}
