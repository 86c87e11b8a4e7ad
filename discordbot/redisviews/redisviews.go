// Package redisviews adapts the Redis projection's reader
// (*redisproj.Reader) to discordbot.Views: it calls the reader and copies
// its view types into the bot's, and turns redisproj.ErrNotFound into
// discordbot.ErrNotFound. It owns nothing else.
//
// It exists because discordbot must not depend on go-redis, and the view
// types live in redisproj, which does. If the view types moved to a
// package of their own (without go-redis), *redisproj.Reader would satisfy
// discordbot.Views directly and this package could go.
//
// It imports discordbot, redisproj and events; the bot never imports it
// (cmd/thebutton wires it).
package redisviews

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// Views reads the Redis projection for the bot. It is safe for concurrent
// use.
type Views struct{ r *redisproj.Reader }

var _ discordbot.Views = Views{}

// New adapts a reader.
func New(r *redisproj.Reader) Views { return Views{r: r} }

// wrap translates the reader's not-found into the bot's.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redisproj.ErrNotFound) {
		return fmt.Errorf("%w: %w", discordbot.ErrNotFound, err)
	}
	return err
}

func game(g redisproj.Game) discordbot.Game {
	out := discordbot.Game{
		ID: g.ID, Guild: g.Guild, ButtonChannel: g.ButtonChannel, ChatChannel: g.ChatChannel,
		Duration: g.Duration, Cooldown: g.Cooldown, Sequential: g.Sequential, StartedBy: g.StartedBy,
		StarterName: g.StarterName, Start: g.Start, Status: g.Status, LastClickAt: g.LastClickAt,
		Deadline: g.Deadline, Clicks: g.Clicks, Players: g.Players, Claimed: g.Claimed,
		MessageChannel: g.MessageChannel, MessageID: g.MessageID, EndedAt: g.EndedAt,
		EndReason: g.EndReason, EndedBy: g.EndedBy, EndWhy: g.EndWhy, Seq: g.Seq,
	}
	if g.Last != nil {
		c := click(*g.Last)
		out.Last = &c
	}
	return out
}

func games(gs []redisproj.Game) []discordbot.Game {
	out := make([]discordbot.Game, len(gs))
	for i, g := range gs {
		out[i] = game(g)
	}
	return out
}

func click(c redisproj.Click) discordbot.Click {
	return discordbot.Click{Game: c.Game, Number: c.Number, Seq: c.Seq, Guild: c.Guild, User: c.User,
		UserName: c.UserName, At: c.At, Value: c.Value, Band: c.Band, Claimed: c.Claimed, MMRMilli: c.MMRMilli}
}

func clicks(cs []redisproj.Click) []discordbot.Click {
	out := make([]discordbot.Click, len(cs))
	for i, c := range cs {
		out[i] = click(c)
	}
	return out
}

func player(p redisproj.Player) discordbot.Player {
	return discordbot.Player{Game: p.Game, User: p.User, Name: p.Name, Clicks: p.Clicks, Best: p.Best,
		BestNumber: p.BestNumber, BestBand: p.BestBand, FirstAt: p.FirstAt, LastAt: p.LastAt,
		LastNumber: p.LastNumber, Claimed: p.Claimed, MMRMilli: p.MMRMilli, Bands: p.Bands}
}

// Position returns the stream sequence the views are at.
func (v Views) Position(ctx context.Context) (uint64, error) { return v.r.Position(ctx) }

// Game returns one game.
func (v Views) Game(ctx context.Context, id events.GameID) (discordbot.Game, error) {
	g, err := v.r.Game(ctx, id)
	return game(g), wrap(err)
}

// ActiveGames returns the active games of a guild ("" for all).
func (v Views) ActiveGames(ctx context.Context, guild string) ([]discordbot.Game, error) {
	gs, err := v.r.ActiveGames(ctx, guild)
	return games(gs), wrap(err)
}

// GuildGames returns a page of a guild's games, newest first.
func (v Views) GuildGames(ctx context.Context, guild string, offset, limit int) ([]discordbot.Game, int64, error) {
	gs, n, err := v.r.GuildGames(ctx, guild, offset, limit)
	return games(gs), n, wrap(err)
}

// Player returns a player's figures in a game.
func (v Views) Player(ctx context.Context, id events.GameID, user string) (discordbot.Player, error) {
	p, err := v.r.Player(ctx, id, user)
	return player(p), wrap(err)
}

// PlayerBands returns a page of the colours of a player's clicks.
func (v Views) PlayerBands(ctx context.Context, id events.GameID, user string, offset, limit int) ([]events.Band, int64, error) {
	bs, n, err := v.r.PlayerBands(ctx, id, user, offset, limit)
	return bs, n, wrap(err)
}

// PlayerClicks returns a page of a player's clicks.
func (v Views) PlayerClicks(ctx context.Context, id events.GameID, user string, offset, limit int) ([]discordbot.Click, int64, error) {
	cs, n, err := v.r.PlayerClicks(ctx, id, user, offset, limit)
	return clicks(cs), n, wrap(err)
}

