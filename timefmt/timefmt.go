// Package timefmt is the one way times are written for players: in Discord
// answers, announcements and summaries, on boards, charts, timer and end
// pictures, and on the web pages.
//
// It imports the standard library only, so every package may use it:
// imaging (which may import nothing else of this module) as much as events,
// discordbot and web. All functions take integer milliseconds, as the
// events store them.
//
//   - Clock: time left on a game's clock, HH:MM:SS, to the millisecond
//     under one minute (00:00:59.999) where every millisecond counts.
//   - Value: a click's value or time claimed, always to the millisecond
//     (00:00:00.398): what the best players chase.
//   - Exact: a point such as a colour edge, milliseconds shown only when
//     it is not a whole second.
//   - Span: a duration in the compact form people read: 3 h, 1 h 30 min,
//     45 s, 1.5 s. Whole seconds from one minute on.
//   - Rough: a long duration's two largest units (300 d 4 h), for lists.
//   - Wait: a cooldown's remaining wait, rounded up to the second, so the
//     text and Discord's <t:…> tag (ReadySecond) agree to the second.
//   - Axis: one tick label of a time axis, precise enough that the labels
//     of neighbouring ticks differ.
package timefmt

import (
	"strconv"
	"strings"
)

// Clock formats time left: HH:MM:SS (hours not wrapping at 24, truncated
// to whole seconds) from one minute on, HH:MM:SS.mmm below. Negative is 0.
func Clock(ms int64) string {
	ms = max(ms, 0)
	if ms < 60_000 {
		return Value(ms)
	}
	return string(AppendClock(nil, ms/1000))
}

// Value formats a click's value or claimed time to the millisecond:
// HH:MM:SS.mmm. Negative is 0.
func Value(ms int64) string {
	ms = max(ms, 0)
	b := AppendClock(make([]byte, 0, 12), ms/1000)
	b = append(b, '.')
	return string(appendPad(b, ms%1000, 3))
}

// Exact formats an exact point such as a colour edge: HH:MM:SS when it is
// a whole second, HH:MM:SS.mmm when the milliseconds matter.
func Exact(ms int64) string {
	ms = max(ms, 0)
	if ms%1000 == 0 {
		return string(AppendClock(nil, ms/1000))
	}
	return Value(ms)
}

// AppendClock appends whole seconds as HH:MM:SS to b; it allocates
// nothing beyond b's growth (the timer images call it per frame).
func AppendClock(b []byte, secs int64) []byte {
	secs = max(secs, 0)
	b = appendPad(b, secs/3600, 2)
	b = append(b, ':')
	b = appendPad(b, secs/60%60, 2)
	b = append(b, ':')
	return appendPad(b, secs%60, 2)
}

func appendPad(b []byte, n int64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], n, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

var units = []struct {
	ms   int64
	name string
}{{86_400_000, "d"}, {3_600_000, "h"}, {60_000, "min"}, {1000, "s"}}

// Span formats a duration compactly: "3 h", "1 h 30 min", "2 d 5 s",
// "45 s"; below one minute to the millisecond ("0.398 s", "59.999 s",
// "0 s"), from one minute on truncated to whole seconds.
func Span(ms int64) string {
	ms = max(ms, 0)
	if ms < 60_000 {
		return seconds(ms) + " s"
	}
	return spanUnits(ms, len(units))
}

// Rough formats a duration by its two largest non-zero units, truncated:
// "300 d 4 h", "1 h 30 min", "12 min 5 s"; below a minute as Span.
func Rough(ms int64) string {
	ms = max(ms, 0)
	if ms < 60_000 {
		return Span(ms)
	}
	return spanUnits(ms, 2)
}

func spanUnits(ms int64, most int) string {
	var parts []string
	used := 0
	for _, u := range units {
		n := ms / u.ms
		ms -= n * u.ms
		if n == 0 && used == 0 {
			continue
		}
		if used == most {
			break
		}
		used++
		if n > 0 {
			parts = append(parts, strconv.FormatInt(n, 10)+" "+u.name)
		}
	}
	return strings.Join(parts, " ")
}

// seconds writes ms as seconds with up to three decimals, trailing zeros
// dropped: "45", "1.5", "0.398".
func seconds(ms int64) string {
	s := strconv.FormatInt(ms/1000, 10)
	if f := ms % 1000; f != 0 {
		frac := strings.TrimRight(string(appendPad(nil, f, 3)), "0")
		s += "." + frac
	}
	return s
}

// ReadySecond is the Unix second at which a cooldown ending at readyMS is
// over, rounded up: the second a Discord <t:…> tag must name so that
// "now" on it is never too early.
func ReadySecond(readyMS int64) int64 {
	return ceilDiv(readyMS, 1000)
}

// Wait is the cooldown still to wait at nowMS for one that ends at readyMS,
// in milliseconds rounded up to whole seconds (0 once ready). Every answer
// that states a wait uses it, so two of them at the same instant agree.
func Wait(nowMS, readyMS int64) int64 {
	if readyMS <= nowMS {
		return 0
	}
	return ceilDiv(readyMS-nowMS, 1000) * 1000
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

// AxisStep returns a tick step in ms for an axis spanning spanMS with
// about n ticks, rounded to a step people count in (1, 2, 5, 10, 15, 30 s,
// 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, 1, 2, 5, 7, 10, 14, 30,
// 60, 90 d …). Labels from Axis at multiples of the step are distinct.
func AxisStep(spanMS int64, n int) int64 {
	if n < 1 {
		n = 1
	}
	raw := max(spanMS/int64(n), 1)
	steps := []int64{1, 2, 5, 10, 20, 50, 100, 200, 500,
		1000, 2000, 5000, 10_000, 15_000, 30_000,
		60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
		3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000,
		86_400_000, 2 * 86_400_000, 5 * 86_400_000, 7 * 86_400_000, 10 * 86_400_000,
		14 * 86_400_000, 30 * 86_400_000, 60 * 86_400_000, 90 * 86_400_000}
	for _, s := range steps {
		if s >= raw {
			return s
		}
	}
	d := int64(365 * 86_400_000)
	for d < raw {
		d *= 2
	}
	return d
}

// Axis formats a tick at ms on an axis whose ticks are stepMS apart, in
// the coarsest unit that still tells neighbouring ticks apart: "0.25 s",
// "40 s", "1:30" (min:s), "1 h 30 min", "12 d", "300 d 12 h".
func Axis(ms, stepMS int64) string {
	if ms < 0 {
		return "−" + Axis(-ms, stepMS)
	}
	if ms == 0 {
		return "0"
	}
	switch {
	case stepMS < 1000:
		return seconds(ms) + " s"
	case stepMS < 60_000:
		switch {
		case ms < 60_000:
			return strconv.FormatInt(ms/1000, 10) + " s"
		case ms < 3_600_000:
			return strconv.FormatInt(ms/60_000, 10) + ":" + string(appendPad(nil, ms/1000%60, 2))
		}
		return string(AppendClock(nil, ms/1000))
	case stepMS < 86_400_000:
		if ms < 60_000 {
			return "0 min"
		}
		return spanUnits(ms-ms%60_000, 3)
	}
	if ms < 3_600_000 {
		return "0 d"
	}
	return spanUnits(ms-ms%3_600_000, 2)
}
