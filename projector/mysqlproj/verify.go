package mysqlproj

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// history is the whole content of the projection: what the tables hold, or
// what the stream says they must hold.
type history struct {
	seq         uint64
	games       map[int64]gameRow
	clicks      map[uint64]clickRow
	gamePlayers map[gamePlayerKey]gamePlayerRow
	players     map[string]playerRow
	guilds      map[string]guildRow
	bans        map[banKey]banRow
}

// newHistory returns an empty history with room for about clicks clicks.
func newHistory(clicks int) *history {
	return &history{
		games:       make(map[int64]gameRow),
		clicks:      make(map[uint64]clickRow, clicks),
		gamePlayers: make(map[gamePlayerKey]gamePlayerRow),
		players:     make(map[string]playerRow),
		guilds:      make(map[string]guildRow),
		bans:        make(map[banKey]banRow),
	}
}

// Verify compares the history with what all (every message of the stream,
// in order) must have produced: the folds events.Game and events.Guild of
// each subject, independent of Apply's code. It returns one line per
// difference, naming the table, the row and the column; none means the
// history is exact. It reads every table inside one read-only transaction,
// so a projector writing at the same time cannot tear the picture (but its
// checkpoint may then be ahead of all).
func (s *Sink) Verify(ctx context.Context, all []events.Recorded) ([]string, error) {
	want := expect(all)
	got, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	return compare(want, got), nil
}

// compare lists the differences between the expected and the read history.
func compare(want, got *history) []string {
	var diffs []string
	if got.seq != want.seq {
		diffs = append(diffs, fmt.Sprintf("checkpoint: MySQL is at seq %d, the stream ends at seq %d", got.seq, want.seq))
	}
	diffs = append(diffs, diffRows("games", want.games, got.games, cmp.Compare[int64],
		func(k int64) string { return fmt.Sprintf("game %d", k) })...)
	diffs = append(diffs, diffRows("clicks", want.clicks, got.clicks, cmp.Compare[uint64],
		func(k uint64) string { return fmt.Sprintf("seq %d", k) })...)
	diffs = append(diffs, diffRows("game_players", want.gamePlayers, got.gamePlayers,
		func(a, b gamePlayerKey) int { return cmp.Or(cmp.Compare(a.game, b.game), cmp.Compare(a.user, b.user)) },
		func(k gamePlayerKey) string { return fmt.Sprintf("game %d user %s", k.game, k.user) })...)
	diffs = append(diffs, diffRows("players", want.players, got.players, cmp.Compare[string],
		func(k string) string { return "user " + k })...)
	diffs = append(diffs, diffRows("guilds", want.guilds, got.guilds, cmp.Compare[string],
		func(k string) string { return "guild " + k })...)
	diffs = append(diffs, diffRows("guild_bans", want.bans, got.bans,
		func(a, b banKey) int { return cmp.Or(cmp.Compare(a.guild, b.guild), cmp.Compare(a.user, b.user)) },
		func(k banKey) string { return fmt.Sprintf("guild %s user %s", k.guild, k.user) })...)
	return diffs
}

// expect folds the stream into the history it must produce.
func expect(all []events.Recorded) *history {
	f := newFolder(len(all))
	f.add(all)
	return f.history()
}

// folder folds the stream into the history it must produce, a part at a
// time: the folds events.Game and events.Guild of each subject,
// independent of Apply's code.
type folder struct {
	h      *history
	games  map[events.GameID]*events.Game
	guilds map[string]*events.Guild
}

// newFolder returns a folder with room for about clicks clicks.
func newFolder(clicks int) *folder {
	return &folder{h: newHistory(clicks), games: make(map[events.GameID]*events.Game), guilds: make(map[string]*events.Guild)}
}

