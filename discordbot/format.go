package discordbot

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// clock formats a duration in milliseconds as HH:MM:SS, hours not wrapping
// at 24, truncated to whole seconds.
func clock(ms int64) string {
	if ms < 0 {
		ms = 0
	}
	s := ms / 1000
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// spelled formats a duration in milliseconds as "2h 5m 3s", leaving out
// leading zero units; below a second it says "0s".
func spelled(ms int64) string {
	if ms < 0 {
		ms = 0
	}
	s := ms / 1000
	d, h, m, sec := s/86400, s/3600%24, s/60%60, s%60
	var parts []string
	if d > 0 {
		parts = append(parts, strconv.FormatInt(d, 10)+"d")
	}
	if d > 0 || h > 0 {
		parts = append(parts, strconv.FormatInt(h, 10)+"h")
	}
	if d > 0 || h > 0 || m > 0 {
		parts = append(parts, strconv.FormatInt(m, 10)+"m")
	}
	parts = append(parts, strconv.FormatInt(sec, 10)+"s")
	return strings.Join(parts, " ")
}

// longSpelled formats a duration as "1 hour 2 minutes 3 seconds".
func longSpelled(ms int64) string {
	if ms < 0 {
		ms = 0
	}
	s := ms / 1000
	unit := func(n int64, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return strconv.FormatInt(n, 10) + " " + word + "s"
	}
	d, h, m, sec := s/86400, s/3600%24, s/60%60, s%60
	var parts []string
	if d > 0 {
		parts = append(parts, unit(d, "day"))
	}
	if h > 0 {
		parts = append(parts, unit(h, "hour"))
	}
	if m > 0 {
		parts = append(parts, unit(m, "minute"))
	}
	if sec > 0 || len(parts) == 0 {
		parts = append(parts, unit(sec, "second"))
	}
	return strings.Join(parts, " ")
}

// lifetime formats a duration as "3d 4h 5m" (the game lists' format).
func lifetime(ms int64) string {
	if ms < 0 {
		ms = 0
	}
	m := ms / 60000
	return fmt.Sprintf("%dd %dh %dm", m/1440, m/60%24, m%60)
}

// stamp returns a Discord timestamp tag for a Unix millisecond time; style
// R is relative ("in 2 hours"), T the time, f date and time, D the date.
func stamp(ms int64, style byte) string {
	return "<t:" + strconv.FormatInt(ms/1000, 10) + ":" + string(style) + ">"
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
