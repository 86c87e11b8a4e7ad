// Package legacytest builds databases in the original Python bot's schema
// for tests and benchmarks of the legacy import: the multi-guild tables as
// the original's database looked after years of in-place upgrades (with
// the older single-guild layout's clicks still in it, an unknown column
// and an unknown table), filled with a deterministic history holding every
// kind of anomaly the import must carry over faithfully.
//
// It imports database/sql and the standard library only; the caller
// opens the database (see projector/mysqlproj/mysqltest).
package legacytest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Schema is the original's schema as an upgraded database holds it.
var Schema = []string{
	`CREATE TABLE game_sessions (
		id INT AUTO_INCREMENT PRIMARY KEY, admin_role_id BIGINT, guild_id BIGINT, button_channel_id BIGINT,
		game_chat_channel_id BIGINT, start_time DATETIME, end_time DATETIME NULL, timer_duration INT,
		cooldown_duration INT, sequential_click_requirement INT NULL)`,
	`CREATE TABLE users (
		user_id BIGINT PRIMARY KEY, user_name VARCHAR(255), cooldown_expiration DATETIME, color_rank VARCHAR(255),
		total_clicks INT DEFAULT 0, lowest_click_time INT, last_click_time DATETIME, game_session INT)`,
	// game_id NULL and user_name: the older single-guild layout's rows;
	// shard: a column the original's code never had.
	`CREATE TABLE button_clicks (
		id INT AUTO_INCREMENT PRIMARY KEY, game_id INT NULL, user_id BIGINT, user_name VARCHAR(255) NULL,
		click_time DATETIME, timer_value INT, shard INT NULL)`,
	`CREATE TABLE guild_icons (guild_id BIGINT PRIMARY KEY, icon_emoji VARCHAR(32), last_updated DATETIME)`,
	`CREATE TABLE guild_names (guild_id BIGINT PRIMARY KEY, guild_name VARCHAR(255), last_updated DATETIME)`,
	`CREATE TABLE latest_click (id INT PRIMARY KEY, click_time DATETIME)`,
	`CREATE TABLE bot_notes (id INT PRIMARY KEY, note TEXT)`,
}

// The fixture's guilds and the older layout's settings.
const (
	Guild1 = "111111111111111111"
	Guild2 = "222222222222222222"
	Guild3 = "333333333333333333"

	OldGuild   = Guild2
	OldChannel = "222222222222222299"
	OldGame    = 6 // the number the older layout's game gets here
)

// Game describes one game of a fixture.
type Game struct {
	ID         int64 // 0: the older layout (no game_sessions row)
	Guild      int64
	Channel    int64
	DurationS  int64
	CooldownH  int64
	Sequential int64 // 0: NULL
	Clicks     int
	// Ended games get the original's wrong end_time (last click + last
	// value) unless NoEndTime; the live game ends its clicks an hour
	// before now.
	Live      bool
	NoEndTime bool
}

// Standard is the fixture of the import's acceptance test: 3 guilds,
// 5 games (one live, one in the older layout), 2,000 clicks.
func Standard() []Game {
	return []Game{
		{ID: 0, Guild: 222222222222222222, Channel: 222222222222222299, DurationS: 43200, CooldownH: 3, Clicks: 400},
		{ID: 1, Guild: 111111111111111111, Channel: 111111111111111101, DurationS: 43200, CooldownH: 3, Clicks: 500},
		{ID: 2, Guild: 222222222222222222, Channel: 222222222222222201, DurationS: 7200, CooldownH: 1, Sequential: 2, Clicks: 400},
		{ID: 3, Guild: 333333333333333333, Channel: 333333333333333301, DurationS: 43200, CooldownH: 3, Clicks: 300, NoEndTime: true},
		{ID: 4, Guild: 111111111111111111, Channel: 111111111111111102, DurationS: 43200, CooldownH: 3, Clicks: 400, Live: true},
	}
}

// Users is how many distinct players the fixture draws from; the last
// five have no users row.
const Users = 60

func userID(i int) int64 { return 400000000000000000 + int64(i) }

