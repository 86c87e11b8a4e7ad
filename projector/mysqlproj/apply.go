package mysqlproj

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// maxRowsPerInsert bounds one multi-row INSERT (placeholders and packet
// size).
const maxRowsPerInsert = 1000

// Apply writes the messages of batch above the checkpoint, and the new
// checkpoint, in one transaction. Messages at or below the checkpoint
// (read FOR UPDATE inside the transaction) change nothing; within a batch
// the order does not matter and duplicates count once. Across batches the
// caller keeps stream order: a message that arrives after a later one was
// applied is taken for a redelivery and ignored. Undecodable messages
// and events the history does not use or the fold refuses only advance
// the checkpoint. On error (MySQL unreachable, ctx done) the transaction is
// rolled back: nothing of the batch is written and the caller retries.
// Batches of about 1,000 messages amortize the round trips best.
func (s *Sink) Apply(ctx context.Context, batch []events.Recorded) (err error) {
	if len(batch) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mysqlproj: apply: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	pos, err := s.lockCheckpoint(ctx, tx)
	if err != nil {
		return fmt.Errorf("mysqlproj: apply: %w", err)
	}
	msgs := pending(batch, pos)
	if len(msgs) == 0 {
		return tx.Rollback() // all applied already: change nothing
	}
	b := newBatch()
	if err := b.loadGames(ctx, tx, msgs); err != nil {
		return err
	}
	for _, m := range msgs {
		b.add(m)
	}
	if err := b.write(ctx, tx); err != nil {
		return err
	}
	last := msgs[len(msgs)-1].Seq
	if _, err := tx.ExecContext(ctx, "UPDATE projector_checkpoints SET seq = ?, updated_at = ? WHERE name = ?",
		last, time.Now().UTC(), Name); err != nil {
		return fmt.Errorf("mysqlproj: apply: write checkpoint %d: %w", last, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mysqlproj: apply: commit %d…%d: %w", msgs[0].Seq, last, err)
	}
	return nil
}

// pending returns the messages above pos, in stream order, each once.
func pending(batch []events.Recorded, pos uint64) []events.Recorded {
	msgs := make([]events.Recorded, 0, len(batch))
	for _, m := range batch {
		if m.Seq > pos {
			msgs = append(msgs, m)
		}
	}
	bySeq := func(a, b events.Recorded) int { return cmp.Compare(a.Seq, b.Seq) }
	if !slices.IsSortedFunc(msgs, bySeq) {
		slices.SortStableFunc(msgs, bySeq)
	}
	return slices.CompactFunc(msgs, func(a, b events.Recorded) bool { return a.Seq == b.Seq })
}

// batch is the effect of a batch of messages on the history: the game rows
// it changes (read from the database, folded in memory, written back),
// the clicks it adds, and additive changes to the per-player aggregates.
type batch struct {
	games       map[events.GameID]*gameRow // known games: loaded or started in the batch
	changed     []events.GameID            // games to write, in first-change order
	isChanged   map[events.GameID]bool
	clicked     []events.GameID // games with new clicks (their player counts change)
	clicks      []clickRow
	gamePlayers map[gamePlayerKey]*gamePlayerRow // this batch's clicks per player per game
	gpOrder     []gamePlayerKey
	players     map[string]*playerRow // this batch's clicks per player
	playerOrder []string
	icons       map[string]guildRow
	iconOrder   []string
	bans        map[banKey]*banRow // nil: unbanned
	banOrder    []banKey
}

func newBatch() *batch {
	return &batch{
		games:       make(map[events.GameID]*gameRow),
		isChanged:   make(map[events.GameID]bool),
		gamePlayers: make(map[gamePlayerKey]*gamePlayerRow),
		players:     make(map[string]*playerRow),
		icons:       make(map[string]guildRow),
		bans:        make(map[banKey]*banRow),
	}
}

// loadGames reads the rows of the games the messages belong to.
func (b *batch) loadGames(ctx context.Context, tx *sql.Tx, msgs []events.Recorded) error {
	var ids []any
	seen := make(map[events.GameID]bool)
	for _, m := range msgs {
		if id, _ := route(m); id != 0 && !seen[id] {
			seen[id] = true
			ids = append(ids, int64(id))
		}
	}
	for chunk := range slices.Chunk(ids, maxRowsPerInsert) {
		rows, err := tx.QueryContext(ctx, "SELECT "+gameColumns+" FROM games WHERE game IN ("+placeholders(len(chunk))+")", chunk...)
		if err != nil {
			return fmt.Errorf("mysqlproj: apply: read games: %w", err)
		}
		for rows.Next() {
			g, err := scanGame(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("mysqlproj: apply: read games: %w", err)
			}
			b.games[events.GameID(g.Game)] = &g
		}
		err = rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return fmt.Errorf("mysqlproj: apply: read games: %w", err)
		}
	}
	return nil
}

