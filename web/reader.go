package web

import (
	"context"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// Reader is what the pages read: the Redis projection's views.
// *redisproj.Reader implements it. Implementations must be safe for
// concurrent use, return errors wrapping redisproj.ErrUnavailable when
// their store cannot be reached and redisproj.ErrNotFound for an unknown
// game.
type Reader interface {
	// Position is the stream sequence the projection has applied up to:
	// the poller pushes fresh summaries to the live pages when it moves.
	Position(ctx context.Context) (uint64, error)
	ActiveGames(ctx context.Context, guild string) ([]redisproj.Game, error)
	Game(ctx context.Context, id events.GameID) (redisproj.Game, error)
	GuildIcon(ctx context.Context, guild string) (string, error)
	Leaderboard(ctx context.Context, id events.GameID, board redisproj.Board, n int) ([]redisproj.Standing, error)
	LowestClicks(ctx context.Context, id events.GameID, n int) ([]redisproj.Click, error)
	RecentClicks(ctx context.Context, id events.GameID, n int) ([]redisproj.Click, error)
	ClicksPerHour(ctx context.Context, id events.GameID) ([]redisproj.HourCount, error)
	Teams(ctx context.Context, id events.GameID) (redisproj.Teams, error)
	Clicks(ctx context.Context, id events.GameID, from int64, limit int) ([]redisproj.Click, error)
	GlobalLowestClicks(ctx context.Context, n int) ([]redisproj.Click, error)
	GlobalRecentClicks(ctx context.Context, n int) ([]redisproj.Click, error)
	PlayerGames(ctx context.Context, user string) ([]redisproj.Player, error)
	PlayerBands(ctx context.Context, id events.GameID, user string, offset, limit int) ([]events.Band, int64, error)
}

var _ Reader = (*redisproj.Reader)(nil)