// Fill creates the original's schema in db (an empty database) and fills
// it with games. now anchors the history: the live game's last click is an
// hour before it. The same arguments give the same rows.
func Fill(ctx context.Context, db *sql.DB, games []Game, now time.Time) error {
	for _, s := range Schema {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("legacytest: %w", err)
		}
	}
	now = now.UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(15, 2026))
	var userRows [][]any
	for i := 0; i < Users-5; i++ {
		name := fmt.Sprintf("player%02d", i)
		if i == 7 {
			name = strings.Repeat("ä", 150) // 300 bytes: longer than a name may be here
		}
		userRows = append(userRows, []any{userID(i), name, 0})
	}
	if err := insert(ctx, db, "users (user_id, user_name, total_clicks)", userRows); err != nil {
		return err
	}
	var clickRows [][]any
	nextID := int64(1)
	for gi, g := range games {
		times, values, users := history(rng, g, now, gi)
		var gameID any
		if g.ID != 0 {
			gameID = g.ID
		}
		start := times[0].Add(-time.Duration(rng.IntN(600)+1) * time.Second)
		if g.ID != 0 {
			end := any(nil)
			last := len(times) - 1
			if !g.Live && !g.NoEndTime {
				end = times[last].Add(time.Duration(values[last]) * time.Second) // the original's bug
			}
			var seq any
			if g.Sequential > 0 {
				seq = g.Sequential
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO game_sessions (id, admin_role_id, guild_id, button_channel_id,
				game_chat_channel_id, start_time, end_time, timer_duration, cooldown_duration, sequential_click_requirement)
				VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`, g.ID, g.Guild, g.Channel, g.Channel, start, end,
				g.DurationS, g.CooldownH, seq); err != nil {
				return fmt.Errorf("legacytest: %w", err)
			}
		}
		ids := make([]int64, len(times))
		for i := range ids {
			ids[i] = nextID
			nextID++
		}
		// The original stored some clicks out of time order.
		for i := 10; i+1 < len(ids); i += 97 {
			ids[i], ids[i+1] = ids[i+1], ids[i]
		}
		for i := range times {
			var name any
			if g.ID == 0 {
				name = fmt.Sprintf("old-%d", users[i])
			}
			var shard any
			if i%50 == 0 {
				shard = i % 5
			}
			clickRows = append(clickRows, []any{ids[i], gameID, userID(users[i]), name, times[i], values[i], shard})
		}
	}
	if err := insert(ctx, db, "button_clicks (id, game_id, user_id, user_name, click_time, timer_value, shard)", clickRows); err != nil {
		return err
	}
	day := now.Add(-400 * 24 * time.Hour)
	for _, q := range []string{
		`INSERT INTO guild_names VALUES (111111111111111111, 'First Guild', ?), (222222222222222222, 'Second Guild', ?),
			(333333333333333333, 'Third Guild', ?)`,
		`INSERT INTO guild_icons VALUES (111111111111111111, '🔥', ?), (222222222222222222, '🐉', ?),
			(333333333333333333, '🦄', ?)`,
	} {
		if _, err := db.ExecContext(ctx, q, day, day, day); err != nil {
			return fmt.Errorf("legacytest: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO bot_notes VALUES (1, 'not the game''s')`); err != nil {
		return fmt.Errorf("legacytest: %w", err)
	}
	return nil
}

// history makes a game's clicks: times (whole seconds), the stored
// values and the players (indexes). Most follow the rules; a few carry
// the original's anomalies: two clicks in one second, a value measured
// late (lower than the clock said), a value on a band edge where the
// original's classifiers disagree, a click inside the cooldown, one
// against N, and, for a game without end_time, a click after the deadline.
func history(rng *rand.Rand, g Game, now time.Time, gi int) ([]time.Time, []int64, []int) {
	n := g.Clicks
	gaps := make([]int64, n)
	for i := range gaps {
		gaps[i] = 1 + rng.Int64N(g.DurationS-1)
	}
	gaps[0] = 30
	if n > 20 {
		gaps[5] = 0                   // same second as the click before
		gaps[6] = g.DurationS / 6 * 5 // value duration/6: a band edge
	}
	if g.NoEndTime && n > 30 {
		gaps[20] = g.DurationS + 60 // after the deadline
	}
	var total int64
	for _, d := range gaps {
		total += d
	}
	end := now.Add(-time.Hour)
	if !g.Live {
		end = now.Add(-time.Duration(30+gi*20) * 24 * time.Hour)
	}
	t := end.Add(-time.Duration(total) * time.Second)
	times := make([]time.Time, n)
	values := make([]int64, n)
	users := make([]int, n)
	last := map[int]time.Time{}
	lastIdx := map[int]int{}
	cool := time.Duration(g.CooldownH) * time.Hour
	for i := range n {
		t = t.Add(time.Duration(gaps[i]) * time.Second)
		times[i] = t
		v := max(0, g.DurationS-gaps[i])
		if i > 0 && i%41 == 0 && v > 3 {
			v -= 2 // measured when the bot got round to it
		}
		values[i] = v
		// A player who may click: cooldown over and N others since.
		ok := func(u int) bool {
			lt, seen := last[u]
			if !seen {
				return true
			}
			if lt.Add(cool).After(t) {
				return false
			}
			others := map[int]bool{}
			for j := lastIdx[u] + 1; j < i; j++ {
				if users[j] != u {
					others[users[j]] = true
				}
			}
			return int64(len(others)) >= g.Sequential
		}
		u := rng.IntN(Users)
		for tries := 0; tries < 200 && !ok(u); tries++ {
			u = rng.IntN(Users)
		}
		if i > 2 && i%83 == 0 {
			u = users[i-1] // the same player again: cooldown (and N) broken
		}
		users[i] = u
		last[u] = t
		lastIdx[u] = i
	}
	return times, values, users
}

func insert(ctx context.Context, db *sql.DB, into string, rows [][]any) error {
	const per = 500
	for len(rows) > 0 {
		k := min(per, len(rows))
		cols := len(rows[0])
		ph := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
		q := "INSERT INTO " + into + " VALUES " + strings.TrimSuffix(strings.Repeat(ph+",", k), ",")
		args := make([]any, 0, k*cols)
		for _, r := range rows[:k] {
			args = append(args, r...)
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("legacytest: insert into %s: %w", into, err)
		}
		rows = rows[k:]
	}
	return nil
}

// Stats are a game's figures as the original's own queries (behaviour
// reference §5.2) compute them.
type Stats struct {
	Clicks, Players int64
	Lowest          int64 // MIN(timer_value), seconds
	Claimed         int64 // SUM(GREATEST(0, timer_duration − timer_value)), seconds
}

// Query runs the original's per-game queries; id 0 is the older layout's
// game (rows without game_id) of the given duration.
func Query(ctx context.Context, db *sql.DB, id int64, durationS int64) (Stats, error) {
	where, args := "game_id = ?", []any{durationS, id}
	if id == 0 {
		where, args = "game_id IS NULL", []any{durationS}
	}
	var s Stats
	err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT user_id), COALESCE(MIN(timer_value), 0),
		COALESCE(SUM(GREATEST(0, ? - timer_value)), 0) FROM button_clicks WHERE `+where, args...).
		Scan(&s.Clicks, &s.Players, &s.Lowest, &s.Claimed)
	if err != nil {
		return Stats{}, fmt.Errorf("legacytest: stats of game %d: %w", id, err)
	}
	return s, nil
}