// Leaderboard returns the first n standings of a board.
func (v Views) Leaderboard(ctx context.Context, id events.GameID, board discordbot.Board, n int) ([]discordbot.Standing, error) {
	ss, err := v.r.Leaderboard(ctx, id, redisproj.Board(board), n)
	out := make([]discordbot.Standing, len(ss))
	for i, s := range ss {
		out[i] = discordbot.Standing{Rank: s.Rank, Player: player(s.Player)}
	}
	return out, wrap(err)
}

// Teams returns a game's per-colour table.
func (v Views) Teams(ctx context.Context, id events.GameID) (discordbot.Teams, error) {
	t, err := v.r.Teams(ctx, id)
	out := discordbot.Teams{Game: t.Game, Clicks: t.Clicks, Claimed: t.Claimed, Players: t.Players}
	for i, b := range t.Bands {
		out.Bands[i] = discordbot.BandStat{Band: b.Band, Clicks: b.Clicks, Claimed: b.Claimed, Players: b.Players}
	}
	return out, wrap(err)
}

// LowestClicks returns a game's n lowest clicks.
func (v Views) LowestClicks(ctx context.Context, id events.GameID, n int) ([]discordbot.Click, error) {
	cs, err := v.r.LowestClicks(ctx, id, n)
	return clicks(cs), wrap(err)
}

// GlobalLowestClicks returns the n lowest clicks of all games.
func (v Views) GlobalLowestClicks(ctx context.Context, n int) ([]discordbot.Click, error) {
	cs, err := v.r.GlobalLowestClicks(ctx, n)
	return clicks(cs), wrap(err)
}

// Clicks returns up to limit clicks of a game from number from.
func (v Views) Clicks(ctx context.Context, id events.GameID, from int64, limit int) ([]discordbot.Click, error) {
	cs, err := v.r.Clicks(ctx, id, from, limit)
	return clicks(cs), wrap(err)
}

// LastClickers returns the n latest distinct clickers.
func (v Views) LastClickers(ctx context.Context, id events.GameID, n int) ([]discordbot.Clicker, error) {
	cs, err := v.r.LastClickers(ctx, id, n)
	out := make([]discordbot.Clicker, len(cs))
	for i, c := range cs {
		out[i] = discordbot.Clicker{User: c.User, Name: c.Name, LastAt: c.LastAt, LastNumber: c.LastNumber, ReadyAt: c.ReadyAt}
	}
	return out, wrap(err)
}

// EdgeClicks returns up to n clicks closest to a colour edge.
func (v Views) EdgeClicks(ctx context.Context, id events.GameID, n int) ([]discordbot.EdgeClick, error) {
	es, err := v.r.EdgeClicks(ctx, id, n)
	out := make([]discordbot.EdgeClick, len(es))
	for i, e := range es {
		out[i] = discordbot.EdgeClick{Click: click(e.Click), Distance: e.Distance, Edge: e.Edge, Above: e.Above}
	}
	return out, wrap(err)
}

// LifetimeRanking returns every game by lifetime at now.
func (v Views) LifetimeRanking(ctx context.Context, now time.Time) ([]discordbot.RankedGame, error) {
	rs, err := v.r.LifetimeRanking(ctx, now)
	out := make([]discordbot.RankedGame, len(rs))
	for i, r := range rs {
		out[i] = discordbot.RankedGame{Rank: r.Rank, Game: r.Game, Guild: r.Guild, Icon: r.Icon, Status: r.Status,
			Start: r.Start, End: r.End, Lifetime: r.Lifetime, Clicks: r.Clicks, Players: r.Players}
	}
	return out, wrap(err)
}

func questEntry(e redisproj.QuestEntry) discordbot.QuestEntry {
	return discordbot.QuestEntry{Rank: e.Rank, User: e.User, Name: e.Name, Claimed: e.Claimed, Clicks: e.Clicks, Bands: e.Bands}
}

// Quest returns the first n of a guild's monthly board.
func (v Views) Quest(ctx context.Context, guild string, month time.Time, n int) (discordbot.Quest, error) {
	q, err := v.r.Quest(ctx, guild, month, n)
	out := discordbot.Quest{Guild: q.Guild, Month: q.Month, Claimed: q.Claimed, Clicks: q.Clicks, Players: q.Players}
	for _, e := range q.Entries {
		out.Entries = append(out.Entries, questEntry(e))
	}
	return out, wrap(err)
}

// QuestWinners returns the winners of the guild's earlier months.
func (v Views) QuestWinners(ctx context.Context, guild string, before time.Time) ([]discordbot.QuestWinner, error) {
	ws, err := v.r.QuestWinners(ctx, guild, before)
	out := make([]discordbot.QuestWinner, len(ws))
	for i, w := range ws {
		out[i] = discordbot.QuestWinner{Month: w.Month, QuestEntry: questEntry(w.QuestEntry)}
	}
	return out, wrap(err)
}
