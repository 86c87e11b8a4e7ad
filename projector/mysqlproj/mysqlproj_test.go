package mysqlproj_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

var (
	_ projector.Sink     = (*mysqlproj.Sink)(nil)
	_ projector.Verifier = (*mysqlproj.Sink)(nil)
)

func TestOpenCreatesTheDatabase(t *testing.T) {
	t.Parallel()
	cfg, err := mysql.ParseDSN(mysqltest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = mysqltest.DatabaseName(t) // does not exist yet
	t.Cleanup(func() {
		admin := cfg.Clone()
		admin.DBName = ""
		c, _ := mysql.NewConnector(admin)
		db := sql.OpenDB(c)
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`"); err != nil {
			t.Error(err)
		}
	})
	s := openSink(t, cfg.FormatDSN())
	if s.Name() != "mysql" {
		t.Errorf("Name() = %q, want mysql", s.Name())
	}
	pos, err := s.Position(context.Background())
	if err != nil || pos != 0 {
		t.Errorf("Position() = %d, %v; want 0", pos, err)
	}
	var tz, db string
	if err := s.DB().QueryRow("SELECT @@session.time_zone, DATABASE()").Scan(&tz, &db); err != nil {
		t.Fatal(err)
	}
	if tz != "+00:00" || db != cfg.DBName {
		t.Errorf("session time zone %q in %q, want +00:00 in %q", tz, db, cfg.DBName)
	}
	// A second Open of the same database finds it migrated.
	openSink(t, cfg.FormatDSN())
}

func TestOpenRefusesADSNWithoutDatabase(t *testing.T) {
	t.Parallel()
	_, err := mysqlproj.Open(context.Background(), "root@tcp(127.0.0.1:3306)/", nil)
	if err == nil {
		t.Fatal("Open without a database name succeeded")
	}
}

// sample is a hand-built stream with two games, guild settings and
// messages the history must leave out.
func sample() *gen {
	g := newGen()
	const minute = 60_000
	g.start(1, "111", t0, minute)
	g.add(events.ChannelSubject("9001"), events.ChannelClaimed{Channel: "9001", Guild: "111", Game: 1, AtMS: t0})
	g.click(1, "501", "Alice", t0+10_000)                          // value 50 000: Purple
	g.click(1, "502", "Bob", t0+10_000+35_000)                     // value 25 000: Yellow
	g.junk(events.GameSubject(1), `{"type":"game.button_clicked"`) // as `nats pub` would
	g.click(1, "501", "", t0+10_000+35_000+55_000)                 // value 5 000: Red, no name
	g.click(1, "501", "Alice II", t0+10_000+35_000+55_000+1)       // value 59 999: Purple
	// Refused by the fold: a second start, a click out of order, a click on
	// another game's subject, an event on another guild's subject.
	g.add(events.GameSubject(1), events.GameStarted{Game: 1, Guild: "111", ButtonChannel: "1", ChatChannel: "1",
		DurationMS: 5, StartedBy: "1", AtMS: t0})
	g.add(events.GameSubject(1), events.ButtonClicked{Game: 1, Guild: "111", Number: 9, User: "503", AtMS: t0 + 200_000,
		ValueMS: 1, ClaimedMS: minute - 1})
	g.add(events.GameSubject(3), events.ButtonClicked{Game: 1, Guild: "111", Number: 5, User: "503", AtMS: t0 + 200_000,
		ValueMS: 1, ClaimedMS: minute - 1})
	g.add(events.GuildSubject("222"), events.GuildIconSet{Guild: "111", Icon: "🔥", By: "42", AtMS: t0})
	g.add(events.GameSubject(1), events.GameEnded{Game: 1, Reason: events.EndExpired, AtMS: t0 + 100_001 + minute})
	g.add(events.GameSubject(1), events.GameEnded{Game: 1, Reason: events.EndAborted, By: "42", AtMS: t0 + 300_000}) // ended twice

	g.start(2, "222", t0+1_000, 12*3600_000)
	g.add(events.GameSubject(2), events.GameMessagePosted{Game: 2, Channel: "9002", MessageID: "77", AtMS: t0 + 1_001})
	g.click(2, "502", "Bob B", t0+2_000)
	g.add(events.GameSubject(2), events.GameMessagePosted{Game: 2, Channel: "9002", MessageID: "78", AtMS: t0 + 3_000})
	g.add(events.GameSubject(2), events.GameEnded{Game: 2, Reason: events.EndAborted, By: "42", Why: "testing", AtMS: t0 + 4_000})

	g.add(events.GuildSubject("111"), events.GuildIconSet{Guild: "111", Icon: "🐉", By: "42", AtMS: t0 + 5})
	g.add(events.GuildSubject("111"), events.PlayerBanned{Guild: "111", User: "777", By: "42", Reason: "spam", AtMS: t0 + 6})
	g.add(events.GuildSubject("111"), events.PlayerBanned{Guild: "111", User: "778", By: "42", AtMS: t0 + 7})
	g.add(events.GuildSubject("111"), events.PlayerUnbanned{Guild: "111", User: "777", By: "42", AtMS: t0 + 8})
	g.add(events.GuildSubject("111"), events.GuildIconSet{Guild: "111", Icon: "☀️", By: "43", AtMS: t0 + 9})
	g.junk("button.guild.111", "not json")
	return g
}

// rawDB opens dsn as it is: the server's time zone, times as text.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func query(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		line := ""
		for i, v := range vals {
			if i > 0 {
				line += " | "
			}
			line += showRaw(v)
		}
		out = append(out, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestApplyRecordsTheHistory(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	s := openSink(t, dsn)
	g := sample()
	if err := s.Apply(context.Background(), g.msgs); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, dsn) // the stored text, without the sink's session settings
	// t0 = 2025-10-09 08:53:20.123 UTC.
	tests := []struct {
		name, query string
		want        []string
	}{
		{"games", `SELECT game, guild, status, clicks, players, started_at, last_click_at, deadline_at, ended_at,
			end_reason, ended_by, ended_why, message_channel, message_id, seq FROM games ORDER BY game`, []string{
			"1 | 111 | ended | 4 | 2 | 2025-10-09 08:53:20.123 | 2025-10-09 08:55:00.124 | 2025-10-09 08:56:00.124 | 2025-10-09 08:56:00.124 | expired | NULL | NULL | NULL | NULL | 12",
			"2 | 222 | aborted | 1 | 1 | 2025-10-09 08:53:21.123 | 2025-10-09 08:53:22.123 | 2025-10-09 20:53:22.123 | 2025-10-09 08:53:24.123 | aborted | 42 | testing | 9002 | 78 | 18",
		}},
		{"clicks", `SELECT seq, game, number, user, user_name, at, value_ms, band, claimed_ms, mmr_milli, interaction FROM clicks ORDER BY seq`, []string{
			"3 | 1 | 1 | 501 | Alice | 2025-10-09 08:53:30.123 | 50000 | 5 | 10000 | 2 | i-1-1",
			"4 | 1 | 2 | 502 | Bob | 2025-10-09 08:54:05.123 | 25000 | 2 | 35000 | 22 | i-1-2",
			"6 | 1 | 3 | 501 |  | 2025-10-09 08:55:00.123 | 5000 | 0 | 55000 | 66 | i-1-3",
			"7 | 1 | 4 | 501 | Alice II | 2025-10-09 08:55:00.124 | 59999 | 5 | 1 | 2 | i-1-4",
			"16 | 2 | 1 | 502 | Bob B | 2025-10-09 08:53:22.123 | 43199000 | 5 | 1000 | 1500 | i-2-1",
		}},
		{"game players", `SELECT game, user, clicks, best_value_ms, claimed_ms, mmr_milli, clicks_red, clicks_orange,
			clicks_yellow, clicks_green, clicks_blue, clicks_purple, first_click_at, last_click_at, last_number
			FROM game_players ORDER BY game, user`, []string{
			"1 | 501 | 3 | 5000 | 65001 | 70 | 1 | 0 | 0 | 0 | 0 | 2 | 2025-10-09 08:53:30.123 | 2025-10-09 08:55:00.124 | 4",
			"1 | 502 | 1 | 25000 | 35000 | 22 | 0 | 0 | 1 | 0 | 0 | 0 | 2025-10-09 08:54:05.123 | 2025-10-09 08:54:05.123 | 2",
			"2 | 502 | 1 | 43199000 | 1000 | 1500 | 0 | 0 | 0 | 0 | 0 | 1 | 2025-10-09 08:53:22.123 | 2025-10-09 08:53:22.123 | 1",
		}},
		{"players", `SELECT user, name, clicks, first_seen_at, last_seen_at FROM players ORDER BY user`, []string{
			"501 | Alice II | 3 | 2025-10-09 08:53:30.123 | 2025-10-09 08:55:00.124",
			"502 | Bob B | 2 | 2025-10-09 08:53:22.123 | 2025-10-09 08:54:05.123",
		}},
		{"guilds", `SELECT guild, icon, icon_set_by, icon_set_at FROM guilds`, []string{
			"111 | ☀️ | 43 | 2025-10-09 08:53:20.132",
		}},
		{"bans", `SELECT guild, user, banned_by, reason, banned_at FROM guild_bans`, []string{
			"111 | 778 | 42 |  | 2025-10-09 08:53:20.130",
		}},
		{"checkpoint", `SELECT name, seq FROM projector_checkpoints`, []string{"mysql | 24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, query(t, db, tt.query)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.query, diff)
			}
		})
	}
	verifyClean(t, s, g.msgs)
}

// bigSample is a stream of three games in two guilds with a few hundred
// clicks and guild settings in between.
func bigSample() *gen {
	g := newGen()
	g.start(1, "111", t0, 3600_000)
	g.start(2, "111", t0+5, 600_000)
	g.start(3, "222", t0+7, 7200_000)
	for round := range 5 {
		g.clicks(1, 40, 7, 1_234)
		g.clicks(2, 25, 30, 19_999)
		g.clicks(3, 30, 3, 3_333)
		g.add(events.GuildSubject("111"), events.PlayerBanned{Guild: "111", User: fmt.Sprint(2000 + round), By: "42", AtMS: t0 + int64(round)})
		if round%2 == 1 {
			g.add(events.GuildSubject("111"), events.PlayerUnbanned{Guild: "111", User: fmt.Sprint(2000 + round - 1), By: "42", AtMS: t0 + int64(round)})
		}
		g.add(events.GuildSubject("222"), events.GuildIconSet{Guild: "222", Icon: events.Icons[round], By: "42", AtMS: t0 + int64(round)})
		g.junk(events.GameSubject(2), "garbage")
	}
	g.add(events.GameSubject(2), events.GameEnded{Game: 2, Reason: events.EndExpired, AtMS: g.games[2].last + 600_000})
	g.add(events.GameSubject(3), events.GameMessagePosted{Game: 3, Channel: "9003", MessageID: "1", AtMS: g.games[3].last})
	return g
}

func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	msgs := bigSample().msgs
	n := len(msgs)
	ref := openSink(t, mysqltest.DSN(t))
	applyAll(t, ref, msgs, n)
	want := dump(t, ref.DB())
	verifyClean(t, ref, msgs)

	chunks := func(ms []events.Recorded, size int) [][]events.Recorded {
		return slices.Collect(slices.Chunk(ms, size))
	}
	tests := []struct {
		name    string
		batches func() [][]events.Recorded
	}{
		{"one at a time", func() [][]events.Recorded { return chunks(msgs, 1) }},
		{"batches of 7", func() [][]events.Recorded { return chunks(msgs, 7) }},
		{"the same batch twice", func() [][]events.Recorded {
			var out [][]events.Recorded
			for _, b := range chunks(msgs, 50) {
				out = append(out, b, b)
			}
			return out
		}},
		{"overlapping batches", func() [][]events.Recorded {
			var out [][]events.Recorded
			for i := 0; i < n; i += 40 {
				out = append(out, msgs[max(0, i-25):min(n, i+40)])
			}
			return out
		}},
		{"older messages after newer ones", func() [][]events.Recorded {
			return [][]events.Recorded{msgs[:n/2], msgs[:10], msgs[n/3 : n/2], msgs[n/2:], msgs[:n], msgs[n-1:]}
		}},
		{"out of order within batches", func() [][]events.Recorded {
			rng := rand.New(rand.NewPCG(1, 2))
			var out [][]events.Recorded
			for _, b := range chunks(msgs, 64) {
				b = slices.Clone(b)
				rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
				out = append(out, append(b, b[:5]...)) // with duplicates
			}
			return out
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSink(t, mysqltest.DSN(t))
			for _, b := range tt.batches() {
				if err := s.Apply(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(want, dump(t, s.DB())); diff != "" {
				t.Errorf("history differs from one batch's (-want +got):\n%s", diff)
			}
			verifyClean(t, s, msgs)
		})
	}
}

func TestApplyEmptyAndAppliedBatchesChangeNothing(t *testing.T) {
	t.Parallel()
	s := openSink(t, mysqltest.DSN(t))
	ctx := context.Background()
	if err := s.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	msgs := sample().msgs
	applyAll(t, s, msgs, len(msgs))
	before := dump(t, s.DB())
	if err := s.Apply(ctx, msgs[:3]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, dump(t, s.DB())); diff != "" {
		t.Errorf("re-applied messages changed the history (-before +after):\n%s", diff)
	}
	pos, err := s.Position(ctx)
	if err != nil || pos != msgs[len(msgs)-1].Seq {
		t.Errorf("Position() = %d, %v; want %d", pos, err, msgs[len(msgs)-1].Seq)
	}
}

func TestApplyFailureWritesNothing(t *testing.T) {
	t.Parallel()
	s := openSink(t, mysqltest.DSN(t))
	ctx := context.Background()
	msgs := bigSample().msgs
	applyAll(t, s, msgs[:100], 100)
	before := dump(t, s.DB())
	// A row in the way of the next batch's last click makes its INSERT fail
	// after the batch's game rows were written in the transaction.
	var last events.Recorded
	for _, m := range msgs[100:200] {
		if _, ok := m.Event.(events.ButtonClicked); ok {
			last = m
		}
	}
	if _, err := s.DB().Exec(`INSERT INTO clicks (seq, game, number, guild, user, at, value_ms, band, claimed_ms, mmr_milli)
		VALUES (?, 99, 1, '1', '1', UTC_TIMESTAMP(3), 0, 0, 0, 0)`, last.Seq); err != nil {
		t.Fatal(err)
	}
	before["clicks"] = dump(t, s.DB())["clicks"]
	err := s.Apply(ctx, msgs[100:200])
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 {
		t.Fatalf("Apply over a conflicting row: err = %v, want a duplicate key error", err)
	}
	if diff := cmp.Diff(before, dump(t, s.DB())); diff != "" {
		t.Errorf("a failed Apply changed the history (-before +after):\n%s", diff)
	}
	if _, err := s.DB().Exec("DELETE FROM clicks WHERE game = 99"); err != nil {
		t.Fatal(err)
	}
	applyAll(t, s, msgs[100:], 100)
	verifyClean(t, s, msgs)
}

func TestApplyFromConcurrentSinks(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	msgs := bigSample().msgs
	var wg sync.WaitGroup
	for i := range 3 { // like a projector and its standby in other processes
		s := openSink(t, dsn)
		wg.Go(func() {
			for b := range slices.Chunk(msgs, 10+i*7) {
				if err := s.Apply(context.Background(), b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	verifyClean(t, openSink(t, dsn), msgs)
}

func TestResetEmptiesTheHistory(t *testing.T) {
	t.Parallel()
	s := openSink(t, mysqltest.DSN(t))
	ctx := context.Background()
	msgs := bigSample().msgs
	applyAll(t, s, msgs, 100)
	want := dump(t, s.DB())
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	for table, rows := range dump(t, s.DB()) {
		if table == "projector_checkpoints" {
			if diff := cmp.Diff([]string{"name=mysql seq=0 "}, rows); diff != "" {
				t.Errorf("checkpoint after Reset (-want +got):\n%s", diff)
			}
			continue
		}
		if len(rows) > 0 {
			t.Errorf("%s has %d rows after Reset", table, len(rows))
		}
	}
	applyAll(t, s, msgs, 333)
	if diff := cmp.Diff(want, dump(t, s.DB())); diff != "" {
		t.Errorf("history rebuilt after Reset differs (-want +got):\n%s", diff)
	}
}

func TestVerifyReportsDifferences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		corrupt string
		stream  func([]events.Recorded) []events.Recorded
		want    []string
	}{
		{name: "exact", want: nil},
		{name: "click value", corrupt: "UPDATE clicks SET value_ms = value_ms + 1 WHERE seq = 4",
			want: []string{"clicks seq 4: value_ms is 25001 in MySQL, 25000 in the stream"}},
		{name: "click time", corrupt: "UPDATE clicks SET at = at + INTERVAL 1 HOUR WHERE seq = 3",
			want: []string{"clicks seq 3: at is 2025-10-09T09:53:30.123Z in MySQL, 2025-10-09T08:53:30.123Z in the stream"}},
		{name: "missing click", corrupt: "DELETE FROM clicks WHERE seq = 16",
			want: []string{"clicks seq 16: missing in MySQL"}},
		{name: "extra player", corrupt: "INSERT INTO players VALUES ('9', 'ghost', 1, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
			want: []string{"players user 9: in MySQL but not in the stream"}},
		{name: "game status and players", corrupt: "UPDATE games SET status = 'active', players = 7, message_id = NULL WHERE game = 2",
			want: []string{
				`games game 2: status is "active" in MySQL, "aborted" in the stream`,
				`games game 2: message_id is "" in MySQL, "78" in the stream`,
				"games game 2: players is 7 in MySQL, 1 in the stream",
			}},
		{name: "band counts", corrupt: "UPDATE game_players SET clicks_green = 1 WHERE game = 1 AND user = '502'",
			want: []string{"game_players game 1 user 502: clicks_red…clicks_purple is [0 0 1 1 0 0] in MySQL, [0 0 1 0 0 0] in the stream"}},
		{name: "ban lifted", corrupt: "DELETE FROM guild_bans",
			want: []string{"guild_bans guild 111 user 778: missing in MySQL"}},
		{name: "stream longer than the checkpoint", stream: func(ms []events.Recorded) []events.Recorded {
			return append(ms, events.Recorded{Seq: 25, Subject: "button.game.2", Err: events.ErrMalformed})
		}, want: []string{"checkpoint: MySQL is at seq 24, the stream ends at seq 25"}},
		{name: "a click the projection lacks", stream: func(ms []events.Recorded) []events.Recorded {
			return append(ms, events.Recorded{Seq: 25, Subject: "button.game.2", Event: events.ButtonClicked{
				Game: 2, Guild: "222", Number: 2, User: "503", AtMS: t0 + 5000, ValueMS: 1, ClaimedMS: 2}})
		}, want: []string{
			"checkpoint: MySQL is at seq 24, the stream ends at seq 25",
			"games game 2: clicks is 1 in MySQL, 2 in the stream",
			"games game 2: players is 1 in MySQL, 2 in the stream",
			"games game 2: last_click_at is 2025-10-09T08:53:22.123Z in MySQL, 2025-10-09T08:53:25.123Z in the stream",
			"games game 2: deadline_at is 2025-10-09T20:53:22.123Z in MySQL, 2025-10-09T20:53:25.123Z in the stream",
			"games game 2: seq is 18 in MySQL, 25 in the stream",
			"clicks seq 25: missing in MySQL",
			"game_players game 2 user 503: missing in MySQL",
			"players user 503: missing in MySQL",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSink(t, mysqltest.DSN(t))
			msgs := sample().msgs
			applyAll(t, s, msgs, len(msgs))
			if tt.corrupt != "" {
				if _, err := s.DB().Exec(tt.corrupt); err != nil {
					t.Fatal(err)
				}
			}
			if tt.stream != nil {
				msgs = tt.stream(msgs)
			}
			got, err := s.Verify(context.Background(), msgs)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTimesAreUTCWhateverTheServerZone(t *testing.T) {
	t.Parallel()
	dsn, _, _ := mysqltest.StartServer(t) // private: its global zone may change
	raw := rawDB(t, dsn)
	if _, err := raw.Exec("SET GLOBAL time_zone = '+05:30'"); err != nil {
		t.Fatal(err)
	}
	s := openSink(t, dsn) // new sessions: the global zone is +05:30 now
	g := newGen()
	g.start(1, "111", t0, 3600_000)
	c := g.click(1, "501", "Alice", t0+1_001) // …:21.124
	if err := s.Apply(context.Background(), g.msgs); err != nil {
		t.Fatal(err)
	}
	// Another session in the server's zone sees the stored digits: UTC.
	raw.SetMaxIdleConns(0)
	var zone, at string
	if err := raw.QueryRow("SELECT @@session.time_zone, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f') FROM clicks").Scan(&zone, &at); err != nil {
		t.Fatal(err)
	}
	if zone != "+05:30" {
		t.Fatalf("raw session zone = %q; the test needs a non-UTC session", zone)
	}
	if want := time.UnixMilli(c.AtMS).UTC().Format("2006-01-02 15:04:05.000") + "000"; at != want {
		t.Errorf("stored click time = %s, want %s (UTC, milliseconds)", at, want)
	}
	// The sink's own sessions are UTC, and read the time back exactly.
	var sinkZone string
	var back time.Time
	if err := s.DB().QueryRow("SELECT @@session.time_zone, at FROM clicks").Scan(&sinkZone, &back); err != nil {
		t.Fatal(err)
	}
	if sinkZone != "+00:00" || back.UnixMilli() != c.AtMS || back.Location() != time.UTC {
		t.Errorf("sink reads zone %q, time %v (%d ms); want +00:00, %d ms in UTC", sinkZone, back, back.UnixMilli(), c.AtMS)
	}
	verifyClean(t, s, g.msgs)
}

func TestApplyFailsWhileMySQLIsDownThenCatchesUp(t *testing.T) {
	t.Parallel()
	dsn, stop, start := mysqltest.StartServer(t)
	s := openSink(t, dsn)
	msgs := bigSample().msgs
	half := len(msgs) / 2
	applyAll(t, s, msgs[:half], 50)

	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	if err := s.Apply(ctx, msgs[half:]); err == nil {
		t.Fatal("Apply succeeded while MySQL was down")
	} else {
		t.Logf("Apply while down failed after %v: %v", time.Since(began).Round(time.Millisecond), err)
	}
	if _, err := s.Position(ctx); err == nil {
		t.Error("Position succeeded while MySQL was down")
	}

	start()
	applyAll(t, s, msgs[half-10:], 50) // the loop retries from its last ack
	verifyClean(t, s, msgs)
}

// TestApplyAgreesWithTheFoldOnOddStreams feeds streams full of events the
// command handler would never write (clicks out of number order, starts
// and ends twice, events on the wrong subject, guild events of another
// guild) and checks that the history holds exactly what the folds accept.
func TestApplyAgreesWithTheFoldOnOddStreams(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			g := newGen()
			folds := map[events.GameID]*events.Game{} // to number most clicks right
			add := func(subject string, e events.Event) {
				r := g.add(subject, e)
				if id, ok := events.ParseGameSubject(subject); ok {
					if folds[id] == nil {
						folds[id] = &events.Game{}
					}
					_ = folds[id].Apply(r.Seq, e) // refusals are the point
				}
			}
			at := t0
			for id := range events.GameID(3) {
				add(events.GameSubject(id+1), events.GameStarted{Game: id + 1, Guild: "111", ButtonChannel: "1",
					ChatChannel: "1", DurationMS: 3600_000, StartedBy: "42", AtMS: at})
			}
			for range 400 {
				at += int64(rng.IntN(5000))
				id := events.GameID(1 + rng.IntN(4)) // game 4 starts only by a random start
				subject := events.GameSubject(id)
				if rng.IntN(20) == 0 {
					subject = events.GameSubject(id%4 + 1) // another game's subject
				}
				guild := fmt.Sprint(111 + rng.IntN(2))
				guildSubject := events.GuildSubject(guild)
				if rng.IntN(10) == 0 {
					guildSubject = events.GuildSubject("333") // another guild's subject
				}
				switch r := rng.IntN(24); {
				case r == 0:
					add(subject, events.GameStarted{Game: id, Guild: guild, ButtonChannel: "1", ChatChannel: "1",
						DurationMS: 3600_000, StartedBy: "42", AtMS: at})
				case r == 1:
					reason := []events.EndReason{events.EndExpired, events.EndAborted}[rng.IntN(2)]
					add(subject, events.GameEnded{Game: id, Reason: reason, By: "42", Why: "odd", AtMS: at})
				case r == 2:
					add(subject, events.GameMessagePosted{Game: id, Channel: "5", MessageID: fmt.Sprint(rng.IntN(1000) + 1), AtMS: at})
				case r == 3:
					add(guildSubject, events.PlayerBanned{Guild: guild, User: fmt.Sprint(700 + rng.IntN(3)), By: "42", AtMS: at})
				case r == 4:
					add(guildSubject, events.PlayerUnbanned{Guild: guild, User: fmt.Sprint(700 + rng.IntN(3)), By: "42", AtMS: at})
				case r == 5:
					add(guildSubject, events.GuildIconSet{Guild: guild, Icon: events.Icons[rng.IntN(len(events.Icons))], By: "42", AtMS: at})
				case r == 6:
					g.junk(subject, "{")
				default:
					var n int64 = 1
					if f := folds[id]; f != nil {
						n = f.Clicks + 1
					}
					if rng.IntN(8) == 0 {
						n = max(1, n+int64(rng.IntN(3))-1) // perhaps out of order
					}
					value := int64(rng.IntN(3600_000))
					add(subject, events.ButtonClicked{Game: id, Guild: guild, Number: n, User: fmt.Sprint(500 + rng.IntN(6)),
						UserName: []string{"", "A", "B"}[rng.IntN(3)], Interaction: fmt.Sprint(at), AtMS: at, ValueMS: value,
						Band: int(events.BandOf(value, 3600_000)), ClaimedMS: 3600_000 - value,
						MMRMilli: events.MMRMilli(value, 3600_000)})
				}
			}
			s := openSink(t, mysqltest.DSN(t))
			for msgs := g.msgs; len(msgs) > 0; {
				n := min(len(msgs), 1+rng.IntN(60))
				if err := s.Apply(context.Background(), msgs[:n]); err != nil {
					t.Fatal(err)
				}
				msgs = msgs[n:]
			}
			verifyClean(t, s, g.msgs)
			var clicks, ended, bans int
			err := s.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM clicks), (SELECT COUNT(*) FROM games WHERE status <> 'active'),
				(SELECT COUNT(*) FROM guild_bans)`).Scan(&clicks, &ended, &bans)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d messages: %d clicks recorded, %d games over, %d bans", len(g.msgs), clicks, ended, bans)
			if clicks < 100 || ended == 0 {
				t.Errorf("the stream is too odd to test anything")
			}
		})
	}
}