func (b *batch) change(id events.GameID, seq uint64) *gameRow {
	g := b.games[id]
	g.Seq = seq
	if !b.isChanged[id] {
		b.isChanged[id] = true
		b.changed = append(b.changed, id)
	}
	return g
}

// add folds one message in, with the acceptance rules of events.Game and
// events.Guild.
func (b *batch) add(m events.Recorded) {
	id, guild := route(m)
	switch {
	case id != 0:
		b.addGame(id, m)
	case guild != "":
		b.addGuild(guild, m)
	}
}

func (b *batch) addGame(id events.GameID, m events.Recorded) {
	g := b.games[id]
	switch e := m.Event.(type) {
	case events.GameStarted:
		if g != nil {
			return // started twice
		}
		row := newGame(m.Seq, e)
		b.games[id] = &row
		b.change(id, m.Seq)
	case events.ButtonClicked:
		if g == nil || e.Number != g.Clicks+1 {
			return
		}
		g = b.change(id, m.Seq)
		g.Clicks = e.Number
		g.LastClickAtMS = e.AtMS
		g.DeadlineAtMS = e.AtMS + g.DurationMS
		b.clicks = append(b.clicks, newClick(m.Seq, e))
		c := &b.clicks[len(b.clicks)-1]
		if len(b.clicked) == 0 || b.clicked[len(b.clicked)-1] != id {
			b.clicked = append(b.clicked, id) // duplicates removed in write
		}
		k := gamePlayerKey{c.Game, c.User}
		gp := b.gamePlayers[k]
		if gp == nil {
			gp = &gamePlayerRow{}
			b.gamePlayers[k] = gp
			b.gpOrder = append(b.gpOrder, k)
		}
		gp.add(c)
		p := b.players[c.User]
		if p == nil {
			p = &playerRow{}
			b.players[c.User] = p
			b.playerOrder = append(b.playerOrder, c.User)
		}
		p.add(c)
	case events.GameEnded:
		if g == nil || g.Status != string(events.StatusActive) {
			return
		}
		g = b.change(id, m.Seq)
		g.Status = string(events.StatusEnded)
		if e.Reason == events.EndAborted {
			g.Status = string(events.StatusAborted)
		}
		g.EndedAtMS, g.EndReason, g.EndedBy, g.EndedWhy = e.AtMS, string(e.Reason), e.By, e.Why
	case events.GameMessagePosted:
		if g == nil {
			return
		}
		g = b.change(id, m.Seq)
		g.MessageChannel, g.MessageID = e.Channel, e.MessageID
	}
}

func (b *batch) addGuild(guild string, m events.Recorded) {
	switch e := m.Event.(type) {
	case events.GuildIconSet:
		if _, ok := b.icons[guild]; !ok {
			b.iconOrder = append(b.iconOrder, guild)
		}
		b.icons[guild] = guildRow{Guild: guild, Icon: e.Icon, IconSetBy: e.By, IconSetAtMS: e.AtMS}
	case events.PlayerBanned:
		b.setBan(banKey{guild, e.User}, &banRow{Guild: guild, User: e.User, BannedBy: e.By, Reason: e.Reason, BannedAtMS: e.AtMS})
	case events.PlayerUnbanned:
		b.setBan(banKey{guild, e.User}, nil)
	}
}

