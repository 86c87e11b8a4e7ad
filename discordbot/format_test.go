package discordbot_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
)

// TestCheckAndCooldownsAgree: /check and /cooldowns state the same wait
// and the same Discord timestamps for the same player at the same instant,
// to the second, at several instants around second boundaries.
func TestCheckAndCooldownsAgree(t *testing.T) {
	e := newEnv(t, envOptions{noBot: true, noTimekeeper: true})
	game, _ := history(t, e)
	e.startTimekeeper()
	e.startBot(projectorOptions())
	// A press with a fraction of a second, ten minutes ago.
	pressAt := time.Now().Add(-10*time.Minute - 1234*time.Millisecond)
	if _, err := e.h.Press(e.ctx, commands.Press{Game: game, Guild: e.guild, User: e.player2, UserName: "Quinn Second",
		Interaction: e.fake.NewID(), At: pressAt}); err != nil {
		t.Fatal(err)
	}
	e.wait(20*time.Second, "the press in the views", func() bool {
		cs, err := e.views.LastClickers(e.ctx, game, 10)
		if err != nil || len(cs) == 0 || cs[0].User != e.player2 {
			return false
		}
		// /check reads the player's own view, kept apart from the list.
		p, err := e.views.Player(e.ctx, game, e.player2)
		return err == nil && p.LastAt.UnixMilli() == pressAt.UnixMilli()
	})
	wait := regexp.MustCompile(`\*\*([^*]+)\*\* left — you can press again (<t:\d+:R>) \(at (<t:\d+:T>)\)`)
	ready := pressAt.Add(time.Hour)
	for _, off := range []time.Duration{0, 1, 499, 766, 767, 999} {
		now := pressAt.Add(15*time.Minute + off*time.Millisecond)
		check := e.bot.AnswerAt(e.ctx, e.guild, e.button, e.player2, "check", now)
		cool := e.bot.AnswerAt(e.ctx, e.guild, e.button, e.player2, "cooldowns", now)
		a, b := wait.FindStringSubmatch(check), wait.FindStringSubmatch(cool)
		if a == nil || b == nil {
			t.Fatalf("no wait in /check %q or /cooldowns %q", check, cool)
		}
		if a[1] != b[1] || a[2] != b[2] || a[3] != b[3] {
			t.Errorf("at +%d ms: /check says %q, /cooldowns %q", off, a[1:], b[1:])
		}
		if a[1] != "45 min" {
			t.Errorf("at +%d ms: wait %q, want 45 min (rounded up to the second)", off, a[1])
		}
		want := "<t:" + strconv.FormatInt((ready.UnixMilli()+999)/1000, 10) + ":R>"
		if a[2] != want {
			t.Errorf("tag %s, want %s (the ready second, rounded up)", a[2], want)
		}
	}
}
