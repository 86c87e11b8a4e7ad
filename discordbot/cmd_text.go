package discordbot

import (
	"github.com/bwmarrin/discordgo"
	"strings"

	"github.com/thebutton-game/thebutton/events"
)

// cmdHelp lists the commands by section.
func cmdHelp(legacy bool) reply {
	e := &discordgo.MessageEmbed{
		Title:       "🔘 The Button — commands",
		Color:       events.Purple.RGB(),
		Description: "Keep the clock from reaching zero. Press late for a rare colour, but not too late.",
		Fields: []*discordgo.MessageEmbedField{
			{Name: "You", Value: "`/rank [user]` your colours, time claimed and every click\n" +
				"`/check` your cooldown\n`/stats player [user]` your chart\n`/card [user]` your card on the web"},
			{Name: "The game", Value: "`/clicks` every click by colour\n`/leaderboard teams` the colours\n" +
				"`/leaderboard players [n]` the best players\n`/lowest [n] [global]` the closest calls\n" +
				"`/edging` clicks right at a colour edge\n`/whoready` · `/cooldowns` who may press\n" +
				"`/stats game` · `/stats timeline` charts\n`/quest [month]` the monthly board\n" +
				"`/buttonrank` every server's buttons by lifetime\n`/games` this server's games"},
			{Name: "Admins (Manage Server)", Value: "`/button start [duration] [cooldown] [sequential] [chat]`\n" +
				"`/button repost` · `/button abort [reason]` · `/button icon <emoji>`\n" +
				"`/button ban <user>` · `/button unban <user>` · `/button banlist`"},
			{Name: "More", Value: "`/lore` the legend · `/help` this list"},
		},
	}
	if legacy {
		e.Footer = &discordgo.MessageEmbedFooter{Text: "The old words work too: myrank, check, whoready, cooldowns, showclicks, l1, l2, clickquest, edging, buttonrank, clicklist, playercharts, gamecharts, timeline, listgames, help, lore, mycard."}
	} else {
		e.Footer = &discordgo.MessageEmbedFooter{Text: strings.NewReplacer("`", "", "…", "...").Replace(textNoLegacy)}
	}
	return reply{embeds: []*discordgo.MessageEmbed{e}}
}

// textNoPublicURL is /card's answer when the bot does not know where its
// web pages are: the exact setting the admin adds.
const textNoPublicURL = "Player cards live on the web pages, and this bot does not know their address yet. " +
	"An admin of the bot sets the environment variable `PUBLIC_URL` (or the flag `-public-url`) to the pages' public " +
	"address, e.g. `PUBLIC_URL=https://button.example.org`, and restarts `thebutton`; the pages themselves are " +
	"served at `HTTP_ADDR` (flag `-http`, default 127.0.0.1:8080)."

// textNoLegacy explains the old bare words when they are off.
const textNoLegacy = "The old text commands (myrank, check, …) are off on this bot. An admin of the bot turns them on with " +
	"the environment variable `LEGACY_TEXT_COMMANDS=true` (or the flag `-legacy-text-commands`) and the Message Content " +
	"intent in the Discord developer portal; the slash commands work either way."

// lore is the game's legend, in our own words.
const lore = "Long ago, a clockmaker with more patience than sense built a button into the wall of a quiet inn. " +
	"Behind it ticked a clock that only ever ran down. Pressing the button wound it back to the top — " +
	"and whoever pressed it was marked by the colour of the hour they had saved.\n\n" +
	"Travellers learned the rules the hard way. Press early and the mark is a gentle purple, worn by many. " +
	"Wait, and the colours darken: blue, green, yellow, orange. Wait until the last sixth of the clock and you " +
	"earn red, the rarest mark of all — if you are not too late. For when the clock reaches zero, the button " +
	"falls silent for good, and no one can wind it again.\n\n" +
	"So the inn's patrons keep watch in turns, each resting a while between presses, each tempted to wait just a " +
	"little longer than the last. The clock is patient. Are you?"

func cmdLore() reply {
	return reply{embeds: []*discordgo.MessageEmbed{{Title: "📜 The legend of the button", Description: lore,
		Color: events.Purple.RGB()}}}
}
