package discordbot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/discordbot"
)

func TestLegacyTextCommands(t *testing.T) {
	e := newEnv(t, envOptions{cfg: discordbot.Config{Legacy: true}})
	if got, want := e.fake.Identifies()[0].Intents, discordbot.Intents(true); got != want ||
		want&discordgo.IntentsMessageContent == 0 || want&discordgo.IntentsGuildMessages == 0 {
		t.Fatalf("intents = %d, want guilds, guild messages and message content (%d)", got, want)
	}
	game, msg := e.startGame()
	e.press(e.player, game, msg)
	e.wait(10*time.Second, "the views", func() bool {
		v, err := e.views.Game(e.ctx, game)
		return err == nil && v.Clicks == 1
	})

	// A command: answered in the channel with a working reaction meanwhile.
	say := e.fake.Say(e.guild, e.button, e.player, "check")
	var answer string
	e.wait(10*time.Second, "the answer to check", func() bool {
		for _, m := range e.fake.Messages(e.button) {
			if m.AuthorID == e.fake.BotID && strings.Contains(m.Text(), "Not yet") {
				answer = m.Text()
				return true
			}
		}
		return false
	})
	e.wait(5*time.Second, "the working reaction removed", func() bool {
		m, _ := e.fake.Message(say.ID)
		return len(m.Reactions) == 0 && len(m.ReactionsEver) == 1 && m.ReactionsEver[0] == "⏳"
	})
	if !strings.Contains(answer, "<t:") {
		t.Errorf("check answer = %q", answer)
	}

	before := len(e.fake.Messages(e.button))
	calls := len(e.fake.CallsTo("POST /channels/{channel}/messages"))
	// Not commands: words inside sentences, longer words, other channels.
	e.fake.Say(e.guild, e.button, e.player, "rankings are fun")
	e.fake.Say(e.guild, e.button, e.player, "check this out")
	e.fake.Say(e.guild, e.other, e.player, "check")
	// A command with an argument, and an admin word from a non-admin.
	e.fake.Say(e.guild, e.button, e.player, "l2 3")
	e.fake.Say(e.guild, e.button, e.player, "sb")
	e.wait(10*time.Second, "two answers", func() bool {
		return len(e.fake.CallsTo("POST /channels/{channel}/messages")) >= calls+2
	})
	// A last command: once it is answered, the words said before it have
	// been handled (answered or not).
	e.fake.Say(e.guild, e.button, e.player, "l2")
	e.wait(10*time.Second, "the last answer", func() bool {
		return len(e.fake.CallsTo("POST /channels/{channel}/messages")) >= calls+3
	})
	var texts []string
	for _, m := range e.fake.Messages(e.button)[before:] {
		if m.AuthorID == e.fake.BotID {
			texts = append(texts, m.Text())
		}
	}
	if len(texts) != 3 {
		t.Fatalf("%d answers, want 3 (l2, sb and the last l2): %q", len(texts), texts)
	}
	joined := strings.Join(texts, "\n")
	if !strings.Contains(joined, "By MMR") || !strings.Contains(joined, "Manage Server") {
		t.Errorf("answers = %q", texts)
	}
	if n := len(e.fake.Messages(e.other)); n != 1 {
		t.Errorf("%d messages in a channel without a game, want only the player's", n)
	}
}
