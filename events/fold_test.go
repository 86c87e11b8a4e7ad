package events_test

import (
	"fmt"

	"testing"

	"github.com/thebutton-game/thebutton/events"
)

func started() events.GameStarted {
	return events.GameStarted{Game: 1, Guild: "10", ButtonChannel: "20", ChatChannel: "20",
		DurationMS: 60_000, CooldownMS: 0, StartedBy: "30", AtMS: t0}
}

func click(n int64, user string, at int64) events.ButtonClicked {
	return events.ButtonClicked{Game: 1, Guild: "10", Number: n, User: user, Interaction: "i" + user + string(rune('0'+n)),
		AtMS: at, ValueMS: 1000, Band: 0, ClaimedMS: 59_000}
}

func TestFoldGame(t *testing.T) {
	var g events.Game
	steps := []struct {
		seq uint64
		e   events.Event
	}{
		{1, started()},
		{4, click(1, "a", t0+10_000)},
		{9, click(2, "b", t0+20_000)},
		{12, events.GameMessagePosted{Game: 1, Channel: "20", MessageID: "77", AtMS: t0 + 1}},
	}
	for _, s := range steps {
		if err := g.Apply(s.seq, s.e); err != nil {
			t.Fatalf("apply seq %d: %v", s.seq, err)
		}
	}
	if g.Clicks != 2 || g.LastClickMS != t0+20_000 || g.DeadlineMS() != t0+80_000 || g.LastSeq != 12 {
		t.Errorf("state: clicks %d last %d deadline %d seq %d", g.Clicks, g.LastClickMS, g.DeadlineMS(), g.LastSeq)
	}
	// A message posted with an older time never moves time backwards.
	if g.LastEventMS != t0+20_000 || g.Now(t0+5) != t0+20_000 {
		t.Errorf("time went backwards: last event %d, Now %d", g.LastEventMS, g.Now(t0+5))
	}
	if g.MessageID != "77" {
		t.Errorf("message id %q", g.MessageID)
	}
	// Redelivered events change nothing.
	before := g.Clicks
	if err := g.Apply(4, click(1, "a", t0+10_000)); err != nil || g.Clicks != before {
		t.Errorf("redelivery changed the state: %v, clicks %d", err, g.Clicks)
	}
	// A gap in click numbers is refused.
	if err := g.Apply(20, click(4, "c", t0+30_000)); err == nil {
		t.Error("click 4 after click 2 accepted")
	}
	if err := g.Apply(21, events.GameEnded{Game: 1, Reason: events.EndExpired, AtMS: g.DeadlineMS()}); err != nil {
		t.Fatal(err)
	}
	if g.Active() || g.Status != events.StatusEnded {
		t.Errorf("status %s after end", g.Status)
	}
	if err := g.Apply(22, events.GameEnded{Game: 1, Reason: events.EndAborted, AtMS: g.DeadlineMS()}); err == nil {
		t.Error("second end accepted")
	}
}

func TestFoldRefusesForeignEvents(t *testing.T) {
	var g events.Game
	if err := g.Apply(1, click(1, "a", t0)); err == nil {
		t.Error("click before start accepted")
	}
	if err := g.Apply(2, started()); err != nil {
		t.Fatal(err)
	}
	other := click(1, "a", t0)
	other.Game = 2
	if err := g.Apply(3, other); err == nil {
		t.Error("another game's click accepted")
	}
	if err := g.Apply(4, events.PlayerBanned{Guild: "10", User: "1", By: "2", AtMS: t0}); err == nil {
		t.Error("guild event folded into a game")
	}
}

