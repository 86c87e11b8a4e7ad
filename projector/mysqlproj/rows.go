package mysqlproj

import (
	"database/sql"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// The rows of the history tables, as Apply writes them and Verify compares
// them. Times are Unix milliseconds (0: NULL); optional strings are ""
// for NULL. The col tags name the columns, for Verify's reports.

type gameRow struct {
	Game           int64  `col:"game"`
	Guild          string `col:"guild"`
	ButtonChannel  string `col:"button_channel"`
	ChatChannel    string `col:"chat_channel"`
	DurationMS     int64  `col:"duration_ms"`
	CooldownMS     int64  `col:"cooldown_ms"`
	Sequential     int64  `col:"sequential"`
	StartedAtMS    int64  `col:"started_at,time"`
	StartedBy      string `col:"started_by"`
	StarterName    string `col:"starter_name"`
	Status         string `col:"status"`
	EndedAtMS      int64  `col:"ended_at,time"`
	EndReason      string `col:"end_reason"`
	EndedBy        string `col:"ended_by"`
	EndedWhy       string `col:"ended_why"`
	MessageChannel string `col:"message_channel"`
	MessageID      string `col:"message_id"`
	Clicks         int64  `col:"clicks"`
	Players        int64  `col:"players"`
	LastClickAtMS  int64  `col:"last_click_at,time"`
	DeadlineAtMS   int64  `col:"deadline_at,time"`
	Seq            uint64 `col:"seq"`
}

const gameColumns = `game, guild, button_channel, chat_channel, duration_ms, cooldown_ms, sequential,
	started_at, started_by, starter_name, status, ended_at, end_reason, ended_by, ended_why,
	message_channel, message_id, clicks, players, last_click_at, deadline_at, seq`

const gameColumnCount = 22

func (r *gameRow) args() []any {
	return []any{r.Game, r.Guild, r.ButtonChannel, r.ChatChannel, r.DurationMS, r.CooldownMS, r.Sequential,
		sqlTime(r.StartedAtMS), r.StartedBy, r.StarterName, r.Status, nullTime(r.EndedAtMS), nullString(r.EndReason),
		nullString(r.EndedBy), nullString(r.EndedWhy), nullString(r.MessageChannel), nullString(r.MessageID),
		r.Clicks, r.Players, nullTime(r.LastClickAtMS), sqlTime(r.DeadlineAtMS), r.Seq}
}

func scanGame(rows *sql.Rows) (gameRow, error) {
	var (
		r                             gameRow
		started, deadline             time.Time
		ended, lastClick              sql.NullTime
		reason, by, why, mchan, msgID sql.NullString
	)
	err := rows.Scan(&r.Game, &r.Guild, &r.ButtonChannel, &r.ChatChannel, &r.DurationMS, &r.CooldownMS, &r.Sequential,
		&started, &r.StartedBy, &r.StarterName, &r.Status, &ended, &reason, &by, &why, &mchan, &msgID,
		&r.Clicks, &r.Players, &lastClick, &deadline, &r.Seq)
	r.StartedAtMS, r.DeadlineAtMS = started.UnixMilli(), deadline.UnixMilli()
	r.EndedAtMS, r.LastClickAtMS = nullMS(ended), nullMS(lastClick)
	r.EndReason, r.EndedBy, r.EndedWhy, r.MessageChannel, r.MessageID = reason.String, by.String, why.String, mchan.String, msgID.String
	return r, err
}

// newGame is the row of a game just started.
func newGame(seq uint64, e events.GameStarted) gameRow {
	return gameRow{
		Game: int64(e.Game), Guild: e.Guild, ButtonChannel: e.ButtonChannel, ChatChannel: e.ChatChannel,
		DurationMS: e.DurationMS, CooldownMS: e.CooldownMS, Sequential: int64(e.Sequential),
		StartedAtMS: e.AtMS, StartedBy: e.StartedBy, StarterName: e.StarterName,
		Status:       string(events.StatusActive),
		DeadlineAtMS: e.AtMS + e.DurationMS,
		Seq:          seq,
	}
}

type clickRow struct {
	Seq         uint64 `col:"seq"`
	Game        int64  `col:"game"`
	Number      int64  `col:"number"`
	Guild       string `col:"guild"`
	User        string `col:"user"`
	UserName    string `col:"user_name"`
	AtMS        int64  `col:"at,time"`
	ValueMS     int64  `col:"value_ms"`
	Band        int64  `col:"band"`
	ClaimedMS   int64  `col:"claimed_ms"`
	MMRMilli    int64  `col:"mmr_milli"`
	Interaction string `col:"interaction"`
}

const clickColumns = "seq, game, number, guild, user, user_name, at, value_ms, band, claimed_ms, mmr_milli, interaction"

const clickColumnCount = 12

func newClick(seq uint64, e events.ButtonClicked) clickRow {
	return clickRow{Seq: seq, Game: int64(e.Game), Number: e.Number, Guild: e.Guild, User: e.User, UserName: e.UserName,
		AtMS: e.AtMS, ValueMS: e.ValueMS, Band: int64(e.Band), ClaimedMS: e.ClaimedMS, MMRMilli: e.MMRMilli,
		Interaction: e.Interaction}
}

func (r *clickRow) appendArgs(args []any) []any {
	return append(args, r.Seq, r.Game, r.Number, r.Guild, r.User, r.UserName, sqlTime(r.AtMS), r.ValueMS, r.Band,
		r.ClaimedMS, r.MMRMilli, r.Interaction)
}

func scanClick(rows *sql.Rows) (clickRow, error) {
	var r clickRow
	var at time.Time
	err := rows.Scan(&r.Seq, &r.Game, &r.Number, &r.Guild, &r.User, &r.UserName, &at, &r.ValueMS, &r.Band,
		&r.ClaimedMS, &r.MMRMilli, &r.Interaction)
	r.AtMS = at.UnixMilli()
	return r, err
}

type gamePlayerKey struct {
	game int64
	user string
}

type gamePlayerRow struct {
	Game           int64    `col:"game"`
	User           string   `col:"user"`
	Clicks         int64    `col:"clicks"`
	BestValueMS    int64    `col:"best_value_ms"`
	ClaimedMS      int64    `col:"claimed_ms"`
	MMRMilli       int64    `col:"mmr_milli"`
	Bands          [6]int64 `col:"clicks_red…clicks_purple"`
	FirstClickAtMS int64    `col:"first_click_at,time"`
	LastClickAtMS  int64    `col:"last_click_at,time"`
	LastNumber     int64    `col:"last_number"`
}

const gamePlayerColumns = `game, user, clicks, best_value_ms, claimed_ms, mmr_milli,
	clicks_red, clicks_orange, clicks_yellow, clicks_green, clicks_blue, clicks_purple,
	first_click_at, last_click_at, last_number`

const gamePlayerColumnCount = 15

// add folds one click of the player into the row.
func (r *gamePlayerRow) add(c *clickRow) {
	if r.Clicks == 0 {
		r.Game, r.User = c.Game, c.User
		r.BestValueMS, r.FirstClickAtMS = c.ValueMS, c.AtMS
	}
	r.Clicks++
	r.BestValueMS = min(r.BestValueMS, c.ValueMS)
	r.ClaimedMS += c.ClaimedMS
	r.MMRMilli += c.MMRMilli
	if c.Band >= 0 && c.Band < 6 {
		r.Bands[c.Band]++
	}
	r.FirstClickAtMS = min(r.FirstClickAtMS, c.AtMS)
	r.LastClickAtMS = max(r.LastClickAtMS, c.AtMS)
	r.LastNumber = max(r.LastNumber, c.Number)
}

func (r *gamePlayerRow) appendArgs(args []any) []any {
	args = append(args, r.Game, r.User, r.Clicks, r.BestValueMS, r.ClaimedMS, r.MMRMilli)
	for _, n := range r.Bands {
		args = append(args, n)
	}
	return append(args, sqlTime(r.FirstClickAtMS), sqlTime(r.LastClickAtMS), r.LastNumber)
}

func scanGamePlayer(rows *sql.Rows) (gamePlayerRow, error) {
	var r gamePlayerRow
	var first, last time.Time
	err := rows.Scan(&r.Game, &r.User, &r.Clicks, &r.BestValueMS, &r.ClaimedMS, &r.MMRMilli,
		&r.Bands[0], &r.Bands[1], &r.Bands[2], &r.Bands[3], &r.Bands[4], &r.Bands[5], &first, &last, &r.LastNumber)
	r.FirstClickAtMS, r.LastClickAtMS = first.UnixMilli(), last.UnixMilli()
	return r, err
}

type playerRow struct {
	User          string `col:"user"`
	Name          string `col:"name"`
	Clicks        int64  `col:"clicks"`
	FirstSeenAtMS int64  `col:"first_seen_at,time"`
	LastSeenAtMS  int64  `col:"last_seen_at,time"`
}

const playerColumns = "user, name, clicks, first_seen_at, last_seen_at"

const playerColumnCount = 5

// add folds one click of the player, later in the stream than the clicks
// already folded, into the row.
func (r *playerRow) add(c *clickRow) {
	if r.Clicks == 0 {
		r.User, r.FirstSeenAtMS = c.User, c.AtMS
	}
	r.Clicks++
	if c.UserName != "" {
		r.Name = c.UserName
	}
	r.FirstSeenAtMS = min(r.FirstSeenAtMS, c.AtMS)
	r.LastSeenAtMS = max(r.LastSeenAtMS, c.AtMS)
}

func (r *playerRow) appendArgs(args []any) []any {
	return append(args, r.User, r.Name, r.Clicks, sqlTime(r.FirstSeenAtMS), sqlTime(r.LastSeenAtMS))
}

func scanPlayer(rows *sql.Rows) (playerRow, error) {
	var r playerRow
	var first, last time.Time
	err := rows.Scan(&r.User, &r.Name, &r.Clicks, &first, &last)
	r.FirstSeenAtMS, r.LastSeenAtMS = first.UnixMilli(), last.UnixMilli()
	return r, err
}

type guildRow struct {
	Guild       string `col:"guild"`
	Icon        string `col:"icon"`
	IconSetBy   string `col:"icon_set_by"`
	IconSetAtMS int64  `col:"icon_set_at,time"`
}

const guildColumns = "guild, icon, icon_set_by, icon_set_at"

func scanGuild(rows *sql.Rows) (guildRow, error) {
	var r guildRow
	var at time.Time
	err := rows.Scan(&r.Guild, &r.Icon, &r.IconSetBy, &at)
	r.IconSetAtMS = at.UnixMilli()
	return r, err
}

type banKey struct{ guild, user string }

type banRow struct {
	Guild      string `col:"guild"`
	User       string `col:"user"`
	BannedBy   string `col:"banned_by"`
	Reason     string `col:"reason"`
	BannedAtMS int64  `col:"banned_at,time"`
}

const banColumns = "guild, user, banned_by, reason, banned_at"

func scanBan(rows *sql.Rows) (banRow, error) {
	var r banRow
	var at time.Time
	err := rows.Scan(&r.Guild, &r.User, &r.BannedBy, &r.Reason, &at)
	r.BannedAtMS = at.UnixMilli()
	return r, err
}

// maxTimeMS is the latest event time the history stores: DATETIME ends
// with the year 9999, and a deadline lies up to events.MaxDurationMS after
// its click. Later times are not written by the command handler's clock;
// such events are left out like any other the fold refuses.
var maxTimeMS = time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

func sqlTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullTime(ms int64) any {
	if ms == 0 {
		return nil
	}
	return sqlTime(ms)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullMS(t sql.NullTime) int64 {
	if !t.Valid {
		return 0
	}
	return t.Time.UnixMilli()
}

// route says which fold a message belongs to: its game's (game > 0) or its
// guild's (guild != ""), or none (both zero). A message belongs to none
// when it could not be decoded, when its event names another game or guild
// than its subject, when its time is beyond maxTimeMS, or when the history
// does not use it.
func route(r events.Recorded) (game events.GameID, guild string) {
	if r.Err != nil || r.Event == nil {
		return 0, ""
	}
	var (
		atMS       int64
		eventGame  events.GameID
		eventGuild string
	)
	switch e := r.Event.(type) {
	case events.GameStarted:
		atMS, eventGame = e.AtMS, e.Game
	case events.ButtonClicked:
		atMS, eventGame = e.AtMS, e.Game
	case events.GameEnded:
		atMS, eventGame = e.AtMS, e.Game
	case events.GameMessagePosted:
		atMS, eventGame = e.AtMS, e.Game
	case events.GuildIconSet:
		atMS, eventGuild = e.AtMS, e.Guild
	case events.PlayerBanned:
		atMS, eventGuild = e.AtMS, e.Guild
	case events.PlayerUnbanned:
		atMS, eventGuild = e.AtMS, e.Guild
	default:
		return 0, ""
	}
	if atMS > maxTimeMS {
		return 0, ""
	}
	if id, ok := events.ParseGameSubject(r.Subject); ok && eventGame == id {
		return id, ""
	}
	if g, ok := events.ParseGuildSubject(r.Subject); ok && eventGuild == g {
		return 0, g
	}
	return 0, ""
}
