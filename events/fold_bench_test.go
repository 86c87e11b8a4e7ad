package events_test

import (
	"fmt"
	"testing"

	"github.com/thebutton-game/thebutton/events"
)

// What a press costs the fold on a game of 10,000 clicks: the duplicate
// lookup, then applying the click (with making the click, its id and its
// name in the loop). At 75d0ac6, when every counted click was kept whole:
// ~1.9 µs, 544 B, 5 allocs per press.
func BenchmarkPressFold(b *testing.B) {
	const dur = int64(12 * 3_600_000)
	var g events.Game
	_ = g.Apply(1, events.GameStarted{Game: 1, Guild: "10", ButtonChannel: "20", ChatChannel: "20", DurationMS: dur, StartedBy: "30", AtMS: t0})
	users := make([]string, 200)
	for i := range users {
		users[i] = fmt.Sprint(100_000_000_000_000_000 + i)
	}
	ids := make([]string, 0, 1<<20)
	n := int64(0)
	prev := t0
	click := func() events.ButtonClicked {
		n++
		at := prev + 1
		v := events.Remaining(prev+dur, at)
		prev = at
		u := users[int(n)%len(users)]
		id := fmt.Sprint(1_300_000_000_000_000_000 + n)
		ids = append(ids, id)
		return events.ButtonClicked{Game: 1, Guild: "10", Number: n, User: u, UserName: "p" + u[len(u)-3:], Interaction: id,
			AtMS: at, ValueMS: v, Band: int(events.BandOf(v, dur)), ClaimedMS: events.Claimed(v, dur), MMRMilli: events.MMRMilli(v, dur)}
	}
	for range 10_000 {
		c := click()
		_ = g.Apply(uint64(c.Number+1), c)
	}
	b.ReportAllocs()
	for b.Loop() {
		c := click()
		if _, dup := g.Counted(c.Interaction); dup {
			b.Fatal("dup")
		}
		if err := g.Apply(uint64(c.Number+1), c); err != nil {
			b.Fatal(err)
		}
	}
}
