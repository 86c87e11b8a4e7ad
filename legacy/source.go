package legacy

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// knownColumns are the columns of the original's tables (§5.1 of the
// behaviour reference, including the columns it wrote or added by hand).
// Anything else is reported as unknown and not read.
var knownColumns = map[string][]string{
	"game_sessions": {"id", "admin_role_id", "guild_id", "button_channel_id", "game_chat_channel_id",
		"start_time", "end_time", "timer_duration", "cooldown_duration", "sequential_click_requirement"},
	"button_clicks": {"id", "game_id", "user_id", "user_name", "click_time", "timer_value"},
	"users": {"user_id", "user_name", "cooldown_expiration", "color_rank", "total_clicks",
		"lowest_click_time", "last_click_time", "game_session"},
	"guild_icons":  {"guild_id", "icon_emoji", "last_updated"},
	"guild_names":  {"guild_id", "guild_name", "last_updated"},
	"latest_click": {"id", "click_time"},
}

// gameRow is a game_sessions row.
type gameRow struct {
	ID                   int64
	Guild, Button, Chat  int64
	Start                time.Time
	End                  sql.NullTime
	DurationS, CooldownH int64
	Sequential           sql.NullInt64
}

// clickRow is a button_clicks row.
type clickRow struct {
	ID       int64
	Game     sql.NullInt64 // NULL (or no column): the older single-guild layout
	User     int64
	UserName sql.NullString // only in the older layout
	At       time.Time
	ValueS   int64
}

// guildRow is a guild's icon or name.
type guildRow struct {
	Guild int64
	Text  string
	At    sql.NullTime
}

// snapshot is everything read from the source, in one transaction.
type snapshot struct {
	Database string
	Games    []gameRow
	Clicks   []clickRow
	Users    map[int64]sql.NullString
	Icons    []guildRow
	Names    []guildRow
	Unknown  Anomalies // unknown tables and columns
	OldRows  bool      // button_clicks has no game_id column at all
}

// OpenSource opens the original's database read-only in spirit: the
// driver is told to parse DATETIME as UTC (the original stored UTC) and
// every read runs in a READ ONLY transaction. The DSN is go-sql-driver's.
func OpenSource(dsn string) (*sql.DB, string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("source DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, "", fmt.Errorf("source DSN names no database")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("source DSN: %w", err)
	}
	return sql.OpenDB(conn), cfg.DBName, nil
}

