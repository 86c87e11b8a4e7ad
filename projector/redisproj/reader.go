package redisproj

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
)

// Reader reads the Redis views: it implements readmodel.Reader and returns
// the read model's types. The Discord bot and the web pages read the views
// only through readmodel.Reader: they never see a key name. It is safe for
// concurrent use. Every method returns an error wrapping
// readmodel.ErrUnavailable when Redis cannot be reached, and methods about
// one game an error wrapping readmodel.ErrNotFound when the game is not in
// the projection. Results reflect what the projector has applied so far
// (see Position).
type Reader struct {
	rdb redis.UniversalClient
	k   keys

	wmu sync.Mutex
	sub *appliedSub // the subscription WaitApplied shares; nil while none waits
}

var _ readmodel.Reader = (*Reader)(nil)

// NewReader returns a reader of the views written by a Sink with the same
// prefix. It does not contact Redis.
func NewReader(rdb redis.UniversalClient, prefix string) *Reader {
	return &Reader{rdb: rdb, k: keys{prefix: prefix}}
}

// Ping checks that Redis answers.
func (r *Reader) Ping(ctx context.Context) error {
	return translate("ping redis", r.rdb.Ping(ctx).Err())
}

// Position returns the stream sequence up to which the projection has
// applied every message (0 when empty).
func (r *Reader) Position(ctx context.Context) (uint64, error) {
	v, err := r.rdb.Get(ctx, r.k.pos()).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, translate("read position", err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read position %q: %w", v, err)
	}
	return n, nil
}

