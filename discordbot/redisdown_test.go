package discordbot_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pause stops the private Redis process (SIGSTOP) without losing its
// data: connections hang and time out, as with a Redis that is down.
func (p *privateRedis) pause()  { _ = p.cmd.Process.Signal(syscall.SIGSTOP) }
func (p *privateRedis) resume() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }

func TestRedisDownPressesStillWorkAndEverythingCatchesUp(t *testing.T) {
	pr := startPrivateRedis(t)
	t.Cleanup(pr.resume) // never leave it stopped for the cleanup
	e := newEnv(t, envOptions{rdb: redisAt(t, pr.addr(), true)})
	game, msg := e.startGame(chatOpt(e.chat), strOpt("cooldown", "0"))
	e.press(e.player, game, msg)
	e.wait(10*time.Second, "the first announcement", func() bool { return len(announcements(e, e.chat)) == 1 })

	pr.pause()
	// Presses are decided, recorded and answered.
	var late []string
	for k := range 3 {
		p := e.fake.AddMember(e.guild, "", fmt.Sprintf("During %d", k), permPlayer)
		late = append(late, p)
		a := e.press(p, game, msg)
		if !strings.Contains(a.Content, "click!") || a.Latency > 3*time.Second {
			t.Fatalf("press while redis is down: %q after %v", a.Content, a.Latency)
		}
	}
	if n := e.clickCount(game); n != 4 {
		t.Fatalf("%d clicks recorded, want 4", n)
	}
	// Commands that need the views say so plainly.
	for _, cmd := range []string{"rank", "clicks", "whoready"} {
		if a := slash(t, e, e.player, cmd); !strings.Contains(a.Content, "Statistics are unavailable") {
			t.Errorf("/%s with redis down: %q", cmd, a.Text())
		}
	}
	// The reactor has met the outage (a failed attempt since the presses)
	// and announced nothing meanwhile.
	retries := e.reactorRetries.Load()
	e.wait(30*time.Second, "the reactor retrying", func() bool { return e.reactorRetries.Load() > retries })
	if n := len(announcements(e, e.chat)); n != 1 {
		t.Errorf("%d announcements while redis is down, want still 1 (marks unreadable)", n)
	}

	pr.resume()
	e.wait(30*time.Second, "the views catching up", func() bool {
		v, err := e.views.Game(e.ctx, game)
		return err == nil && v.Clicks == 4
	})
	e.wait(30*time.Second, "the announcements catching up", func() bool { return len(announcements(e, e.chat)) == 4 })
	e.wait(30*time.Second, "the roles catching up", func() bool {
		for _, p := range late {
			if !contains(e.fake.MemberRoles(e.guild, p), "Purple") {
				return false
			}
		}
		return true
	})
	e.wait(30*time.Second, "the game message catching up", func() bool {
		m, _ := e.fake.Message(msg)
		return strings.Contains(m.Text(), "4 clicks")
	})
	if a := slash(t, e, e.player, "clicks"); !strings.Contains(a.Text(), "Total: **4**") {
		t.Errorf("/clicks after redis is back: %q", a.Text())
	}
	e.settled(30 * time.Second)
	if n := len(announcements(e, e.chat)); n != 4 {
		t.Errorf("%d announcements, want 4", n)
	}
}

func TestRedisDataLossRepeatsNothing(t *testing.T) {
	pr := startPrivateRedis(t)
	e := newEnv(t, envOptions{rdb: redisAt(t, pr.addr(), true)})
	game, msg := e.startGame(chatOpt(e.chat), strOpt("cooldown", "0"))
	e.press(e.player, game, msg)
	e.press(e.player2, game, msg)
	e.wait(10*time.Second, "two announcements", func() bool { return len(announcements(e, e.chat)) == 2 })

	e.wait(10*time.Second, "the reactor idle", func() bool {
		pos, err := e.marks.Position(e.ctx)
		last, lerr := e.store.LastSeq(e.ctx)
		return err == nil && lerr == nil && pos == last
	})
	// Redis restarts without persistence: views, marks and checkpoints are
	// gone. The idle reactor finds its checkpoint at 0 and reads the stream
	// again from the start.
	pr.stop()
	pr.start()
	e.wait(30*time.Second, "the views rebuilt from the stream", func() bool {
		v, err := e.views.Game(e.ctx, game)
		return err == nil && v.Clicks == 2
	})
	e.wait(30*time.Second, "the reactor past its lost checkpoint", func() bool {
		pos, err := e.marks.Position(e.ctx)
		return err == nil && pos > 0
	})
	e.settled(30 * time.Second)
	if n := len(announcements(e, e.chat)); n != 2 {
		t.Errorf("%d announcements after the data loss, want still 2", n)
	}
	third := e.fake.AddMember(e.guild, "", "After", permPlayer)
	e.press(third, game, msg)
	e.wait(15*time.Second, "the new press announced", func() bool { return len(announcements(e, e.chat)) >= 3 })
	e.settled(30 * time.Second)
	if n := len(announcements(e, e.chat)); n != 3 {
		t.Errorf("%d announcements, want 3: nothing repeated after the data loss", n)
	}
	if n := len(e.fake.Messages(e.button)); n != 2 {
		t.Errorf("%d messages in the button channel, want the explanation and the game message", n)
	}
	e.wait(15*time.Second, "the game message up to date", func() bool {
		m, _ := e.fake.Message(msg)
		return strings.Contains(m.Text(), "3 clicks")
	})
}
