package readmodel

import (
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// The views a Reader returns. Times are UTC; durations are exact
// milliseconds. Every value, band, time claimed and MMR is the one the
// click recorded; nothing here is recomputed from a value.

// Game is one game as the bot and the web show it.
type Game struct {
	ID            events.GameID
	Guild         string
	ButtonChannel string
	ChatChannel   string
	Duration      time.Duration
	Cooldown      time.Duration
	Sequential    int // N of the sequential rule, 0: off
	StartedBy     string
	StarterName   string
	Start         time.Time
	Status        events.Status
	// LastClickAt is the time of the last click, the start before any.
	LastClickAt time.Time
	// Deadline is LastClickAt + Duration: the game ends exactly then.
	Deadline time.Time
	Clicks   int64
	Players  int64
	Claimed  time.Duration // total time claimed by every click
	Last     *Click        // the latest click, nil before the first
	// MessageChannel and MessageID locate the game message (empty until
	// one was posted).
	MessageChannel string
	MessageID      string
	// EndedAt, EndReason, EndedBy and EndWhy are set once the game ended
	// (EndedAt is the deadline for an expired game) or was aborted.
	EndedAt   time.Time
	EndReason events.EndReason
	EndedBy   string
	EndWhy    string
	// Seq is the last stream sequence applied to this game.
	Seq uint64
}

// Over reports whether the game no longer takes clicks at now: it ended,
// was aborted, or its deadline has come (even if the end is not recorded
// yet).
func (g Game) Over(now time.Time) bool {
	return g.Status != events.StatusActive || !now.Before(g.Deadline)
}

// End is when the game ended: EndedAt once recorded, otherwise the
// deadline if it has passed at now, otherwise zero.
func (g Game) End(now time.Time) time.Time {
	if g.Status != events.StatusActive {
		return g.EndedAt
	}
	if !now.Before(g.Deadline) {
		return g.Deadline
	}
	return time.Time{}
}

// Lifetime is how long the button has been alive at now: start → end, or
// start → now while it lives.
func (g Game) Lifetime(now time.Time) time.Duration {
	end := g.End(now)
	if end.IsZero() {
		end = now
	}
	return max(0, end.Sub(g.Start))
}

// Remaining is the time left on the clock at now (0 once over).
func (g Game) Remaining(now time.Time) time.Duration {
	if g.Status != events.StatusActive {
		return 0
	}
	return max(0, g.Deadline.Sub(now)).Truncate(time.Millisecond)
}

// Band is the colour of the clock at now (for the game message), by the
// one classifier events.BandOf.
func (g Game) Band(now time.Time) events.Band {
	return events.BandOf(g.Remaining(now).Milliseconds(), g.Duration.Milliseconds())
}

// Click is one accepted click, as recorded.
type Click struct {
	Game     events.GameID
	Number   int64 // 1, 2, 3… within the game
	Seq      uint64
	Guild    string
	User     string
	UserName string // the name at the time of the click ("" if none was known)
	At       time.Time
	Value    time.Duration // time left when clicked
	Band     events.Band
	Claimed  time.Duration
	MMRMilli int64
}

// Player is one player's figures in one game.
type Player struct {
	Game events.GameID
	User string
	Name string // the latest name seen ("" if none)
	// Clicks is 0 for a player who never clicked in the game; the other
	// fields are then zero too.
	Clicks     int64
	Best       time.Duration // the lowest value (best click)
	BestNumber int64         // the click that holds it (the first one, on a tie)
	BestBand   events.Band
	FirstAt    time.Time
	LastAt     time.Time // the last click: cooldowns run from it
	LastNumber int64
	Claimed    time.Duration
	MMRMilli   int64    // sum of the clicks' MMR × 1000
	Bands      [6]int64 // clicks per band, indexed by events.Band
}

// Board names a leaderboard of a game.
type Board int

// The leaderboards and their order (ties are broken as stated, so the
// order is total).
const (
	// ByMMR: MMR high to low, then clicks high to low, then user id.
	ByMMR Board = iota
	// ByClaimed: time claimed high to low, then user id.
	ByClaimed
	// ByClicks: clicks high to low, then user id.
	ByClicks
	// ByBest: best (lowest) value low to high, then the earlier best click.
	ByBest
)

// Standing is a player's place on a leaderboard (Rank 1 is first).
type Standing struct {
	Rank int
	Player
}

// BandStat is one colour's share of a game.
type BandStat struct {
	Band    events.Band
	Clicks  int64
	Claimed time.Duration
	Players int64 // distinct players with at least one click of this colour
}

// Teams is the per-colour table of a game (/leaderboard teams).
type Teams struct {
	Game    events.GameID
	Bands   [6]BandStat // indexed by events.Band
	Clicks  int64
	Claimed time.Duration
	Players int64 // distinct players of the game
}

// Clicker is one of the latest distinct clickers of a game.
type Clicker struct {
	User       string
	Name       string
	LastAt     time.Time
	LastNumber int64
	// ReadyAt is LastAt + the game's cooldown: the player may click again
	// from then (cooldown permitting; the sequential rule is separate).
	ReadyAt time.Time
}

// EdgeClick is a click close to a colour edge (/edging).
type EdgeClick struct {
	Click
	// Distance to the nearest edge between two colours.
	Distance time.Duration
	// Edge is the band just above that edge: the edge separates Edge-1
	// and Edge, and lies at the lower end of events.BandRange(Edge).
	Edge events.Band
	// Above reports whether the click is on Edge's side (value ≥ edge).
	Above bool
}

// RankedGame is a game in the cross-guild lifetime ranking (/buttonrank).
type RankedGame struct {
	Rank     int
	Game     events.GameID
	Guild    string
	Icon     string // the guild's icon, "" if it chose none
	Status   events.Status
	Start    time.Time
	End      time.Time // zero while alive
	Lifetime time.Duration
	Clicks   int64
	Players  int64
}

// HourCount is how many clicks a game had in one UTC hour.
type HourCount struct {
	Hour   time.Time
	Clicks int64
}

// QuestEntry is a player's line on a monthly board.
type QuestEntry struct {
	Rank    int
	User    string
	Name    string
	Claimed time.Duration
	Clicks  int64
	Bands   [6]int64
}

// Quest is a guild's monthly time-claimed board (/quest): the clicks of
// all the guild's games whose UTC month is Month.
type Quest struct {
	Guild   string
	Month   time.Time // the first instant of the month, UTC
	Claimed time.Duration
	Clicks  int64
	Players int64
	Entries []QuestEntry
}

// QuestWinner is the first of a past monthly board.
type QuestWinner struct {
	Month time.Time
	QuestEntry
}

// Ban is an entry of a guild's ban list.
type Ban struct {
	User   string
	By     string
	Reason string
	At     time.Time
}