// add folds the messages of part after the last one folded, in order.
// Parts must come in stream order.
func (f *folder) add(part []events.Recorded) {
	h := f.h
	if !slices.ContainsFunc(part, func(m events.Recorded) bool { return m.Seq > h.seq }) {
		return // folded before (each hands the stream from its start again)
	}
	for _, m := range pending(part, h.seq) {
		h.seq = max(h.seq, m.Seq)
		id, guild := route(m)
		switch {
		case id != 0:
			g := f.games[id]
			if g == nil {
				g = &events.Game{}
				f.games[id] = g
			}
			if err := g.Apply(m.Seq, m.Event); err != nil {
				continue // refused by the fold: not history
			}
			if e, ok := m.Event.(events.ButtonClicked); ok {
				c := newClick(m.Seq, e)
				h.clicks[m.Seq] = c
				k := gamePlayerKey{c.Game, c.User}
				gp := h.gamePlayers[k]
				gp.add(&c)
				h.gamePlayers[k] = gp
				p := h.players[c.User]
				p.add(&c)
				h.players[c.User] = p
			}
		case guild != "":
			g := f.guilds[guild]
			if g == nil {
				g = &events.Guild{}
				f.guilds[guild] = g
			}
			if err := g.Apply(m.Seq, m.Event); err != nil {
				continue
			}
			if e, ok := m.Event.(events.GuildIconSet); ok {
				h.guilds[guild] = guildRow{Guild: guild, Icon: e.Icon, IconSetBy: e.By, IconSetAtMS: e.AtMS}
			}
		}
	}
}

// history returns the history of what was folded: the clicks, players
// and guilds as they were folded, the games and bans from the folds'
// final states. The folder is done with after it.
func (f *folder) history() *history {
	h := f.h
	for _, g := range f.games {
		if !g.Exists() {
			continue
		}
		r := newGame(g.LastSeq, g.Started)
		r.Status = string(g.Status)
		if g.Status != events.StatusActive {
			r.EndedAtMS, r.EndReason, r.EndedBy, r.EndedWhy = g.Ended.AtMS, string(g.Ended.Reason), g.Ended.By, g.Ended.Why
		}
		r.MessageChannel, r.MessageID = g.MessageChannel, g.MessageID
		r.Clicks, r.Players = g.Clicks, int64(g.PlayerCount())
		if g.Clicks > 0 {
			r.LastClickAtMS = g.LastClickMS
		}
		r.DeadlineAtMS = g.DeadlineMS()
		h.games[r.Game] = r
	}
	for guild, g := range f.guilds {
		for user, e := range g.Banned {
			h.bans[banKey{guild, user}] = banRow{Guild: guild, User: user, BannedBy: e.By, Reason: e.Reason, BannedAtMS: e.AtMS}
		}
	}
	return h
}

// read loads every table in one consistent read-only snapshot.
func (s *Sink) read(ctx context.Context) (*history, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("mysqlproj: verify: begin: %w", err)
	}
	defer tx.Rollback()
	var clicks int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM clicks").Scan(&clicks); err != nil {
		return nil, fmt.Errorf("mysqlproj: verify: count clicks: %w", err)
	}
	h := newHistory(clicks)
	err = tx.QueryRowContext(ctx, "SELECT seq FROM projector_checkpoints WHERE name = ?", Name).Scan(&h.seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("mysqlproj: verify: read checkpoint: %w", err)
	}
	if err := readTable(ctx, tx, "games", gameColumns, scanGame, func(r gameRow) { h.games[r.Game] = r }); err != nil {
		return nil, err
	}
	if err := readTable(ctx, tx, "clicks", clickColumns, scanClick, func(r clickRow) { h.clicks[r.Seq] = r }); err != nil {
		return nil, err
	}
	if err := readTable(ctx, tx, "game_players", gamePlayerColumns, scanGamePlayer, func(r gamePlayerRow) {
		h.gamePlayers[gamePlayerKey{r.Game, r.User}] = r
	}); err != nil {
		return nil, err
	}
	if err := readTable(ctx, tx, "players", playerColumns, scanPlayer, func(r playerRow) { h.players[r.User] = r }); err != nil {
		return nil, err
	}
	if err := readTable(ctx, tx, "guilds", guildColumns, scanGuild, func(r guildRow) { h.guilds[r.Guild] = r }); err != nil {
		return nil, err
	}
	if err := readTable(ctx, tx, "guild_bans", banColumns, scanBan, func(r banRow) { h.bans[banKey{r.Guild, r.User}] = r }); err != nil {
		return nil, err
	}
	return h, nil
}