// Game returns one game.
func (r *Reader) Game(ctx context.Context, id events.GameID) (readmodel.Game, error) {
	m, err := r.rdb.HGetAll(ctx, r.k.game(id)).Result()
	if err != nil {
		return readmodel.Game{}, translate(fmt.Sprintf("read game %d", id), err)
	}
	g, ok, err := parseGame(m)
	if err != nil {
		return readmodel.Game{}, fmt.Errorf("read game %d: %w", id, err)
	}
	if !ok {
		return readmodel.Game{}, fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	return g, nil
}

// games reads several games in one round trip, skipping those that do
// not exist, in the order of ids.
func (r *Reader) games(ctx context.Context, ids []events.GameID) ([]readmodel.Game, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, r.k.game(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, translate("read games", err)
	}
	out := make([]readmodel.Game, 0, len(ids))
	for i, cmd := range cmds {
		g, ok, err := parseGame(cmd.Val())
		if err != nil {
			return nil, fmt.Errorf("read game %d: %w", ids[i], err)
		}
		if ok {
			out = append(out, g)
		}
	}
	return out, nil
}

// ActiveGames returns the games that are active (not ended or aborted;
// some may be past their deadline, see Game.Over), oldest first; of one
// guild, or of all guilds if guild is "".
func (r *Reader) ActiveGames(ctx context.Context, guild string) ([]readmodel.Game, error) {
	ids, err := r.rdb.ZRange(ctx, r.k.active(), 0, -1).Result()
	if err != nil {
		return nil, translate("read active games", err)
	}
	gs, err := r.games(ctx, parseIDs(ids))
	if err != nil {
		return nil, err
	}
	if guild == "" {
		return gs, nil
	}
	return slices.DeleteFunc(gs, func(g readmodel.Game) bool { return g.Guild != guild }), nil
}

// ChannelGame returns the game that last claimed a button channel,
// whatever its status, or ErrNotFound.
func (r *Reader) ChannelGame(ctx context.Context, channel string) (readmodel.Game, error) {
	v, err := r.rdb.HGet(ctx, r.k.channels(), channel).Result()
	if errors.Is(err, redis.Nil) {
		return readmodel.Game{}, fmt.Errorf("game of channel %s: %w", channel, readmodel.ErrNotFound)
	}
	if err != nil {
		return readmodel.Game{}, translate("read channel "+channel, err)
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return readmodel.Game{}, fmt.Errorf("game of channel %s: %q: %w", channel, v, err)
	}
	return r.Game(ctx, events.GameID(id))
}

// GuildGames returns a page of a guild's games, newest first, and how many
// it has (/games).
func (r *Reader) GuildGames(ctx context.Context, guild string, offset, limit int) ([]readmodel.Game, int64, error) {
	if offset < 0 || limit <= 0 {
		return nil, 0, nil
	}
	key := r.k.guildGames(guild)
	pipe := r.rdb.Pipeline()
	ids := pipe.ZRevRange(ctx, key, int64(offset), int64(offset+limit-1))
	total := pipe.ZCard(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, translate("read games of guild "+guild, err)
	}
	gs, err := r.games(ctx, parseIDs(ids.Val()))
	return gs, total.Val(), err
}

// Player returns a player's figures in a game (Clicks 0 if they never
// clicked in it).
func (r *Reader) Player(ctx context.Context, id events.GameID, user string) (readmodel.Player, error) {
	pipe := r.rdb.Pipeline()
	exists := pipe.HExists(ctx, r.k.game(id), "game")
	rec := pipe.HGet(ctx, r.k.players(id), user)
	if err := execErr(ctx, pipe); err != nil {
		return readmodel.Player{}, translate(fmt.Sprintf("read player %s of game %d", user, id), err)
	}
	if !exists.Val() {
		return readmodel.Player{}, fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	return parsePlayer(id, user, rec.Val())
}

// PlayerBands returns a page of the colours of a player's clicks in a
// game, in click order, and how many clicks they have; limit ≤ 0 means
// all from offset (/rank, /clicks).
func (r *Reader) PlayerBands(ctx context.Context, id events.GameID, user string, offset, limit int) ([]events.Band, int64, error) {
	entries, total, err := r.playerIndex(ctx, id, user, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]events.Band, len(entries))
	for i, e := range entries {
		out[i] = events.Band(e[padWidth] - '0')
	}
	return out, total, nil
}

// PlayerClicks returns a page of a player's clicks in a game, in order,
// and how many they have; limit ≤ 0 means all from offset (charts).
func (r *Reader) PlayerClicks(ctx context.Context, id events.GameID, user string, offset, limit int) ([]readmodel.Click, int64, error) {
	entries, total, err := r.playerIndex(ctx, id, user, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	nums := make([]string, len(entries))
	for i, e := range entries {
		nums[i] = e[:padWidth]
	}
	out, err := r.clicksByNumber(ctx, id, nums)
	return out, total, err
}

// playerIndex reads a page of a player's click index entries.
func (r *Reader) playerIndex(ctx context.Context, id events.GameID, user string, offset, limit int) ([]string, int64, error) {
	offset = max(offset, 0)
	stop := int64(-1)
	if limit > 0 {
		stop = int64(offset+limit)*pcEntryLen - 1
	}
	key := r.k.playerClicks(id, user)
	pipe := r.rdb.Pipeline()
	exists := pipe.HExists(ctx, r.k.game(id), "game")
	n := pipe.StrLen(ctx, key)
	page := pipe.GetRange(ctx, key, int64(offset)*pcEntryLen, stop)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, translate(fmt.Sprintf("read clicks of player %s in game %d", user, id), err)
	}
	if !exists.Val() {
		return nil, 0, fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	v := page.Val()
	if len(v)%pcEntryLen != 0 {
		return nil, 0, fmt.Errorf("read clicks of player %s in game %d: index of %d bytes", user, id, len(v))
	}
	out := make([]string, 0, len(v)/pcEntryLen)
	for i := 0; i < len(v); i += pcEntryLen {
		out = append(out, v[i:i+pcEntryLen])
	}
	return out, n.Val() / pcEntryLen, nil
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// PlayerGames returns a player's figures in every game they clicked in,
// the most recently clicked first (the player card).
func (r *Reader) PlayerGames(ctx context.Context, user string) ([]readmodel.Player, error) {
	key := r.k.playerGames()
	members, err := r.rdb.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: "[" + user + ":", Max: "(" + user + ";"}).Result()
	if err != nil {
		return nil, translate("read games of player "+user, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	pipe := r.rdb.Pipeline()
	ids := make([]events.GameID, len(members))
	cmds := make([]*redis.StringCmd, len(members))
	for i, m := range members {
		_, g, _ := cutLast(m)
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read games of player %s: member %q", user, m)
		}
		ids[i] = events.GameID(n)
		cmds[i] = pipe.HGet(ctx, r.k.players(ids[i]), user)
	}
	if err := execErr(ctx, pipe); err != nil {
		return nil, translate("read games of player "+user, err)
	}
	out := make([]readmodel.Player, 0, len(members))
	for i, cmd := range cmds {
		p, err := parsePlayer(ids[i], user, cmd.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b readmodel.Player) int {
		return cmp.Or(b.LastAt.Compare(a.LastAt), cmp.Compare(b.Game, a.Game))
	})
	return out, nil
}

// Leaderboard returns the first n players of a game on a board, in the
// board's order (see Board). It reads every player of the game.
func (r *Reader) Leaderboard(ctx context.Context, id events.GameID, board readmodel.Board, n int) ([]readmodel.Standing, error) {
	if board < readmodel.ByMMR || board > readmodel.ByBest {
		return nil, fmt.Errorf("leaderboard %d: unknown board", board)
	}
	players, err := r.allPlayers(ctx, id)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(players, func(a, b readmodel.Player) int {
		switch board {
		case readmodel.ByMMR:
			return cmp.Or(cmp.Compare(b.MMRMilli, a.MMRMilli), cmp.Compare(b.Clicks, a.Clicks), cmp.Compare(a.User, b.User))
		case readmodel.ByClaimed:
			return cmp.Or(cmp.Compare(b.Claimed, a.Claimed), cmp.Compare(a.User, b.User))
		case readmodel.ByClicks:
			return cmp.Or(cmp.Compare(b.Clicks, a.Clicks), cmp.Compare(a.User, b.User))
		default:
			return cmp.Or(cmp.Compare(a.Best, b.Best), cmp.Compare(a.BestNumber, b.BestNumber), cmp.Compare(a.User, b.User))
		}
	})
	players = players[:max(0, min(n, len(players)))]
	out := make([]readmodel.Standing, len(players))
	for i, p := range players {
		out[i] = readmodel.Standing{Rank: i + 1, Player: p}
	}
	return out, nil
}

// allPlayers reads every player of a game, checking that it exists.
func (r *Reader) allPlayers(ctx context.Context, id events.GameID) ([]readmodel.Player, error) {
	pipe := r.rdb.Pipeline()
	exists := pipe.HExists(ctx, r.k.game(id), "game")
	all := pipe.HGetAll(ctx, r.k.players(id))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, translate(fmt.Sprintf("read players of game %d", id), err)
	}
	if !exists.Val() {
		return nil, fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	out := make([]readmodel.Player, 0, len(all.Val()))
	for u, rec := range all.Val() {
		p, err := parsePlayer(id, u, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// mustExist returns ErrNotFound if the game is not in the projection.
func (r *Reader) mustExist(ctx context.Context, id events.GameID) error {
	ok, err := r.rdb.HExists(ctx, r.k.game(id), "game").Result()
	if err != nil {
		return translate(fmt.Sprintf("read game %d", id), err)
	}
	if !ok {
		return fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	return nil
}

// Teams returns the per-colour table of a game (/leaderboard teams).
func (r *Reader) Teams(ctx context.Context, id events.GameID) (readmodel.Teams, error) {
	fields := []string{"game", "clicks", "claimed", "players"}
	for b := range 6 {
		fields = append(fields, "n"+strconv.Itoa(b), "t"+strconv.Itoa(b), "u"+strconv.Itoa(b))
	}
	vals, err := r.rdb.HMGet(ctx, r.k.game(id), fields...).Result()
	if err != nil {
		return readmodel.Teams{}, translate(fmt.Sprintf("read game %d", id), err)
	}
	if vals[0] == nil {
		return readmodel.Teams{}, fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	var p parser
	t := readmodel.Teams{Game: id, Clicks: p.int(vals[1]), Claimed: msDur(p.int(vals[2])), Players: p.int(vals[3])}
	for b := range 6 {
		t.Bands[b] = readmodel.BandStat{
			Band:    events.Band(b),
			Clicks:  p.int(vals[4+3*b]),
			Claimed: msDur(p.int(vals[5+3*b])),
			Players: p.int(vals[6+3*b]),
		}
	}
	if p.err != nil {
		return readmodel.Teams{}, fmt.Errorf("read game %d: %w", id, p.err)
	}
	return t, nil
}

// LowestClicks returns the n lowest clicks of a game, lowest first (the
// earlier click first on a tie); n is capped at LowestCap.
func (r *Reader) LowestClicks(ctx context.Context, id events.GameID, n int) ([]readmodel.Click, error) {
	if err := r.mustExist(ctx, id); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	nums, err := r.rdb.ZRange(ctx, r.k.low(id), 0, int64(n-1)).Result()
	if err != nil {
		return nil, translate(fmt.Sprintf("read lowest clicks of game %d", id), err)
	}
	return r.clicksByNumber(ctx, id, nums)
}

// GlobalLowestClicks returns the n lowest clicks of all games, lowest
// first (then by game and click number); n is capped at LowestCap.
func (r *Reader) GlobalLowestClicks(ctx context.Context, n int) ([]readmodel.Click, error) {
	if n <= 0 {
		return nil, nil
	}
	recs, err := r.rdb.ZRange(ctx, r.k.globalLow(), 0, int64(min(n, LowestCap)-1)).Result()
	if err != nil {
		return nil, translate("read lowest clicks", err)
	}
	return decodeClicks(recs)
}

// RecentClicks returns the n latest clicks of a game, newest first.
func (r *Reader) RecentClicks(ctx context.Context, id events.GameID, n int) ([]readmodel.Click, error) {
	if n <= 0 {
		return nil, r.mustExist(ctx, id)
	}
	recs, err := r.clickRange(ctx, id, -int64(n), -1)
	if err != nil {
		return nil, err
	}
	slices.Reverse(recs)
	return decodeClicks(recs)
}

// clickRange reads the click records of a game from index start to stop
// (inclusive, negative from the end), checking that the game exists.
func (r *Reader) clickRange(ctx context.Context, id events.GameID, start, stop int64) ([]string, error) {
	pipe := r.rdb.Pipeline()
	exists := pipe.HExists(ctx, r.k.game(id), "game")
	recs := pipe.LRange(ctx, r.k.clicks(id), start, stop)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, translate(fmt.Sprintf("read clicks of game %d", id), err)
	}
	if !exists.Val() {
		return nil, fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	return recs.Val(), nil
}

// GlobalRecentClicks returns the n latest clicks of all games, newest
// first; n is capped at RecentCap.
func (r *Reader) GlobalRecentClicks(ctx context.Context, n int) ([]readmodel.Click, error) {
	if n <= 0 {
		return nil, nil
	}
	recs, err := r.rdb.LRange(ctx, r.k.recent(), 0, int64(min(n, RecentCap)-1)).Result()
	if err != nil {
		return nil, translate("read recent clicks", err)
	}
	return decodeClicks(recs)
}

// Clicks returns up to limit clicks of a game in order, starting with
// click number from (1 is the first): the click series of the charts.
func (r *Reader) Clicks(ctx context.Context, id events.GameID, from int64, limit int) ([]readmodel.Click, error) {
	if limit <= 0 {
		return nil, r.mustExist(ctx, id)
	}
	from = max(from, 1)
	recs, err := r.clickRange(ctx, id, from-1, from-1+int64(limit)-1)
	if err != nil {
		return nil, err
	}
	return decodeClicks(recs)
}

// clicksByNumber reads clicks of a game by number (padded or not), in the
// given order.
func (r *Reader) clicksByNumber(ctx context.Context, id events.GameID, nums []string) ([]readmodel.Click, error) {
	if len(nums) == 0 {
		return nil, nil
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(nums))
	for i, s := range nums {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("click number %q of game %d: %w", s, id, err)
		}
		cmds[i] = pipe.LIndex(ctx, r.k.clicks(id), n-1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read clicks of game %d: a click is missing", id)
		}
		return nil, translate(fmt.Sprintf("read clicks of game %d", id), err)
	}
	out := make([]readmodel.Click, len(cmds))
	for i, cmd := range cmds {
		c, err := decodeClick(cmd.Val())
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// LastClickers returns the n (at most 10 is the usual) latest distinct
// clickers of a game, the latest first, with when each may click again
// (/whoready, /cooldowns). It reads every player of the game.
func (r *Reader) LastClickers(ctx context.Context, id events.GameID, n int) ([]readmodel.Clicker, error) {
	pipe := r.rdb.Pipeline()
	cd := pipe.HGet(ctx, r.k.game(id), "cd")
	all := pipe.HGetAll(ctx, r.k.players(id))
	if err := execErr(ctx, pipe); err != nil {
		return nil, translate(fmt.Sprintf("read last clickers of game %d", id), err)
	}
	if errors.Is(cd.Err(), redis.Nil) {
		return nil, fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	cooldown, err := cd.Int64()
	if err != nil {
		return nil, fmt.Errorf("read cooldown of game %d: %w", id, err)
	}
	out := make([]readmodel.Clicker, 0, len(all.Val()))
	for u, rec := range all.Val() {
		p, err := parsePlayer(id, u, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, readmodel.Clicker{User: p.User, Name: p.Name, LastAt: p.LastAt, LastNumber: p.LastNumber,
			ReadyAt: p.LastAt.Add(msDur(cooldown))})
	}
	slices.SortFunc(out, func(a, b readmodel.Clicker) int { return cmp.Compare(b.LastNumber, a.LastNumber) })
	return out[:max(0, min(n, len(out)))], nil
}

// EdgeWindow is how close to a colour edge a click must be to count for
// /edging: min(5 minutes, duration/36).
func EdgeWindow(duration time.Duration) time.Duration {
	return msDur(min(5*60*1000, duration.Milliseconds()/36))
}

// NearestEdge returns the distance of a value to the nearest edge between
// two colours of a game of the given duration, the band just above that
// edge and whether the value is on that band's side. The edges are the
// lower ends of events.BandRange of bands Orange…Purple.
func NearestEdge(value, duration time.Duration) (distance time.Duration, edge events.Band, above bool) {
	v, d := value.Milliseconds(), duration.Milliseconds()
	best := int64(-1)
	for _, b := range events.Bands[1:] {
		lo, _ := events.BandRange(b, d)
		dist := v - lo
		if dist < 0 {
			dist = -dist
		}
		if best < 0 || dist < best {
			best, edge, above = dist, b, v >= lo
		}
	}
	return msDur(best), edge, above
}

// EdgeClicks returns the n clicks of a game closest to a colour edge,
// within EdgeWindow, closest first (the earlier click first on a tie).
func (r *Reader) EdgeClicks(ctx context.Context, id events.GameID, n int) ([]readmodel.EdgeClick, error) {
	dur, err := r.rdb.HGet(ctx, r.k.game(id), "dur").Int64()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("game %d: %w", id, readmodel.ErrNotFound)
	}
	if err != nil {
		return nil, translate(fmt.Sprintf("read game %d", id), err)
	}
	if n <= 0 {
		return nil, nil
	}
	nums, err := r.rdb.ZRange(ctx, r.k.edge(id), 0, int64(n-1)).Result()
	if err != nil {
		return nil, translate(fmt.Sprintf("read edge clicks of game %d", id), err)
	}
	clicks, err := r.clicksByNumber(ctx, id, nums)
	if err != nil {
		return nil, err
	}
	out := make([]readmodel.EdgeClick, len(clicks))
	for i, c := range clicks {
		dist, edge, above := NearestEdge(c.Value, msDur(dur))
		out[i] = readmodel.EdgeClick{Click: c, Distance: dist, Edge: edge, Above: above}
	}
	return out, nil
}

// ClicksPerHour returns a game's clicks per UTC hour, in time order, only
// hours with clicks (charts, heat maps).
func (r *Reader) ClicksPerHour(ctx context.Context, id events.GameID) ([]readmodel.HourCount, error) {
	if err := r.mustExist(ctx, id); err != nil {
		return nil, err
	}
	m, err := r.rdb.HGetAll(ctx, r.k.hours(id)).Result()
	if err != nil {
		return nil, translate(fmt.Sprintf("read clicks per hour of game %d", id), err)
	}
	out := make([]readmodel.HourCount, 0, len(m))
	for h, n := range m {
		hour, err1 := strconv.ParseInt(h, 10, 64)
		count, err2 := strconv.ParseInt(n, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("read clicks per hour of game %d: %w", id, err)
		}
		out = append(out, readmodel.HourCount{Hour: msTime(hour * 3600 * 1000), Clicks: count})
	}
	slices.SortFunc(out, func(a, b readmodel.HourCount) int { return a.Hour.Compare(b.Hour) })
	return out, nil
}

// LifetimeRanking returns every game of every guild ranked by lifetime at
// now (start → end, or now while alive), longest first, the smaller game
// number first on a tie (/buttonrank).
func (r *Reader) LifetimeRanking(ctx context.Context, now time.Time) ([]readmodel.RankedGame, error) {
	ids, err := r.rdb.ZRange(ctx, r.k.games(), 0, -1).Result()
	if err != nil {
		return nil, translate("read games", err)
	}
	games := parseIDs(ids)
	pipe := r.rdb.Pipeline()
	icons := pipe.HGetAll(ctx, r.k.icons())
	cmds := make([]*redis.SliceCmd, len(games))
	for i, id := range games {
		cmds[i] = pipe.HMGet(ctx, r.k.game(id), "game", "guild", "start", "status", "end_at", "last_at", "dur", "clicks", "players")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, translate("read games", err)
	}
	out := make([]readmodel.RankedGame, 0, len(games))
	for i, cmd := range cmds {
		v := cmd.Val()
		if v[0] == nil {
			continue
		}
		var p parser
		g := readmodel.Game{
			ID: games[i], Guild: p.str(v[1]), Start: msTime(p.int(v[2])), Status: events.Status(p.str(v[3])),
			EndedAt: msTime(p.int(v[4])), Clicks: p.int(v[7]), Players: p.int(v[8]),
		}
		g.Deadline = msTime(p.int(v[5]) + p.int(v[6]))
		if p.err != nil {
			return nil, fmt.Errorf("read game %d: %w", games[i], p.err)
		}
		out = append(out, readmodel.RankedGame{
			Game: g.ID, Guild: g.Guild, Icon: icons.Val()[g.Guild], Status: g.Status, Start: g.Start,
			End: g.End(now), Lifetime: g.Lifetime(now), Clicks: g.Clicks, Players: g.Players,
		})
	}
	slices.SortFunc(out, func(a, b readmodel.RankedGame) int {
		return cmp.Or(cmp.Compare(b.Lifetime, a.Lifetime), cmp.Compare(a.Game, b.Game))
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out, nil
}

// GuildIcon returns the icon a guild chose, "" if none.
func (r *Reader) GuildIcon(ctx context.Context, guild string) (string, error) {
	v, err := r.rdb.HGet(ctx, r.k.icons(), guild).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", translate("read icon of guild "+guild, err)
	}
	return v, nil
}

// Bans returns a guild's ban list, the oldest ban first.
func (r *Reader) Bans(ctx context.Context, guild string) ([]readmodel.Ban, error) {
	m, err := r.rdb.HGetAll(ctx, r.k.bans(guild)).Result()
	if err != nil {
		return nil, translate("read bans of guild "+guild, err)
	}
	out := make([]readmodel.Ban, 0, len(m))
	for user, rec := range m {
		parts := strings.SplitN(rec, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("ban record %q of guild %s", rec, guild)
		}
		at, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ban record %q of guild %s: %w", rec, guild, err)
		}
		out = append(out, readmodel.Ban{User: user, By: parts[0], At: msTime(at), Reason: parts[2]})
	}
	slices.SortFunc(out, func(a, b readmodel.Ban) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.User, b.User)) })
	return out, nil
}

// IsBanned reports whether a player is on a guild's ban list.
func (r *Reader) IsBanned(ctx context.Context, guild, user string) (bool, error) {
	ok, err := r.rdb.HExists(ctx, r.k.bans(guild), user).Result()
	if err != nil {
		return false, translate("read bans of guild "+guild, err)
	}
	return ok, nil
}

// Quest returns the first n of a guild's monthly board for the UTC month
// containing month: time claimed high to low, then user id (/quest).
func (r *Reader) Quest(ctx context.Context, guild string, month time.Time, n int) (readmodel.Quest, error) {
	month = monthStart(month)
	q := readmodel.Quest{Guild: guild, Month: month}
	all, err := r.rdb.HGetAll(ctx, r.k.quest(guild, month.Format("200601"))).Result()
	if err != nil {
		return q, translate("read quest of guild "+guild, err)
	}
	var p parser
	for u, rec := range all {
		switch u {
		case "_claimed":
			q.Claimed = msDur(p.int(rec))
			continue
		case "_clicks":
			q.Clicks = p.int(rec)
			continue
		}
		qr, err := parseQuestRec(rec)
		if err != nil {
			return q, fmt.Errorf("read quest of guild %s: %w", guild, err)
		}
		q.Entries = append(q.Entries, readmodel.QuestEntry{User: u, Name: qr.name, Claimed: msDur(qr.claimed), Clicks: qr.clicks, Bands: qr.b})
	}
	if p.err != nil {
		return q, fmt.Errorf("read quest of guild %s: %w", guild, p.err)
	}
	q.Players = int64(len(q.Entries))
	slices.SortFunc(q.Entries, func(a, b readmodel.QuestEntry) int {
		return cmp.Or(cmp.Compare(b.Claimed, a.Claimed), cmp.Compare(a.User, b.User))
	})
	q.Entries = q.Entries[:max(0, min(n, len(q.Entries)))]
	for i := range q.Entries {
		q.Entries[i].Rank = i + 1
	}
	if len(q.Entries) == 0 {
		q.Entries = nil
	}
	return q, nil
}

// QuestWinners returns the first of each monthly board of a guild, from
// the month of its first game up to, not including, the month of before;
// months without clicks are left out.
func (r *Reader) QuestWinners(ctx context.Context, guild string, before time.Time) ([]readmodel.QuestWinner, error) {
	first, err := r.rdb.ZRangeWithScores(ctx, r.k.guildGames(guild), 0, 0).Result()
	if err != nil {
		return nil, translate("read games of guild "+guild, err)
	}
	if len(first) == 0 {
		return nil, nil
	}
	var out []readmodel.QuestWinner
	end := monthStart(before)
	for m := monthStart(msTime(int64(first[0].Score))); m.Before(end); m = m.AddDate(0, 1, 0) {
		q, err := r.Quest(ctx, guild, m, 1)
		if err != nil {
			return nil, err
		}
		if len(q.Entries) > 0 {
			out = append(out, readmodel.QuestWinner{Month: m, QuestEntry: q.Entries[0]})
		}
	}
	return out, nil
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func parseIDs(ids []string) []events.GameID {
	out := make([]events.GameID, 0, len(ids))
	for _, s := range ids {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			out = append(out, events.GameID(n))
		}
	}
	return out
}

func decodeClicks(recs []string) ([]readmodel.Click, error) {
	out := make([]readmodel.Click, len(recs))
	for i, rec := range recs {
		c, err := decodeClick(rec)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// parser reads fields, keeping the first error.
type parser struct{ err error }

func (p *parser) str(v any) string {
	s, _ := v.(string)
	return s
}

func (p *parser) int(v any) int64 {
	s, ok := v.(string)
	if !ok || s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && p.err == nil {
		p.err = err
	}
	return n
}

func (p *parser) field(m map[string]string, name string) int64 {
	s, ok := m[name]
	if !ok {
		return 0
	}
	return p.int(s)
}

// parseGame reads a game hash; ok is false if the game does not exist.
func parseGame(m map[string]string) (g readmodel.Game, ok bool, err error) {
	if m["game"] == "" {
		return readmodel.Game{}, false, nil
	}
	var p parser
	g = readmodel.Game{
		ID:             events.GameID(p.field(m, "game")),
		Guild:          m["guild"],
		ButtonChannel:  m["bch"],
		ChatChannel:    m["cch"],
		Duration:       msDur(p.field(m, "dur")),
		Cooldown:       msDur(p.field(m, "cd")),
		Sequential:     int(p.field(m, "seqn")),
		StartedBy:      m["by"],
		StarterName:    m["byname"],
		Start:          msTime(p.field(m, "start")),
		Status:         events.Status(m["status"]),
		LastClickAt:    msTime(p.field(m, "last_at")),
		Clicks:         p.field(m, "clicks"),
		Players:        p.field(m, "players"),
		Claimed:        msDur(p.field(m, "claimed")),
		MessageChannel: m["msg_ch"],
		MessageID:      m["msg_id"],
		EndedAt:        msTime(p.field(m, "end_at")),
		EndReason:      events.EndReason(m["end_reason"]),
		EndedBy:        m["end_by"],
		EndWhy:         m["end_why"],
		Seq:            uint64(p.field(m, "ck")),
	}
	g.Deadline = g.LastClickAt.Add(g.Duration)
	if p.err != nil {
		return readmodel.Game{}, false, p.err
	}
	if rec := m["last"]; rec != "" {
		c, err := decodeClick(rec)
		if err != nil {
			return readmodel.Game{}, false, err
		}
		g.Last = &c
	}
	return g, true, nil
}

// parsePlayer reads a packed player record ("": a player without clicks).
func parsePlayer(id events.GameID, user, rec string) (readmodel.Player, error) {
	if rec == "" {
		return readmodel.Player{Game: id, User: user}, nil
	}
	p, err := parsePlayerRec(rec)
	if err != nil {
		return readmodel.Player{}, fmt.Errorf("read player %s of game %d: %w", user, id, err)
	}
	return readmodel.Player{Game: id, User: user, Name: p.name, Clicks: p.clicks, Best: msDur(p.best), BestNumber: p.bestN,
		BestBand: events.Band(p.bestB), FirstAt: msTime(p.firstAt), LastAt: msTime(p.lastAt), LastNumber: p.lastN,
		Claimed: msDur(p.claimed), MMRMilli: p.mmr, Bands: p.b}, nil
}
