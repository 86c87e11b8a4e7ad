package discordbot

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/timefmt"
)

// Times for players are written by package timefmt only (one format
// everywhere); this file adds what is Discord's own: timestamp tags.

// stamp returns a Discord timestamp tag for a Unix millisecond time; style
// R is relative ("in 2 hours"), T the time, f date and time, D the date.
func stamp(ms int64, style byte) string {
	return "<t:" + strconv.FormatInt(ms/1000, 10) + ":" + string(style) + ">"
}

// readyStamp is the Discord tag of the moment a cooldown ending at readyMS
// is over, rounded up to the second like timefmt.Wait, so the tag and the
// stated wait agree.
func readyStamp(readyMS int64, style byte) string {
	return "<t:" + strconv.FormatInt(timefmt.ReadySecond(readyMS), 10) + ":" + string(style) + ">"
}

// cooldownWait is every answer's wording of a running cooldown at nowMS:
// "**1 min 5 s** left — you can press again <t:…:R> (at <t:…:T>)".
func cooldownWait(nowMS, readyMS int64) string {
	return fmt.Sprintf("**%s** left — you can press again %s (at %s)",
		timefmt.Span(timefmt.Wait(nowMS, readyMS)), readyStamp(readyMS, 'R'), readyStamp(readyMS, 'T'))
}

// mention returns a user mention.
func mention(user string) string { return "<@" + user + ">" }

// truncate clips s to at most n runes, ending with an ellipsis when clipped.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}

// safeName removes what would break a name's formatting in Markdown and
// mentions.
func safeName(s string) string {
	if s == "" {
		return "someone"
	}
	r := strings.NewReplacer("*", "", "_", "", "`", "", "~", "", "|", "", "@", "", "\n", " ", ">", "", "#", "")
	return truncate(r.Replace(s), 40)
}

// msOf converts a time to Unix milliseconds.
func msOf(t time.Time) int64 { return t.UnixMilli() }

// plural returns "1 click" / "2 clicks".
func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}