// read loads the source in one READ ONLY, REPEATABLE READ transaction, so
// the tables are read as one consistent snapshot even while the original
// bot is still running.
func read(ctx context.Context, db *sql.DB) (*snapshot, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("open read-only transaction on the source: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to undo
	s := &snapshot{Users: map[int64]sql.NullString{}}
	if err := tx.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&s.Database); err != nil {
		return nil, fmt.Errorf("read source database name: %w", err)
	}
	cols, err := columns(ctx, tx)
	if err != nil {
		return nil, err
	}
	var tables []string
	for t := range cols {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		known, ok := knownColumns[strings.ToLower(t)]
		if !ok {
			s.Unknown.add(KindUnknownTable, "table %s (%d columns)", t, len(cols[t]))
			continue
		}
		for _, c := range cols[t] {
			if !contains(known, strings.ToLower(c)) {
				s.Unknown.add(KindUnknownColumn, "%s.%s", t, c)
			}
		}
	}
	has := func(table, col string) bool { return contains(lower(cols[table]), col) }
	if _, ok := cols["button_clicks"]; !ok {
		return nil, fmt.Errorf("the source %s has no button_clicks table: is it the original bot's database?", s.Database)
	}
	for _, c := range []string{"id", "user_id", "click_time", "timer_value"} {
		if !has("button_clicks", c) {
			return nil, fmt.Errorf("the source's button_clicks has no %s column", c)
		}
	}
	if _, ok := cols["game_sessions"]; ok {
		if err := readGames(ctx, tx, s, has("game_sessions", "sequential_click_requirement")); err != nil {
			return nil, err
		}
	}
	s.OldRows = !has("button_clicks", "game_id")
	if err := readClicks(ctx, tx, s, !s.OldRows, has("button_clicks", "user_name")); err != nil {
		return nil, err
	}
	if has("users", "user_id") {
		nameCol := "NULL"
		if has("users", "user_name") {
			nameCol = "user_name"
		}
		if err := each(ctx, tx, "SELECT user_id, "+nameCol+" FROM users", func(r *sql.Rows) error {
			var id int64
			var name sql.NullString
			if err := r.Scan(&id, &name); err != nil {
				return err
			}
			s.Users[id] = name
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read users: %w", err)
		}
	}
	if s.Icons, err = readGuildTable(ctx, tx, cols, "guild_icons", "icon_emoji"); err != nil {
		return nil, err
	}
	if s.Names, err = readGuildTable(ctx, tx, cols, "guild_names", "guild_name"); err != nil {
		return nil, err
	}
	return s, nil
}

func columns(ctx context.Context, tx *sql.Tx) (map[string][]string, error) {
	cols := map[string][]string{}
	err := each(ctx, tx, `SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION`, func(r *sql.Rows) error {
		var t, c string
		if err := r.Scan(&t, &c); err != nil {
			return err
		}
		cols[t] = append(cols[t], c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the source's columns: %w", err)
	}
	return cols, nil
}

func readGames(ctx context.Context, tx *sql.Tx, s *snapshot, seq bool) error {
	seqCol := "NULL"
	if seq {
		seqCol = "sequential_click_requirement"
	}
	q := `SELECT id, guild_id, button_channel_id, COALESCE(game_chat_channel_id, button_channel_id), start_time, end_time,
		timer_duration, cooldown_duration, ` + seqCol + ` FROM game_sessions ORDER BY id`
	err := each(ctx, tx, q, func(r *sql.Rows) error {
		var g gameRow
		var start sql.NullTime
		var guild, button, chat, dur, cool sql.NullInt64
		if err := r.Scan(&g.ID, &guild, &button, &chat, &start, &g.End, &dur, &cool, &g.Sequential); err != nil {
			return err
		}
		g.Guild, g.Button, g.Chat, g.DurationS, g.CooldownH = guild.Int64, button.Int64, chat.Int64, dur.Int64, cool.Int64
		g.Start = start.Time // zero when NULL: the first click's time is used
		s.Games = append(s.Games, g)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read game_sessions: %w", err)
	}
	return nil
}

func readClicks(ctx context.Context, tx *sql.Tx, s *snapshot, gameCol, nameCol bool) error {
	g, n := "NULL", "NULL"
	if gameCol {
		g = "game_id"
	}
	if nameCol {
		n = "user_name"
	}
	q := "SELECT id, " + g + ", user_id, " + n + ", click_time, timer_value FROM button_clicks"
	err := each(ctx, tx, q, func(r *sql.Rows) error {
		var c clickRow
		var at sql.NullTime
		var v sql.NullInt64
		if err := r.Scan(&c.ID, &c.Game, &c.User, &c.UserName, &at, &v); err != nil {
			return err
		}
		c.At, c.ValueS = at.Time, v.Int64
		s.Clicks = append(s.Clicks, c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read button_clicks: %w", err)
	}
	return nil
}

func readGuildTable(ctx context.Context, tx *sql.Tx, cols map[string][]string, table, textCol string) ([]guildRow, error) {
	have := lower(cols[table])
	if !contains(have, "guild_id") || !contains(have, textCol) {
		return nil, nil
	}
	at := "NULL"
	if contains(have, "last_updated") {
		at = "last_updated"
	}
	var out []guildRow
	err := each(ctx, tx, "SELECT guild_id, "+textCol+", "+at+" FROM "+table+" ORDER BY guild_id", func(r *sql.Rows) error {
		var g guildRow
		var text sql.NullString
		if err := r.Scan(&g.Guild, &text, &g.At); err != nil {
			return err
		}
		g.Text = text.String
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return out, nil
}

func each(ctx context.Context, tx *sql.Tx, q string, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func lower(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ToLower(s)
	}
	return out
}
