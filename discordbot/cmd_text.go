package discordbot

import (
	"github.com/bwmarrin/discordgo"

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
	}
	return reply{embeds: []*discordgo.MessageEmbed{e}}
}

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
