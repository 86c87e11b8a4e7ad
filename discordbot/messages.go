package discordbot

import (
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/imaging"
	"github.com/thebutton-game/thebutton/timefmt"
)

// What the bot posts in channels: the explanation, the live game message,
// click announcements, the end summary and its announcement. Our own
// wording throughout.

// buttonStyle is the style of the game's button for a band (GAME-RULES §4).
func buttonStyle(b events.Band) discordgo.ButtonStyle {
	switch b {
	case events.Purple, events.Blue:
		return discordgo.PrimaryButton
	case events.Green:
		return discordgo.SuccessButton
	case events.Yellow, events.Orange:
		return discordgo.SecondaryButton
	}
	return discordgo.DangerButton
}

// explanation is the short text posted once before a game's first message.
func explanation(g events.GameStarted) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## The Button — game #%d\n", g.Game)
	fmt.Fprintf(&b, "A countdown of **%s** runs below. Anyone may press the button; a press puts the clock back to full time. "+
		"If the clock ever reaches zero, the game is over — there is no extra time, not even a second.\n\n", timefmt.Span(g.DurationMS))
	b.WriteString("Your press earns the colour of the time that was left (the less, the rarer):\n")
	for i := len(events.Bands) - 1; i >= 0; i-- {
		band := events.Bands[i]
		lo, hi := events.BandRange(band, g.DurationMS)
		fmt.Fprintf(&b, "%s **%s** %s – %s\n", band.Emoji(), band, timefmt.Exact(lo), timefmt.Exact(hi))
	}
	b.WriteString("\n")
	if g.CooldownMS > 0 {
		fmt.Fprintf(&b, "After a press you wait **%s** before your next one. ", timefmt.Span(g.CooldownMS))
	}
	if g.Sequential > 0 {
		fmt.Fprintf(&b, "Between two of your presses, **%s** must press. ", pluralPlayers(g.Sequential, "other player"))
	}
	b.WriteString("Try `/check` for your cooldown, `/rank` for your colours and `/leaderboard` for the boards. " +
		"Inspired by Reddit's April-fools button of 2015.")
	return b.String()
}

// liveView is what the live game message shows.
type liveView struct {
	Game                events.GameID
	StartMS, DeadlineMS int64
	DurationMS          int64
	CooldownMS          int64
	Sequential          int
	Clicks, Players     int64
	Last                *lastClick
	NowMS               int64
	PublicURL           string
}

type lastClick struct {
	User, Name string
	Band       events.Band
	ValueMS    int64
	AtMS       int64
}

// band is the colour of the clock now.
func (v liveView) band() events.Band {
	return events.BandOf(events.Remaining(v.DeadlineMS, v.NowMS), v.DurationMS)
}