func readTable[R any](ctx context.Context, tx *sql.Tx, table, columns string, scan func(*sql.Rows) (R, error), add func(R)) error {
	rows, err := tx.QueryContext(ctx, "SELECT "+columns+" FROM "+table)
	if err != nil {
		return fmt.Errorf("mysqlproj: verify: read %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return fmt.Errorf("mysqlproj: verify: read %s: %w", table, err)
		}
		add(r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mysqlproj: verify: read %s: %w", table, err)
	}
	return nil
}

// diffRows returns a line per missing row, extra row and differing column,
// in the order of the rows' keys.
func diffRows[K comparable, R comparable](table string, want, got map[K]R, order func(a, b K) int, name func(K) string) []string {
	// One look-up per expected row finds the rows that differ or are
	// missing; the rows read are searched for extra ones only when some
	// expected row is missing or the counts differ.
	var keys []K
	found := 0
	for k, w := range want {
		g, ok := got[k]
		if ok {
			found++
		}
		if !ok || w != g {
			keys = append(keys, k)
		}
	}
	if found != len(got) {
		for k := range got {
			if _, ok := want[k]; !ok {
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, order)
	var diffs []string
	for _, k := range keys {
		w, inStream := want[k]
		g, inMySQL := got[k]
		switch {
		case !inMySQL:
			diffs = append(diffs, fmt.Sprintf("%s %s: missing in MySQL", table, name(k)))
		case !inStream:
			diffs = append(diffs, fmt.Sprintf("%s %s: in MySQL but not in the stream", table, name(k)))
		case w != g:
			for _, d := range fieldDiffs(w, g) {
				diffs = append(diffs, fmt.Sprintf("%s %s: %s", table, name(k), d))
			}
		}
	}
	return diffs
}

// fieldDiffs describes the columns in which two rows differ.
func fieldDiffs(want, got any) []string {
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	t := wv.Type()
	var diffs []string
	for i := range t.NumField() {
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		if w == g {
			continue
		}
		col, opt, _ := strings.Cut(t.Field(i).Tag.Get("col"), ",")
		diffs = append(diffs, fmt.Sprintf("%s is %s in MySQL, %s in the stream", col, show(g, opt), show(w, opt)))
	}
	return diffs
}

// show formats a column's value: times in UTC with milliseconds, strings
// quoted.
func show(v any, opt string) string {
	switch v := v.(type) {
	case int64:
		if opt != "time" {
			return fmt.Sprint(v)
		}
		if v == 0 {
			return "NULL"
		}
		return time.UnixMilli(v).UTC().Format("2006-01-02T15:04:05.000Z")
	case string:
		return fmt.Sprintf("%q", v)
	default:
		return fmt.Sprint(v)
	}
}

// VerifyLive compares the history with the stream while its projector
// keeps running: it reads every table and the checkpoint in one
// REPEATABLE READ transaction (a consistent snapshot; the projector's
// writes go on beside it) and compares them with the fold of the
// stream's messages up to the checkpoint, which each hands over in order
// (folded up to last while the tables are read). It takes no lease and pauses nothing. It returns the snapshot's
// checkpoint and one line per difference.
func (s *Sink) VerifyLive(ctx context.Context, last uint64, each func(ctx context.Context, seq uint64, fn func([]events.Recorded) error) error) (uint64, []string, error) {
	// The stream is folded up to last, as each hands it over, while the
	// tables are read, and on up to their checkpoint after; again from the
	// start only if the checkpoint is below last (MySQL behind the stream).
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	want := newFolder(int(last))
	fold := func(chunk []events.Recorded) error {
		want.add(chunk)
		return nil
	}
	early := make(chan error, 1)
	go func() { early <- each(fctx, last, fold) }()
	got, err := s.read(ctx)
	if err != nil {
		cancel()
		<-early
		return 0, nil, err
	}
	if err := <-early; err != nil {
		return 0, nil, err
	}
	if got.seq < want.h.seq {
		want = newFolder(len(got.clicks))
	}
	if err := each(ctx, got.seq, fold); err != nil {
		return 0, nil, err
	}
	return got.seq, compare(want.history(), got), nil
}
