// Package events owns the language of The Button: the versioned event
// types, their JSON codec, the subject names they are stored under, the
// band/claimed/MMR arithmetic of GAME-RULES §3–5 and the pure fold of a
// game's events into its state.
//
// It imports the standard library only. Nothing here performs I/O; adapters
// (such as events/natsstore) store and load what this package defines.
package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors shared by the event store and its callers. Adapters
// translate foreign errors into these so callers can branch with errors.Is.
var (
	// ErrConflict means an append lost an optimistic-concurrency race: the
	// subject's last sequence was not the expected one.
	ErrConflict = errors.New("events: conflicting append")
	// ErrNotFound means a subject or message does not exist.
	ErrNotFound = errors.New("events: not found")
	// ErrUnknownType means a payload names an event type this build does not know.
	ErrUnknownType = errors.New("events: unknown event type")
	// ErrMalformed means a payload could not be decoded or fails validation.
	ErrMalformed = errors.New("events: malformed event")
	// ErrRefused means the store answered an append and refused it for a
	// reason other than a conflict: nothing was stored.
	ErrRefused = errors.New("events: append refused")
)

// ConflictError is an ErrConflict whose store said what the subject's last
// sequence was when it refused the append: a caller whose state reached
// Last can decide again without reading the store.
type ConflictError struct {
	Last uint64 // the subject's last sequence at the refusal
	Err  error  // the store's own error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v: subject's last sequence is %d: %v", ErrConflict, e.Last, e.Err)
}

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Unwrap returns the store's error.
func (e *ConflictError) Unwrap() error { return e.Err }

// ConflictLast returns the subject's last sequence a conflict reported, if
// err carries one.
func ConflictLast(err error) (uint64, bool) {
	var ce *ConflictError
	if errors.As(err, &ce) {
		return ce.Last, true
	}
	return 0, false
}

// Subject prefixes. Every event lives in the stream under one of these.
const (
	// SubjectRoot is the wildcard covering every event subject.
	SubjectRoot = "button.>"
	// GameSubjects covers every game's subject.
	GameSubjects = "button.game.*"
	// GuildSubjects covers every guild's settings subject.
	GuildSubjects = "button.guild.*"
	// ChannelSubjects covers every button channel's claim subject.
	ChannelSubjects = "button.channel.*"

	gamePrefix    = "button.game."
	guildPrefix   = "button.guild."
	channelPrefix = "button.channel."
)

// GameID is a game's number, shown to players as "Game #N". It is unique,
// stable and small: games are numbered 1, 2, 3… in the order they start.
type GameID int64

// String returns the decimal number.
func (id GameID) String() string { return strconv.FormatInt(int64(id), 10) }

// GameSubject is the subject holding every event of one game.
func GameSubject(id GameID) string { return gamePrefix + id.String() }

// GuildSubject is the subject holding a guild's settings (icon, ban list).
func GuildSubject(guild string) string { return guildPrefix + guild }

// ChannelSubject is the subject holding a button channel's claims, which
// guarantee at most one active game per channel.
func ChannelSubject(channel string) string { return channelPrefix + channel }

// ParseGameSubject returns the game of a game subject.
func ParseGameSubject(subject string) (GameID, bool) {
	rest, ok := strings.CutPrefix(subject, gamePrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return GameID(n), true
}

// ParseGuildSubject returns the guild of a guild subject.
func ParseGuildSubject(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, guildPrefix)
	return rest, ok && validSnowflake(rest)
}