// gameEmbed is the live game message's embed; image names the attached
// timer card ("" for none).
func gameEmbed(v liveView, image string) *discordgo.MessageEmbed {
	band := v.band()
	e := &discordgo.MessageEmbed{
		Title: fmt.Sprintf("🚨 THE BUTTON — game #%d 🚨", v.Game),
		Description: fmt.Sprintf("When the clock reaches zero the game is over. Press the button to put it back to **%s**.",
			timefmt.Span(v.DurationMS)),
		Color: band.RGB(),
	}
	// Nothing here goes stale between edits: Discord keeps <t:R> live.
	alive := fmt.Sprintf("Alive since %s (%s)\n", stamp(v.StartMS, 'f'), stamp(v.StartMS, 'R'))
	if v.Clicks > 0 {
		alive += fmt.Sprintf("**%s** by **%s**", plural(v.Clicks, "click"), plural(v.Players, "player"))
	} else {
		alive += "Nobody has pressed yet."
	}
	e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "The story so far", Value: alive})
	latest := "No press yet — be the first!"
	if v.Last != nil {
		latest = fmt.Sprintf("%s **%s** pressed %s with %s left: %s **%s**", v.Last.Band.Emoji(), safeName(v.Last.Name),
			stamp(v.Last.AtMS, 'R'), timefmt.Value(v.Last.ValueMS), v.Last.Band.Emoji(), v.Last.Band)
	}
	e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "Latest press", Value: latest})
	e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "Zero hour",
		Value: fmt.Sprintf("%s %s, at %s", band.Emoji(), stamp(v.DeadlineMS, 'R'), stamp(v.DeadlineMS, 'T'))})
	if image != "" {
		e.Image = &discordgo.MessageEmbedImage{URL: "attachment://" + image}
	}
	footer := ""
	if v.CooldownMS > 0 {
		footer = "Cooldown " + timefmt.Span(v.CooldownMS)
	}
	if v.Sequential > 0 {
		footer += fmt.Sprintf(" · %s between your presses", pluralPlayers(v.Sequential, "other player"))
	}
	if v.PublicURL != "" {
		footer += " · live stats: " + strings.TrimRight(v.PublicURL, "/") + "/games/" + v.Game.String()
	}
	if footer = strings.TrimPrefix(footer, " · "); footer != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: footer}
	}
	return e
}

// gameButtons is the game message's button row.
func gameButtons(game events.GameID, band events.Band, disabled bool, label string) []discordgo.MessageComponent {
	return []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: label, Style: buttonStyle(band), CustomID: PressID(game), Disabled: disabled,
			Emoji: &discordgo.ComponentEmoji{Name: band.Emoji()}},
	}}}
}

// clickAnnouncement is the chat-channel embed of an accepted click.
func clickAnnouncement(c events.ButtonClicked, durationMS int64) *discordgo.MessageEmbed {
	band := events.Band(c.Band)
	return &discordgo.MessageEmbed{
		Color: band.RGB(),
		Description: fmt.Sprintf("%s **%s** (%s) pressed game #%d for a **%s** click with **%s** left.\n"+
			"**Time claimed: %s**\n*%s*",
			band.Emoji(), safeName(c.UserName), mention(c.User), c.Game, band, timefmt.Value(c.ValueMS),
			timefmt.Value(c.ClaimedMS), flavour(c, durationMS)),
		Footer: &discordgo.MessageEmbedFooter{Text: fmt.Sprintf("Click #%d", c.Number)},
	}
}

// endSummary is what the end summary shows.
type endSummary struct {
	Game            events.GameID
	Aborted         bool
	By, Why         string
	StartMS, EndMS  int64
	LeftMS          int64 // time left on the clock at an abort
	Clicks, Players int64
	MostActive      []rankEntry // by clicks
	Lowest          []rankEntry // by lowest value (Band and Value set)
	Claimed         []rankEntry // by time claimed
	PerBand         [6]int64
}

// rankEntry is one line of a board.
type rankEntry struct {
	User, Name string
	N          int64 // clicks, or ms
	Band       events.Band
	ValueMS    int64
}

var medals = []string{"🥇", "🥈", "🥉", "4.", "5."}

func medal(i int) string {
	if i < len(medals) {
		return medals[i]
	}
	return fmt.Sprintf("%d.", i+1)
}