func TestDistinctOthersSince(t *testing.T) {
	var g events.Game
	_ = g.Apply(1, started())
	for i, u := range []string{"a", "b", "b", "a", "c", "b", "d"} {
		if err := g.Apply(uint64(i+2), click(int64(i+1), u, t0+int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	// a's last click is number 4; after it: c, b, d.
	n := player(&g, "a").LastNumber
	if got := g.DistinctOthersSince("a", n, 10); got != 3 {
		t.Errorf("distinct others since a's click = %d, want 3", got)
	}
	if got := g.DistinctOthersSince("a", n, 2); got != 2 {
		t.Errorf("with limit 2 = %d, want 2", got)
	}
	// d clicked last: nobody since.
	if got := g.DistinctOthersSince("d", player(&g, "d").LastNumber, 1); got != 0 {
		t.Errorf("distinct others since the last click = %d, want 0", got)
	}
}

func TestFoldGuild(t *testing.T) {
	var g events.Guild
	for i, e := range []events.Event{
		events.GuildIconSet{Guild: "10", Icon: "🦊", By: "1", AtMS: t0},
		events.PlayerBanned{Guild: "10", User: "5", By: "1", AtMS: t0},
		events.PlayerBanned{Guild: "10", User: "6", By: "1", AtMS: t0},
		events.PlayerUnbanned{Guild: "10", User: "5", By: "1", AtMS: t0},
	} {
		if err := g.Apply(uint64(i+1), e); err != nil {
			t.Fatal(err)
		}
	}
	if g.Icon != "🦊" || g.IsBanned("5") || !g.IsBanned("6") {
		t.Errorf("guild state: icon %q banned %v", g.Icon, g.Banned)
	}
}

// Clicks applied tentatively are taken back whole by Undo.
func TestClickUndo(t *testing.T) {
	var g events.Game
	st := events.GameStarted{Game: 1, Guild: "10", ButtonChannel: "20", ChatChannel: "20", StartedBy: "30", AtMS: 1_000, DurationMS: 60_000}
	c := func(n int64, user string) events.ButtonClicked {
		return events.ButtonClicked{Game: 1, Guild: "10", Number: n, User: user, Interaction: fmt.Sprint("i", n), AtMS: 1_000 + n}
	}
	if err := g.Apply(1, st); err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(2, c(1, "a")); err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprintf("%+v %+v %v", g.Last, *player(&g, "a"), g.ClickLog())
	u := g.Tentative()
	for _, x := range []events.ButtonClicked{c(2, "b"), c(3, "a"), c(4, "c")} {
		if err := u.Apply(&g, x); err != nil {
			t.Fatal(err)
		}
	}
	if g.Clicks != 4 || g.LastSeq != 2 {
		t.Fatalf("after tentative clicks: clicks %d last seq %d", g.Clicks, g.LastSeq)
	}
	u.Undo(&g)
	after := fmt.Sprintf("%+v %+v %v", g.Last, *player(&g, "a"), g.ClickLog())
	if after != before || g.Clicks != 1 || player(&g, "b") != nil || player(&g, "c") != nil {
		t.Errorf("after undo: %s, want %s (clicks %d)", after, before, g.Clicks)
	}
	if err := g.Apply(3, c(2, "d")); err != nil {
		t.Errorf("apply after undo: %v", err)
	}
}

// decided is click n as the rules compute it at time at, the clock having
// been set at prev: what a command handler stores.
func decided(n int64, user, name, interaction string, prev, at int64) events.ButtonClicked {
	d := started().DurationMS
	v := events.Remaining(prev+d, at)
	return events.ButtonClicked{Game: 1, Guild: "10", Number: n, User: user, UserName: name, Interaction: interaction,
		AtMS: at, ValueMS: v, Band: int(events.BandOf(v, d)), ClaimedMS: events.Claimed(v, d), MMRMilli: events.MMRMilli(v, d)}
}

// Counted gives back every counted click exactly as it was stored: ids
// that are numbers and ids that are not (a leading zero, beyond 64 bits,
// letters), a player under a new name, and clicks whose figures the rules
// would not compute (decided elsewhere), which are kept whole.
func TestCountedGivesTheOriginalClick(t *testing.T) {
	var g events.Game
	if err := g.Apply(1, started()); err != nil {
		t.Fatal(err)
	}
	odd := decided(5, "c", "Cy", "5", t0+4_000, t0+5_000)
	odd.MMRMilli++ // another arithmetic
	foreignGuild := decided(6, "a", "Ada", "6", t0+5_000, t0+6_000)
	foreignGuild.Guild = "11"
	clicks := []events.ButtonClicked{
		decided(1, "a", "Ada", "1311111111111111111", t0, t0+1_000),
		decided(2, "b", "", "i-b2", t0+1_000, t0+2_000),
		decided(3, "a", "Ada L.", "0123", t0+2_000, t0+3_000),           // renamed; a leading zero
		decided(4, "b", "", "18446744073709551616", t0+3_000, t0+4_000), // 2^64
		odd,
		foreignGuild,
		decided(7, "a", "Ada L.", "123", t0+6_000, t0+70_000), // not "0123"
	}
	imported := decided(8, "d", "", "", t0+70_000, t0+71_000)
	imported.Imported = events.Imported{Source: "legacy:thebutton", Table: "clicks", RowID: 8}
	for i, c := range append(clicks, imported) {
		if err := g.Apply(uint64(i+2), c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range clicks {
		if got, ok := g.Counted(c.Interaction); !ok || got != c {
			t.Errorf("interaction %q: %+v %v, want %+v", c.Interaction, got, ok, c)
		}
	}
	for _, id := range []string{"", "124", "00123", "i-b", "1311111111111111112"} {
		if got, ok := g.Counted(id); ok {
			t.Errorf("interaction %q counted as %+v", id, got)
		}
	}
	if n := player(&g, "a").LastNumber; n != 7 || g.DistinctOthersSince("a", 3, 5) != 3 {
		t.Errorf("a's last number %d, others since a's third click %d", n, g.DistinctOthersSince("a", 3, 5))
	}

	// A tentative click that counts an id again, taken back: the id's
	// first click is the answer again, and the undone ids count nothing.
	u := g.Tentative()
	again := decided(9, "b", "", "1311111111111111111", t0+71_000, t0+72_000)
	fresh := decided(10, "c", "Cy", "42", t0+72_000, t0+73_000)
	for _, c := range []events.ButtonClicked{again, fresh} {
		if err := u.Apply(&g, c); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := g.Counted("1311111111111111111"); got != again {
		t.Errorf("tentatively counted again: %+v", got)
	}
	u.Undo(&g)
	if got, ok := g.Counted("1311111111111111111"); !ok || got != clicks[0] {
		t.Errorf("after undo: %+v %v, want %+v", got, ok, clicks[0])
	}
	if got, ok := g.Counted("42"); ok {
		t.Errorf("undone interaction counted as %+v", got)
	}
}

// player returns user's state in g, nil if user never clicked in it.
func player(g *events.Game, user string) *events.PlayerState {
	if p, ok := g.Player(user); ok {
		return &p
	}
	return nil
}

// Reserve and Compact change what a game's lists take, not what they
// hold: the game goes on the same, clicks after them included.
func TestReserveAndCompactKeepTheGame(t *testing.T) {
	var g, h events.Game
	for _, x := range []*events.Game{&g, &h} {
		if err := x.Apply(1, started()); err != nil {
			t.Fatal(err)
		}
	}
	h.Reserve(10)
	apply := func(from, to int64) {
		for n := from; n <= to; n++ {
			c := decided(n, fmt.Sprint(100+n%3), "P", fmt.Sprint(1000+n), t0+(n-1)*1_000, t0+n*1_000)
			for _, x := range []*events.Game{&g, &h} {
				if err := x.Apply(uint64(n+1), c); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	apply(1, 4)
	h.Compact()
	if g.ClickLog() != h.ClickLog() {
		t.Fatalf("compacted: %s, want %s", h.ClickLog(), g.ClickLog())
	}
	apply(5, 6)
	if got, want := h.ClickLog(), g.ClickLog(); got != want || g.DistinctOthersSince("101", 4, 5) != 2 {
		t.Errorf("after more clicks: %s, want %s", got, want)
	}
	if c, ok := h.Counted("1003"); !ok || c.Number != 3 || c.User != "100" {
		t.Errorf("interaction 1003: %+v %v", c, ok)
	}
}