// validSnowflake reports whether s looks like a Discord id: 1 to 20 digits.
// Ids end up in subjects and keys, so nothing else is accepted.
func validSnowflake(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidID reports whether s is a Discord id (a snowflake of 1 to 20 digits).
func ValidID(s string) bool { return validSnowflake(s) }

// Recorded is a message as stored: its stream sequence, subject and
// storage time beside the decoded event. A message that is not a valid
// event has Event nil and Err set (wrapping ErrMalformed or
// ErrUnknownType); readers skip it but never stop on it.
type Recorded struct {
	Seq     uint64
	Subject string
	Event   Event
	Err     error
	Stored  time.Time
	Data    []byte // the raw payload
}

// Event is implemented by every event type. EventType is the stable wire
// name; it never changes once released.
type Event interface {
	EventType() string
	validate() error
}

// Stable wire names of the event types. A new incompatible shape gets a new
// version number, never a new meaning for an old one.
const (
	TypeGameStarted       = "game.started"
	TypeButtonClicked     = "game.button_clicked"
	TypeGameEnded         = "game.ended"
	TypeGameMessagePosted = "game.message_posted"
	TypeChannelClaimed    = "channel.claimed"
	TypeGuildIconSet      = "guild.icon_set"
	TypeGuildPlayerBanned = "guild.player_banned"
	TypeGuildPlayerUnban  = "guild.player_unbanned"
)

// EndReason says why a game ended.
type EndReason string

// End reasons.
const (
	EndExpired EndReason = "expired"
	EndAborted EndReason = "aborted"
)

// GameStarted opens a game. It is the first event of a game's subject.
type GameStarted struct {
	Game          GameID `json:"game"`
	Guild         string `json:"guild"`
	ButtonChannel string `json:"button_channel"`
	ChatChannel   string `json:"chat_channel"`
	DurationMS    int64  `json:"duration_ms"`
	CooldownMS    int64  `json:"cooldown_ms"`
	// Sequential is N of GAME-RULES §3.5: distinct other players who must
	// click between two clicks of one player (0 = off).
	Sequential  int    `json:"sequential"`
	StartedBy   string `json:"started_by"`
	StarterName string `json:"starter_name,omitempty"`
	AtMS        int64  `json:"at_ms"`
	// Imported is set on a game brought in by the legacy import; its
	// StartedBy may then be empty (the original did not record a starter).
	Imported Imported `json:"imported,omitzero"`
}

// ButtonClicked is an accepted press. Every figure is computed once, at
// acceptance, and never recomputed.
type ButtonClicked struct {
	Game        GameID `json:"game"`
	Guild       string `json:"guild"`
	Number      int64  `json:"number"` // 1, 2, 3… within the game
	User        string `json:"user"`
	UserName    string `json:"user_name,omitempty"`
	Interaction string `json:"interaction"`
	AtMS        int64  `json:"at_ms"`
	ValueMS     int64  `json:"value_ms"`   // remaining time at AtMS
	Band        int    `json:"band"`       // 0 Red … 5 Purple
	ClaimedMS   int64  `json:"claimed_ms"` // duration − value
	MMRMilli    int64  `json:"mmr_milli"`  // MMR × 1000, rounded down
	// Imported is set on a click brought in by the legacy import; its
	// Interaction is then empty (there was no interaction of ours).
	Imported Imported `json:"imported,omitzero"`
}

// GameEnded closes a game. For EndExpired, AtMS is the deadline.
type GameEnded struct {
	Game   GameID    `json:"game"`
	Reason EndReason `json:"reason"`
	AtMS   int64     `json:"at_ms"`
	By     string    `json:"by,omitempty"`
	Why    string    `json:"why,omitempty"`
	// Imported is set on an end brought in by the legacy import.
	Imported Imported `json:"imported,omitzero"`
}

// GameMessagePosted records the Discord message showing a game, so the bot
// finds it again after any restart.
type GameMessagePosted struct {
	Game      GameID `json:"game"`
	Channel   string `json:"channel"`
	MessageID string `json:"message_id"`
	AtMS      int64  `json:"at_ms"`
}

// ChannelClaimed points a button channel at the game that occupies it. A
// claim counts only while that game exists in this channel and is active.
// Start, when present, is the game's opening event as the claimer will
// append it: anyone who finds the claim before the game exists completes
// the start with it, so a claim is never overtaken half-way.
type ChannelClaimed struct {
	Channel string       `json:"channel"`
	Guild   string       `json:"guild"`
	Game    GameID       `json:"game"`
	AtMS    int64        `json:"at_ms"`
	Start   *GameStarted `json:"start,omitempty"`
	// Imported is set on the claim of a live game taken over by the
	// legacy import.
	Imported Imported `json:"imported,omitzero"`
}

// GuildIconSet sets the guild's emoji for the cross-guild ranking.
type GuildIconSet struct {
	Guild string `json:"guild"`
	Icon  string `json:"icon"`
	By    string `json:"by"` // empty only when imported
	AtMS  int64  `json:"at_ms"`
	// Imported is set on an icon brought in by the legacy import.
	Imported Imported `json:"imported,omitzero"`
}

// PlayerBanned adds a player to a guild's ban list.
type PlayerBanned struct {
	Guild  string `json:"guild"`
	User   string `json:"user"`
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	AtMS   int64  `json:"at_ms"`
}

// PlayerUnbanned removes a player from a guild's ban list.
type PlayerUnbanned struct {
	Guild string `json:"guild"`
	User  string `json:"user"`
	By    string `json:"by"`
	AtMS  int64  `json:"at_ms"`
}

func (GameStarted) EventType() string       { return TypeGameStarted }
func (ButtonClicked) EventType() string     { return TypeButtonClicked }
func (GameEnded) EventType() string         { return TypeGameEnded }
func (GameMessagePosted) EventType() string { return TypeGameMessagePosted }
func (ChannelClaimed) EventType() string    { return TypeChannelClaimed }
func (GuildIconSet) EventType() string      { return TypeGuildIconSet }
func (PlayerBanned) EventType() string      { return TypeGuildPlayerBanned }
func (PlayerUnbanned) EventType() string    { return TypeGuildPlayerUnban }

// Limits on what an event may carry.
const (
	MaxNameLen     = 100
	MaxReasonLen   = 500
	MaxDurationMS  = 30 * 24 * 3600 * 1000
	MaxSequential  = 100
	maxTimestampMS = 1 << 52
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func checkID(field, v string) error {
	if !validSnowflake(v) {
		return malformed("%s %q is not a Discord id", field, v)
	}
	return nil
}

func checkTime(v int64) error {
	if v <= 0 || v > maxTimestampMS {
		return malformed("time %d out of range", v)
	}
	return nil
}

func checkText(field, v string, limit int) error {
	if len(v) > limit {
		return malformed("%s longer than %d bytes", field, limit)
	}
	return nil
}

func (e GameStarted) validate() error {
	var by error
	if e.StartedBy != "" || e.Imported.IsZero() {
		by = checkID("started_by", e.StartedBy)
	}
	return errors.Join(
		checkGame(e.Game), checkID("guild", e.Guild), checkID("button_channel", e.ButtonChannel),
		checkID("chat_channel", e.ChatChannel), by, e.Imported.validate(),
		checkText("starter_name", e.StarterName, MaxNameLen), checkTime(e.AtMS),
		checkRange("duration_ms", e.DurationMS, 1, MaxDurationMS),
		checkRange("cooldown_ms", e.CooldownMS, 0, MaxDurationMS),
		checkRange("sequential", int64(e.Sequential), 0, MaxSequential),
	)
}

func (e ButtonClicked) validate() error {
	return errors.Join(
		checkGame(e.Game), checkID("guild", e.Guild), checkID("user", e.User),
		checkText("user_name", e.UserName, MaxNameLen), checkTime(e.AtMS),
		checkRange("number", e.Number, 1, 1<<40),
		checkRange("value_ms", e.ValueMS, 0, MaxDurationMS),
		checkRange("band", int64(e.Band), 0, 5),
		checkRange("claimed_ms", e.ClaimedMS, 0, MaxDurationMS),
		checkRange("mmr_milli", e.MMRMilli, 0, 1<<50),
		checkText("interaction", e.Interaction, MaxNameLen), e.Imported.validate(),
	)
}

func (e GameEnded) validate() error {
	var reason error
	if e.Reason != EndExpired && e.Reason != EndAborted {
		reason = malformed("end reason %q", e.Reason)
	}
	var by error
	if e.By != "" {
		by = checkID("by", e.By)
	}
	return errors.Join(checkGame(e.Game), reason, by, checkTime(e.AtMS), checkText("why", e.Why, MaxReasonLen),
		e.Imported.validate())
}

func (e GameMessagePosted) validate() error {
	return errors.Join(checkGame(e.Game), checkID("channel", e.Channel), checkID("message_id", e.MessageID), checkTime(e.AtMS))
}

func (e ChannelClaimed) validate() error {
	var start error
	if e.Start != nil {
		start = e.Start.validate()
		if start == nil && (e.Start.Game != e.Game || e.Start.ButtonChannel != e.Channel || e.Start.Guild != e.Guild) {
			start = malformed("the claim's start is for game %d in channel %s", e.Start.Game, e.Start.ButtonChannel)
		}
	}
	return errors.Join(checkID("channel", e.Channel), checkID("guild", e.Guild), checkGame(e.Game), checkTime(e.AtMS), start,
		e.Imported.validate())
}

func (e GuildIconSet) validate() error {
	var icon error
	if !ValidIcon(e.Icon) {
		icon = malformed("icon %q is not one of the allowed icons", e.Icon)
	}
	var by error
	if e.By != "" || e.Imported.IsZero() {
		by = checkID("by", e.By)
	}
	return errors.Join(checkID("guild", e.Guild), icon, by, checkTime(e.AtMS), e.Imported.validate())
}

func (e PlayerBanned) validate() error {
	return errors.Join(checkID("guild", e.Guild), checkID("user", e.User), checkID("by", e.By),
		checkText("reason", e.Reason, MaxReasonLen), checkTime(e.AtMS))
}

func (e PlayerUnbanned) validate() error {
	return errors.Join(checkID("guild", e.Guild), checkID("user", e.User), checkID("by", e.By), checkTime(e.AtMS))
}

func checkGame(id GameID) error {
	if id <= 0 {
		return malformed("game %d is not a game number", id)
	}
	return nil
}

func checkRange(field string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return malformed("%s %d outside [%d, %d]", field, v, lo, hi)
	}
	return nil
}

// Icons is the fixed set of emoji a guild may pick for the cross-guild
// ranking (GAME-RULES §7).
var Icons = []string{
	"🔘", "🔴", "🟠", "🟡", "🟢", "🔵", "🟣", "⚫", "⚪", "🟤",
	"⭐", "🌙", "☀️", "⚡", "🔥", "💧", "🌊", "🍀", "🌸", "🍄",
	"🐉", "🦊", "🐺", "🦉", "🐙", "👑", "💎", "🗡️", "🛡️", "🏰",
}

// ValidIcon reports whether icon is one of Icons.
func ValidIcon(icon string) bool {
	for _, i := range Icons {
		if i == icon {
			return true
		}
	}
	return false
}