// summaryEmbed is the end summary that replaces the live game message.
func summaryEmbed(s endSummary, image string) *discordgo.MessageEmbed {
	title := fmt.Sprintf("💀 Game #%d is over", s.Game)
	desc := fmt.Sprintf("The clock ran out %s. The button rests.", stamp(s.EndMS, 'f'))
	color := events.Red.RGB()
	if s.Aborted {
		title = fmt.Sprintf("🛑 Game #%d was stopped", s.Game)
		desc = fmt.Sprintf("An admin (%s) stopped the game %s with **%s** still on the clock.", mention(s.By), stamp(s.EndMS, 'f'),
			timefmt.Clock(s.LeftMS))
		if s.Why != "" {
			desc += " Reason: " + truncate(s.Why, 300)
		}
		color = 0x555555
	}
	e := &discordgo.MessageEmbed{Title: title, Description: desc, Color: color}
	add := func(name, value string, inline bool) {
		if value == "" {
			value = "—"
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: name, Value: truncate(value, 1024), Inline: inline})
	}
	add("Total clicks", fmt.Sprint(s.Clicks), true)
	add("Lifetime", timefmt.Span(s.EndMS-s.StartMS), true)
	add("Players", fmt.Sprint(s.Players), true)
	var lines []string
	for i, r := range s.MostActive {
		lines = append(lines, fmt.Sprintf("%s **%s** — %s", medal(i), safeName(r.Name), plural(r.N, "click")))
	}
	add("🏆 Most active", strings.Join(lines, "\n"), false)
	lines = nil
	for i, r := range s.Lowest {
		lines = append(lines, fmt.Sprintf("%s %s **%s** — %s", medal(i), r.Band.Emoji(), safeName(r.Name), timefmt.Value(r.ValueMS)))
	}
	add("⚡ Closest calls", strings.Join(lines, "\n"), false)
	lines = nil
	for i, r := range s.Claimed {
		lines = append(lines, fmt.Sprintf("%s **%s** — %s", medal(i), safeName(r.Name), timefmt.Value(r.N)))
	}
	add("⏰ Most time claimed", strings.Join(lines, "\n"), false)
	lines = nil
	for b := events.Red; b <= events.Purple; b++ {
		lines = append(lines, fmt.Sprintf("%s %s: %d", b.Emoji(), b, s.PerBand[b]))
	}
	add("🎨 Colours", strings.Join(lines, "\n"), false)
	if image != "" {
		e.Image = &discordgo.MessageEmbedImage{URL: "attachment://" + image}
	}
	e.Footer = &discordgo.MessageEmbedFooter{Text: "Thanks for playing."}
	return e
}

// why is " Reason: …" for a stop's reason, "" for none.
func why(reason string) string {
	if reason == "" {
		return ""
	}
	return " Reason: " + truncate(reason, 300)
}

// endPictureOf is what the end picture shows of a summary: for a stopped
// game the time that was left, who (an admin) and why.
func endPictureOf(s endSummary) imaging.EndPicture {
	pic := imaging.EndPicture{Game: int(s.Game), Aborted: s.Aborted, Clicks: int(s.Clicks), Players: int(s.Players),
		Lifetime: time.Duration(s.EndMS-s.StartMS) * time.Millisecond, Ended: time.UnixMilli(s.EndMS).UTC()}
	for i, n := range s.PerBand {
		pic.PerBand[i] = int(n)
	}
	if s.Aborted {
		pic.Left = time.Duration(s.LeftMS) * time.Millisecond
		pic.By, pic.Why = "an admin", s.Why
	}
	return pic
}

// endAnnouncement is the chat-channel message at a game's end.
func endAnnouncement(s endSummary) *discordgo.MessageEmbed {
	if s.Aborted {
		return &discordgo.MessageEmbed{Color: 0x555555,
			Description: fmt.Sprintf("🛑 Game #%d was stopped by an admin (%s) with **%s** still on the clock, after **%s**, %s by %s.%s",
				s.Game, mention(s.By), timefmt.Clock(s.LeftMS), timefmt.Span(s.EndMS-s.StartMS), plural(s.Clicks, "click"),
				plural(s.Players, "player"), why(s.Why))}
	}
	return &discordgo.MessageEmbed{Color: events.Red.RGB(),
		Description: fmt.Sprintf("💀 **Game #%d is over.** The clock reached zero %s after **%s**, %s by %s. Thanks for keeping it alive!",
			s.Game, stamp(s.EndMS, 'R'), timefmt.Span(s.EndMS-s.StartMS), plural(s.Clicks, "click"), plural(s.Players, "player"))}
}
