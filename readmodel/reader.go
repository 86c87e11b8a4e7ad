package readmodel

import (
	"context"
	"errors"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// Errors a Reader returns; callers branch on them with errors.Is.
var (
	// ErrNotFound means the game (or other thing asked for) is not in the
	// views.
	ErrNotFound = errors.New("not in the views")
	// ErrUnavailable means the views' store could not be reached or did
	// not answer in time: the caller may say "statistics unavailable for
	// the moment".
	ErrUnavailable = errors.New("views unavailable")
)

// Reader reads the views. Implementations are safe for concurrent use.
// Every method returns an error wrapping ErrUnavailable when the store
// cannot be reached, and methods about one game (or player) an error
// wrapping ErrNotFound when it is not in the views. Results reflect what
// the projection has applied so far (see Position).
type Reader interface {
	// Position is the stream sequence up to which the views are applied
	// (0 when empty).
	Position(ctx context.Context) (uint64, error)
	// WaitApplied returns once the views have applied the stream sequence
	// seq (Position ≥ seq): at once when seq is 0 or applied already,
	// otherwise when the projection reports that it got there. It does
	// not poll. It blocks until then or until ctx ends, and returns an
	// error wrapping ctx.Err() in that case; bound it with a deadline.
	// Readers call it before showing something that must include an
	// event they know the sequence of (a click, a recorded message).
	WaitApplied(ctx context.Context, seq uint64) error
	// Game returns one game.
	Game(ctx context.Context, id events.GameID) (Game, error)
	// Bans returns a guild's ban list, the oldest ban first.
	Bans(ctx context.Context, guild string) ([]Ban, error)
	// ActiveGames returns the active games of a guild ("" for all guilds),
	// oldest first.
	ActiveGames(ctx context.Context, guild string) ([]Game, error)
	// GuildGames returns a page of a guild's games, newest first, and how
	// many it has.
	GuildGames(ctx context.Context, guild string, offset, limit int) ([]Game, int64, error)
	// GuildIcon returns a guild's icon, "" if it chose none.
	GuildIcon(ctx context.Context, guild string) (string, error)
	// Player returns a player's figures in a game (Clicks 0 if none).
	Player(ctx context.Context, id events.GameID, user string) (Player, error)
	// PlayerGames returns a player's figures in every game they clicked
	// in, the most recently clicked first.
	PlayerGames(ctx context.Context, user string) ([]Player, error)
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
	// RecentClicks returns a game's n latest clicks, latest first.
	RecentClicks(ctx context.Context, id events.GameID, n int) ([]Click, error)
	// GlobalRecentClicks returns the n latest clicks of all games.
	GlobalRecentClicks(ctx context.Context, n int) ([]Click, error)
	// Clicks returns up to limit clicks of a game in order from number from.
	Clicks(ctx context.Context, id events.GameID, from int64, limit int) ([]Click, error)
	// ClicksPerHour returns a game's clicks per UTC hour, in time order,
	// only hours with clicks.
	ClicksPerHour(ctx context.Context, id events.GameID) ([]HourCount, error)
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
