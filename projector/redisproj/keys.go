package redisproj

import (
	"strconv"
	"strings"

	"github.com/thebutton-game/thebutton/events"
)

// Key layout. This file is the only place that spells Redis key names;
// apply.lua derives its keys from the one key it is given (KEYS[1]) by
// appending a suffix to the part up to its last ':'.
//
// Every key starts with the prefix. The keys of one game share the hash tag
// {g:<id>} (one Redis Cluster slot per game); everything that spans games
// (indexes of games, guild settings, global boards, the projection's
// position) shares the tag {btn}. Per game, with G = <prefix>{g:<id>}:
//
//	G game           hash    the game: settings, status, counters, last click, checkpoint "ck"
//	G c              list    click records in order (index = number − 1)
//	G pl             hash    user → the player's figures, packed (see playerRec)
//	G pc:<user>      string  the player's clicks in order, pcEntryLen bytes each: padded number, band
//	G low            zset    padded click number → value (ms), the LowestCap lowest clicks
//	G edge           zset    padded click number → distance to the nearest band edge (ms), within EdgeWindow
//	G hours          hash    hour (Unix ms / 3600000) → clicks
//
// Across games, with B = <prefix>{btn}:
//
//	B pos            string  stream sequence up to which everything is applied
//	B meta           hash    "ck": last sequence applied to the {btn} keys
//	B games          zset    game → start (ms), every game
//	B active         zset    game → start (ms), active games
//	B gg:<guild>     zset    game → start (ms), the guild's games
//	B chan           hash    button channel → game that claimed it last
//	B icon           hash    guild → icon
//	B ban:<guild>    hash    user → ban record (see encodeBan)
//	B rec            list    the newest RecentCap click records, newest first
//	B low            zset    click record → value (ms), the LowestCap lowest clicks of all games
//	B q:<guild>:<YYYYMM>   hash  user → that month's (UTC) figures in the guild's games, packed
//	                             (see questRec); "_claimed", "_clicks": the month's totals
//
// Leaderboards and the latest distinct clickers are sorted when read, from
// G pl: a few thousand players at most per game, read on a human command,
// cost less than sorted sets kept up to date on every click.
//
//	B pg             zset    "<user>:<padded game>", all scored 0: the games of each player by lex range
type keys struct{ prefix string }

// Caps of the bounded global views.
const (
	// RecentCap is how many clicks the global recent list keeps.
	RecentCap = 100
	// LowestCap is how many of the lowest clicks are kept, per game and
	// across games (/lowest shows at most 100).
	LowestCap = 100
)

func (k keys) gameTag(id events.GameID) string { return k.prefix + "{g:" + id.String() + "}:" }

// Key suffixes within a slot, as apply.lua takes them.
const (
	sfxGame    = "game"
	sfxClicks  = "c"
	sfxPlayers = "pl"
	sfxLow     = "low"
	sfxEdge    = "edge"
	sfxHours   = "hours"
	sfxMeta    = "meta"
	sfxGames   = "games"
	sfxActive  = "active"
	sfxChan    = "chan"
	sfxIcon    = "icon"
	sfxRecent  = "rec"
	sfxPG      = "pg"
)

func sfxPlayerClicks(user string) string  { return "pc:" + user }
func sfxGuildGames(guild string) string   { return "gg:" + guild }
func sfxBans(guild string) string         { return "ban:" + guild }
func sfxQuest(guild, month string) string { return "q:" + guild + ":" + month }

func (k keys) game(id events.GameID) string    { return k.gameTag(id) + sfxGame }
func (k keys) clicks(id events.GameID) string  { return k.gameTag(id) + sfxClicks }
func (k keys) players(id events.GameID) string { return k.gameTag(id) + sfxPlayers }
func (k keys) playerClicks(id events.GameID, user string) string {
	return k.gameTag(id) + sfxPlayerClicks(user)
}
func (k keys) low(id events.GameID) string   { return k.gameTag(id) + sfxLow }
func (k keys) edge(id events.GameID) string  { return k.gameTag(id) + sfxEdge }
func (k keys) hours(id events.GameID) string { return k.gameTag(id) + sfxHours }

func (k keys) global() string                   { return k.prefix + "{btn}:" }
func (k keys) pos() string                      { return k.global() + "pos" }
func (k keys) meta() string                     { return k.global() + sfxMeta }
func (k keys) games() string                    { return k.global() + sfxGames }
func (k keys) active() string                   { return k.global() + sfxActive }
func (k keys) guildGames(guild string) string   { return k.global() + sfxGuildGames(guild) }
func (k keys) channels() string                 { return k.global() + sfxChan }
func (k keys) icons() string                    { return k.global() + sfxIcon }
func (k keys) bans(guild string) string         { return k.global() + sfxBans(guild) }
func (k keys) recent() string                   { return k.global() + sfxRecent }
func (k keys) globalLow() string                { return k.global() + sfxLow }
func (k keys) quest(guild, month string) string { return k.global() + sfxQuest(guild, month) }
func (k keys) playerGames() string              { return k.global() + sfxPG }

// patterns are SCAN patterns that match every key of the projection and
// nothing else.
func (k keys) patterns() []string {
	p := globEscape(k.prefix)
	return []string{p + "{g:*", p + "{btn}:*"}
}

// globEscape escapes the characters SCAN MATCH treats as special.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// padWidth is the width click numbers and game ids are zero-padded to
// where a key's members must sort numerically.
const padWidth = 13

func pad(n int64) string { return string(appendPad(make([]byte, 0, padWidth), n)) }

// appendPad appends n zero-padded to padWidth digits.
func appendPad(b []byte, n int64) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for range padWidth - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}

// applied is the pub/sub channel the position is published on whenever it
// moves (position.lua). It carries the {btn} tag of the position's slot,
// so a sharded client (Ring) subscribes where the position is written.
func (k keys) applied() string { return k.global() + "applied" }