func (b *batch) setBan(k banKey, r *banRow) {
	if _, ok := b.bans[k]; !ok {
		b.banOrder = append(b.banOrder, k)
	}
	b.bans[k] = r
}

// write sends the batch's changes, in multi-row statements.
func (b *batch) write(ctx context.Context, tx *sql.Tx) error {
	if err := b.writeGames(ctx, tx); err != nil {
		return err
	}
	err := insertRows(ctx, tx, "INSERT INTO clicks ("+clickColumns+") VALUES ", "", clickColumnCount, b.clicks,
		func(args []any, r clickRow) []any { return r.appendArgs(args) })
	if err != nil {
		return fmt.Errorf("mysqlproj: apply: insert clicks: %w", err)
	}
	gps := make([]gamePlayerRow, 0, len(b.gpOrder))
	for _, k := range b.gpOrder {
		gps = append(gps, *b.gamePlayers[k])
	}
	err = insertRows(ctx, tx, "INSERT INTO game_players ("+gamePlayerColumns+") VALUES ", `
		ON DUPLICATE KEY UPDATE clicks = clicks + VALUES(clicks),
			best_value_ms = LEAST(best_value_ms, VALUES(best_value_ms)),
			claimed_ms = claimed_ms + VALUES(claimed_ms), mmr_milli = mmr_milli + VALUES(mmr_milli),
			clicks_red = clicks_red + VALUES(clicks_red), clicks_orange = clicks_orange + VALUES(clicks_orange),
			clicks_yellow = clicks_yellow + VALUES(clicks_yellow), clicks_green = clicks_green + VALUES(clicks_green),
			clicks_blue = clicks_blue + VALUES(clicks_blue), clicks_purple = clicks_purple + VALUES(clicks_purple),
			first_click_at = LEAST(first_click_at, VALUES(first_click_at)),
			last_click_at = GREATEST(last_click_at, VALUES(last_click_at)),
			last_number = GREATEST(last_number, VALUES(last_number))`,
		gamePlayerColumnCount, gps, func(args []any, r gamePlayerRow) []any { return r.appendArgs(args) })
	if err != nil {
		return fmt.Errorf("mysqlproj: apply: write game players: %w", err)
	}
	if len(b.clicked) > 0 {
		ids := make([]any, 0, len(b.clicked))
		seen := make(map[events.GameID]bool)
		for _, id := range b.clicked {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, int64(id))
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE games g SET players = (SELECT COUNT(*) FROM game_players p WHERE p.game = g.game)
			WHERE g.game IN (`+placeholders(len(ids))+")", ids...); err != nil {
			return fmt.Errorf("mysqlproj: apply: count players: %w", err)
		}
	}
	ps := make([]playerRow, 0, len(b.playerOrder))
	for _, u := range b.playerOrder {
		ps = append(ps, *b.players[u])
	}
	err = insertRows(ctx, tx, "INSERT INTO players ("+playerColumns+") VALUES ", `
		ON DUPLICATE KEY UPDATE name = IF(VALUES(name) = '', name, VALUES(name)), clicks = clicks + VALUES(clicks),
			first_seen_at = LEAST(first_seen_at, VALUES(first_seen_at)),
			last_seen_at = GREATEST(last_seen_at, VALUES(last_seen_at))`,
		playerColumnCount, ps, func(args []any, r playerRow) []any { return r.appendArgs(args) })
	if err != nil {
		return fmt.Errorf("mysqlproj: apply: write players: %w", err)
	}
	return b.writeGuilds(ctx, tx)
}

func (b *batch) writeGames(ctx context.Context, tx *sql.Tx) error {
	rows := make([]*gameRow, 0, len(b.changed))
	for _, id := range b.changed {
		rows = append(rows, b.games[id])
	}
	err := insertRows(ctx, tx, "INSERT INTO games ("+gameColumns+") VALUES ", `
		ON DUPLICATE KEY UPDATE status = VALUES(status), ended_at = VALUES(ended_at),
			end_reason = VALUES(end_reason), ended_by = VALUES(ended_by), ended_why = VALUES(ended_why),
			message_channel = VALUES(message_channel), message_id = VALUES(message_id),
			clicks = VALUES(clicks), last_click_at = VALUES(last_click_at),
			deadline_at = VALUES(deadline_at), seq = VALUES(seq)`,
		gameColumnCount, rows, func(args []any, r *gameRow) []any { return append(args, r.args()...) })
	if err != nil {
		return fmt.Errorf("mysqlproj: apply: write games: %w", err)
	}
	return nil
}

func (b *batch) writeGuilds(ctx context.Context, tx *sql.Tx) error {
	icons := make([]guildRow, 0, len(b.iconOrder))
	for _, g := range b.iconOrder {
		icons = append(icons, b.icons[g])
	}
	err := insertRows(ctx, tx, "INSERT INTO guilds ("+guildColumns+") VALUES ", `
		ON DUPLICATE KEY UPDATE icon = VALUES(icon), icon_set_by = VALUES(icon_set_by), icon_set_at = VALUES(icon_set_at)`,
		4, icons, func(args []any, r guildRow) []any {
			return append(args, r.Guild, r.Icon, r.IconSetBy, sqlTime(r.IconSetAtMS))
		})
	if err != nil {
		return fmt.Errorf("mysqlproj: apply: write guild icons: %w", err)
	}
	var banned []*banRow
	var unbanned []any
	for _, k := range b.banOrder {
		if r := b.bans[k]; r != nil {
			banned = append(banned, r)
		} else {
			unbanned = append(unbanned, k.guild, k.user)
		}
	}
	err = insertRows(ctx, tx, "INSERT INTO guild_bans ("+banColumns+") VALUES ", `
		ON DUPLICATE KEY UPDATE banned_by = VALUES(banned_by), reason = VALUES(reason), banned_at = VALUES(banned_at)`,
		5, banned, func(args []any, r *banRow) []any {
			return append(args, r.Guild, r.User, r.BannedBy, r.Reason, sqlTime(r.BannedAtMS))
		})
	if err != nil {
		return fmt.Errorf("mysqlproj: apply: write bans: %w", err)
	}
	for chunk := range slices.Chunk(unbanned, 2*maxRowsPerInsert) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM guild_bans WHERE (guild, user) IN ("+tuples(len(chunk)/2, 2)+")", chunk...); err != nil {
			return fmt.Errorf("mysqlproj: apply: delete bans: %w", err)
		}
	}
	return nil
}

// insertRows sends rows in multi-row INSERTs of at most maxRowsPerInsert
// rows: prefix, then the tuples, then suffix.
func insertRows[R any](ctx context.Context, tx *sql.Tx, prefix, suffix string, cols int, rows []R, appendArgs func([]any, R) []any) error {
	for chunk := range slices.Chunk(rows, maxRowsPerInsert) {
		args := make([]any, 0, len(chunk)*cols)
		for _, r := range chunk {
			args = appendArgs(args, r)
		}
		if _, err := tx.ExecContext(ctx, prefix+tuples(len(chunk), cols)+suffix, args...); err != nil {
			return err
		}
	}
	return nil
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// tuples returns "(?, ?), (?, ?), …": n tuples of cols marks.
func tuples(n, cols int) string {
	one := "(" + placeholders(cols) + ")"
	var sb strings.Builder
	sb.Grow(n * (len(one) + 2))
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(one)
	}
	return sb.String()
}
