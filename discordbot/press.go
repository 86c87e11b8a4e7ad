package discordbot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/timefmt"
)

// Texts of refusals that carry no numbers.
const (
	textForged    = "That button is not one of The Button's, so nothing was recorded."
	textNoGuild   = "The Button can only be pressed inside a server."
	textBusy      = "The button is very busy right now and your press was not recorded. Please press again."
	textFailed    = "Something went wrong on our side and your press may not have been recorded. Please try again in a moment."
	textUnknown   = "We could not reach the game's store to confirm your press for a long while, so we cannot tell yet whether it counted. Check the game message before pressing again."
	textNoSuch    = "This button belongs to a game that does not exist. Nothing was recorded."
	textWrongPlay = "This button belongs to a game of another server: presses only count in the game's own server. Nothing was recorded."
	textBanned    = "You are on this server's ban list for The Button, so your press was not recorded. Ask a server admin if you think this is a mistake."
)

// press decides a press of a game's button and answers the presser
// (ephemeral) within Discord's window.
func (b *Bot) press(ic *discordgo.Interaction, start time.Time, respond responder, game events.GameID) {
	user, name := userOf(ic)
	if ic.GuildID == "" || user == "" {
		b.sendAnswer(ic, start, respond, reply{content: textNoGuild, ephemeral: true}, false)
		return
	}
	decideBy := respond.origin(start).Add(b.cfg.DecideBudget)
	produce := func(ctx context.Context) reply {
		click, err := b.cmds.Press(ctx, commands.Press{
			Game: game, Guild: ic.GuildID, User: user, UserName: name, Interaction: ic.ID, At: start,
			DecideBy: decideBy,
		})
		if err == nil {
			if !click.Duplicate {
				b.updater.Touch(game, ic.GuildID, start)
			}
			return reply{content: pressAccepted(click), ephemeral: true}
		}
		rej, ok := commands.AsRejection(err)
		if !ok {
			if errors.Is(err, commands.ErrContention) || errors.Is(err, commands.ErrShed) {
				return reply{content: textBusy, ephemeral: true}
			}
			if errors.Is(err, commands.ErrOutcomeUnknown) {
				b.log.Error("press outcome unknown", "game", game, "guild", ic.GuildID, "user", user, "interaction", ic.ID, "err", err)
				return reply{content: textUnknown, ephemeral: true}
			}
			b.log.Error("press failed", "game", game, "guild", ic.GuildID, "user", user, "interaction", ic.ID, "err", err)
			return reply{content: textFailed, ephemeral: true}
		}
		return reply{content: pressRefused(rej, start), ephemeral: true}
	}
	if time.Since(respond.origin(start)) >= interactionWindow-standInMargin {
		// Too old to be deferred inside Discord's window (a request that
		// waited in transit, a starved process): the handler sheds it at
		// once (its DecideBy passed), answered directly, nothing recorded.
		decideBy = respond.origin(start)
		b.sendAnswer(ic, start, respond, produce(b.ctx), false)
		return
	}
	b.answer(ic, start, respond, true, false, produce)
}

// pressAccepted is what the presser sees of an accepted click.
func pressAccepted(c commands.Click) string {
	band := events.Band(c.Band)
	again := ""
	if c.Duplicate {
		again = " (this press had already been counted)"
	}
	return fmt.Sprintf("%s **%s click!** You pressed game #%d with **%s** left and put **%s** back on the clock%s.",
		band.Emoji(), band, c.Game, timefmt.Value(c.ValueMS), timefmt.Value(c.ClaimedMS), again)
}

// pressRefused is what the presser sees of a refusal, with the numbers
// they need.
func pressRefused(r *commands.Rejection, at time.Time) string {
	switch r.Reason {
	case commands.ReasonNoSuchGame:
		return textNoSuch
	case commands.ReasonWrongGuild:
		return textWrongPlay
	case commands.ReasonGameOver:
		if r.Aborted && r.BeforeEnd {
			return fmt.Sprintf("Your press came in **%s** before an admin stopped game #%d, but the stop was recorded before your press could be, so it did not count. The game was stopped %s (at %s).",
				timefmt.Value(r.DeadlineMS-r.PressedMS), r.Game, stamp(r.DeadlineMS, 'R'), stamp(r.DeadlineMS, 'T'))
		}
		if r.Aborted {
			return fmt.Sprintf("Game #%d was stopped by an admin %s, so presses no longer count.", r.Game, stamp(r.DeadlineMS, 'R'))
		}
		if r.BeforeEnd {
			return fmt.Sprintf("Your press came in with **%s** left, but game #%d's end was recorded before your press could be, so it did not count. The clock ran out %s (at %s).",
				timefmt.Value(r.DeadlineMS-r.PressedMS), r.Game, stamp(r.DeadlineMS, 'R'), stamp(r.DeadlineMS, 'T'))
		}
		return fmt.Sprintf("Game over: the clock of game #%d ran out %s (at %s). Presses at or after zero do not count.",
			r.Game, stamp(r.DeadlineMS, 'R'), stamp(r.DeadlineMS, 'T'))
	case commands.ReasonBanned:
		return textBanned
	case commands.ReasonCooldown:
		return fmt.Sprintf("You are cooling down: %s.", cooldownWait(r.ReadyAtMS-r.WaitMS, r.ReadyAtMS))
	case commands.ReasonSequential:
		return fmt.Sprintf("Not yet: **%s** still need to press before you can again (this game asks for %s between two of your presses).",
			pluralPlayers(r.PlayersNeeded, "more player"), pluralPlayers(r.Required, "other player"))
	}
	return "Your press was not recorded: " + r.Error() + "."
}

func pluralPlayers(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
