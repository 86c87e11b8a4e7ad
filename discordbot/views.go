package discordbot

import (
	"context"
	"errors"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// Views is what the bot reads of the Redis projection. Its methods are
// those of the projection's reader (*redisproj.Reader), with the bot's own
// copies of the view types, so that the bot depends on neither Redis nor
// the projection's package; discordbot/redisviews adapts the reader to it.
// Implementations are safe for concurrent use.
//
// Errors: ErrNotFound when the thing asked for is not in the projection;
// any other error means the views cannot be read for the moment (the bot
// then says statistics are unavailable, and the reactor retries).
type Views interface {
	// Position is the stream sequence up to which the views are applied.
	Position(ctx context.Context) (uint64, error)
	// Game returns one game.
	Game(ctx context.Context, id events.GameID) (Game, error)
	// ActiveGames returns the active games of a guild ("" for all guilds),
	// oldest first.
	ActiveGames(ctx context.Context, guild string) ([]Game, error)
	// GuildGames returns a page of a guild's games, newest first, and how
	// many it has.
	GuildGames(ctx context.Context, guild string, offset, limit int) ([]Game, int64, error)
	// Player returns a player's figures in a game (Clicks 0 if none).
	Player(ctx context.Context, id events.GameID, user string) (Player, error)
	// PlayerBands returns a page of the colours of a player's clicks, in
	// order, and how many clicks they have.
	PlayerBands(ctx context.Context, id events.GameID, user string, offset, limit int) ([]events.Band, int64, error)
	// PlayerClicks returns a page of a player's clicks (limit ≤ 0: all).
	PlayerClicks(ctx context.Context, id events.GameID, user string, offset, limit int) ([]Click, int64, error)
	// Leaderboard returns the first n standings of a board.
	Leaderboard(ctx context.Context, id events.GameID, board Board, n int) ([]Standing, error)
	// Teams returns a game's per-colour table.
	Teams(ctx context.Context, id events.GameID) (Teams, error)
	// LowestClicks returns a game's n lowest clicks, lowest first.
	LowestClicks(ctx context.Context, id events.GameID, n int) ([]Click, error)
	// GlobalLowestClicks returns the n lowest clicks of all games.
	GlobalLowestClicks(ctx context.Context, n int) ([]Click, error)
	// Clicks returns up to limit clicks of a game in order from number from.
	Clicks(ctx context.Context, id events.GameID, from int64, limit int) ([]Click, error)
	// LastClickers returns the n latest distinct clickers, latest first.
	LastClickers(ctx context.Context, id events.GameID, n int) ([]Clicker, error)
	// EdgeClicks returns up to n clicks closest to a colour edge.
	EdgeClicks(ctx context.Context, id events.GameID, n int) ([]EdgeClick, error)
	// LifetimeRanking returns every game of every guild by lifetime at now.
	LifetimeRanking(ctx context.Context, now time.Time) ([]RankedGame, error)
	// Quest returns the first n of a guild's monthly board.
	Quest(ctx context.Context, guild string, month time.Time, n int) (Quest, error)
	// QuestWinners returns the winners of the guild's months before month.
	QuestWinners(ctx context.Context, guild string, before time.Time) ([]QuestWinner, error)
}

// ErrNotFound is returned by Views when the thing asked for is not in the
// projection.
var ErrNotFound = errors.New("discordbot: not in the views")

// Game is one game as the views show it (see redisproj.Game).
type Game struct {
	ID                        events.GameID
	Guild                     string
	ButtonChannel             string
	ChatChannel               string
	Duration, Cooldown        time.Duration
	Sequential                int
	StartedBy, StarterName    string
	Start                     time.Time
	Status                    events.Status
	LastClickAt, Deadline     time.Time
	Clicks, Players           int64
	Claimed                   time.Duration
	Last                      *Click
	MessageChannel, MessageID string
	EndedAt                   time.Time
	EndReason                 events.EndReason
	EndedBy, EndWhy           string
	Seq                       uint64
}

// Over reports whether the game takes no more clicks at now.
func (g Game) Over(now time.Time) bool {
	return g.Status != events.StatusActive || !now.Before(g.Deadline)
}

// End is when the game ended (the deadline once passed), zero while alive.
func (g Game) End(now time.Time) time.Time {
	if g.Status != events.StatusActive {
		return g.EndedAt
	}
	if !now.Before(g.Deadline) {
		return g.Deadline
	}
	return time.Time{}
}

// Lifetime is start → end, or start → now while alive.
func (g Game) Lifetime(now time.Time) time.Duration {
	end := g.End(now)
	if end.IsZero() {
		end = now
	}
	return max(0, end.Sub(g.Start))
}

// Remaining is the time left at now.
func (g Game) Remaining(now time.Time) time.Duration {
	if g.Status != events.StatusActive {
		return 0
	}
	return max(0, g.Deadline.Sub(now)).Truncate(time.Millisecond)
}

// Band is the colour of the clock at now, by events.BandOf.
func (g Game) Band(now time.Time) events.Band {
	return events.BandOf(g.Remaining(now).Milliseconds(), g.Duration.Milliseconds())
}

// Click is one accepted click as recorded.
type Click struct {
	Game        events.GameID
	Number      int64
	Seq         uint64
	Guild, User string
	UserName    string
	At          time.Time
	Value       time.Duration
	Band        events.Band
	Claimed     time.Duration
	MMRMilli    int64
}

// Player is one player's figures in one game.
type Player struct {
	Game       events.GameID
	User, Name string
	Clicks     int64
	Best       time.Duration
	BestNumber int64
	BestBand   events.Band
	FirstAt    time.Time
	LastAt     time.Time
	LastNumber int64
	Claimed    time.Duration
	MMRMilli   int64
	Bands      [6]int64
}

// Board names a leaderboard.
type Board int

// Leaderboards.
const (
	ByMMR Board = iota
	ByClaimed
	ByClicks
	ByBest
)

// Standing is a place on a leaderboard.
type Standing struct {
	Rank int
	Player
}

// BandStat is one colour's share of a game.
type BandStat struct {
	Band    events.Band
	Clicks  int64
	Claimed time.Duration
	Players int64
}

// Teams is a game's per-colour table.
type Teams struct {
	Game    events.GameID
	Bands   [6]BandStat
	Clicks  int64
	Claimed time.Duration
	Players int64
}

// Clicker is one of the latest distinct clickers of a game.
type Clicker struct {
	User, Name string
	LastAt     time.Time
	LastNumber int64
	ReadyAt    time.Time
}

// EdgeClick is a click close to a colour edge.
type EdgeClick struct {
	Click
	Distance time.Duration
	Edge     events.Band
	Above    bool
}

// RankedGame is a game in the cross-guild lifetime ranking.
type RankedGame struct {
	Rank            int
	Game            events.GameID
	Guild, Icon     string
	Status          events.Status
	Start, End      time.Time
	Lifetime        time.Duration
	Clicks, Players int64
}

// QuestEntry is a player's line on a monthly board.
type QuestEntry struct {
	Rank       int
	User, Name string
	Claimed    time.Duration
	Clicks     int64
	Bands      [6]int64
}

// Quest is a guild's monthly time-claimed board.
type Quest struct {
	Guild           string
	Month           time.Time
	Claimed         time.Duration
	Clicks, Players int64
	Entries         []QuestEntry
}

// QuestWinner is the first of a past monthly board.
type QuestWinner struct {
	Month time.Time
	QuestEntry
}
