package discordbot

import (
	"context"
	"fmt"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/timefmt"
)

// Layout of the paged answers.
const (
	rankPerPage   = 200 // click emoji per page of /rank
	clicksPerRow  = 10  // emoji per row of /clicks
	clicksPerPage = 150 // 15 rows
)

// bandCounts lists non-zero colour counts, Purple first: "🟣×2 🔵×1".
func bandCounts(bands [6]int64) string {
	var parts []string
	for b := events.Purple; b >= events.Red; b-- {
		if bands[b] > 0 {
			parts = append(parts, fmt.Sprintf("%s×%d", b.Emoji(), bands[b]))
		}
	}
	if len(parts) == 0 {
		return "no clicks"
	}
	return strings.Join(parts, " ")
}

func pages(n, per int) int { return max(1, (n+per-1)/per) }

func (b *Bot) cmdRank(ctx context.Context, req request, page int) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	return b.rankPage(ctx, req, g.ID, page)
}

// rankPage is one page of /rank.
func (b *Bot) rankPage(ctx context.Context, req request, game events.GameID, page int) reply {
	user, name := req.user("user")
	p, err := b.views.Player(ctx, game, user)
	if err != nil {
		return b.failure(req, err)
	}
	if p.Name != "" {
		name = p.Name
	}
	if p.Clicks == 0 {
		who := "Your journey has"
		if user != req.User {
			who = safeName(name) + "'s journey has"
		}
		return reply{content: fmt.Sprintf("%s not begun in game #%d: no click yet.", who, game), ephemeral: true}
	}
	n := pages(int(p.Clicks), rankPerPage)
	page = min(max(page, 0), n-1)
	bands, total, err := b.views.PlayerBands(ctx, game, user, page*rankPerPage, rankPerPage)
	if err != nil {
		return b.failure(req, err)
	}
	var hist strings.Builder
	for _, band := range bands {
		hist.WriteString(band.Emoji())
	}
	e := &discordgo.MessageEmbed{
		Title: fmt.Sprintf("🎖️ %s's journey in game #%d", safeName(name), game),
		Color: p.BestBand.RGB(),
		Fields: []*discordgo.MessageEmbedField{
			{Name: "Colours", Value: bandCounts(p.Bands)},
			{Name: "Clicks", Value: fmt.Sprint(p.Clicks), Inline: true},
			{Name: "Time claimed¹", Value: timefmt.Value(p.Claimed.Milliseconds()), Inline: true},
			{Name: "Best click", Value: fmt.Sprintf("%s %s", p.BestBand.Emoji(), timefmt.Value(p.Best.Milliseconds())), Inline: true},
			{Name: fmt.Sprintf("Every click, in order (%d–%d of %d)", page*rankPerPage+1, page*rankPerPage+len(bands), total),
				Value: truncate(hist.String(), 1024)},
		},
		Footer: &discordgo.MessageEmbedFooter{Text: "¹ Time claimed: the time each click put back on the clock (full time − time left)."},
	}
	ref := pageRef{View: "rank", Game: game, Arg: user, Page: page}
	return reply{embeds: []*discordgo.MessageEmbed{e}, components: pager(ref, n), ephemeral: true}
}

func (b *Bot) cmdCheck(ctx context.Context, req request) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	p, err := b.views.Player(ctx, g.ID, req.User)
	if err != nil {
		return b.failure(req, err)
	}
	now := req.Start
	cool := timefmt.Span(g.Cooldown.Milliseconds())
	if g.Over(now) {
		return reply{content: fmt.Sprintf("Game #%d is over, so there is nothing to wait for.", g.ID), ephemeral: true}
	}
	ready := p.LastAt.Add(g.Cooldown)
	if p.Clicks == 0 || !ready.After(now) {
		return reply{embeds: []*discordgo.MessageEmbed{{Color: events.Green.RGB(),
			Description: fmt.Sprintf("✅ **You are ready to press** in game #%d. (The cooldown is %s.)", g.ID, cool)}}, ephemeral: true}
	}
	return reply{embeds: []*discordgo.MessageEmbed{{Color: events.Red.RGB(),
		Description: fmt.Sprintf("❌ **Not yet.** %s. (The cooldown is %s.)", cooldownWait(msOf(now), msOf(ready)), cool)}}, ephemeral: true}
}

// recentClickers is how many of the latest distinct clickers /whoready and
// /cooldowns look at.
const recentClickers = 10

func (b *Bot) cmdWhoReady(ctx context.Context, req request) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	cs, err := b.views.LastClickers(ctx, g.ID, recentClickers)
	if err != nil {
		return b.failure(req, err)
	}
	var lines []string
	for _, c := range cs {
		if !c.ReadyAt.After(req.Start) {
			lines = append(lines, fmt.Sprintf("%d. **%s** — last pressed %s", len(lines)+1, safeName(c.Name), stamp(msOf(c.LastAt), 'R')))
		}
	}
	if len(lines) == 0 {
		return reply{content: fmt.Sprintf("Nobody among the last %d players of game #%d is ready yet.", len(cs), g.ID)}
	}
	return reply{embeds: []*discordgo.MessageEmbed{{Title: fmt.Sprintf("Ready to press in game #%d", g.ID),
		Color: events.Green.RGB(), Description: strings.Join(lines, "\n"),
		Footer: &discordgo.MessageEmbedFooter{Text: fmt.Sprintf("Among the last %d distinct players.", len(cs))}}}}
}

func (b *Bot) cmdCooldowns(ctx context.Context, req request) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	cs, err := b.views.LastClickers(ctx, g.ID, recentClickers)
	if err != nil {
		return b.failure(req, err)
	}
	if len(cs) == 0 {
		return reply{content: fmt.Sprintf("Nobody has pressed in game #%d yet.", g.ID)}
	}
	ready := 0
	var lines []string
	for _, c := range cs {
		if !c.ReadyAt.After(req.Start) {
			ready++
			lines = append(lines, fmt.Sprintf("✅ **%s** — ready", safeName(c.Name)))
			continue
		}
		lines = append(lines, fmt.Sprintf("❌ **%s** — %s", safeName(c.Name), cooldownWait(msOf(req.Start), msOf(c.ReadyAt))))
	}
	return reply{embeds: []*discordgo.MessageEmbed{{Title: fmt.Sprintf("Cooldowns in game #%d", g.ID),
		Color:       events.Blue.RGB(),
		Description: fmt.Sprintf("Of the last %d distinct players, **%d** are ready.\n\n%s", len(cs), ready, strings.Join(lines, "\n"))}}}
}

func (b *Bot) cmdClicks(ctx context.Context, req request, page int) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	return b.clicksPage(ctx, req, g.ID, page)
}

// clicksPage is one page of /clicks: the count per colour and the clicks
// as emoji rows.
func (b *Bot) clicksPage(ctx context.Context, req request, game events.GameID, page int) reply {
	t, err := b.views.Teams(ctx, game)
	if err != nil {
		return b.failure(req, err)
	}
	var counts []string
	for band := events.Purple; band >= events.Red; band-- {
		if n := t.Bands[band].Clicks; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %s: **%d**", band.Emoji(), band, n))
		}
	}
	counts = append(counts, fmt.Sprintf("Total: **%d**", t.Clicks))
	summary := &discordgo.MessageEmbed{Title: fmt.Sprintf("Clicks of game #%d", game), Color: events.Purple.RGB(),
		Description: strings.Join(counts, "\n")}
	if t.Clicks == 0 {
		summary.Description = "No click yet."
		return reply{embeds: []*discordgo.MessageEmbed{summary}}
	}
	n := pages(int(t.Clicks), clicksPerPage)
	page = min(max(page, 0), n-1)
	part, err := b.views.Clicks(ctx, game, int64(page*clicksPerPage+1), clicksPerPage)
	if err != nil {
		return b.failure(req, err)
	}
	var rows strings.Builder
	for i, c := range part {
		rows.WriteString(c.Band.Emoji())
		if (i+1)%clicksPerRow == 0 && i+1 < len(part) {
			rows.WriteByte('\n')
		}
	}
	grid := &discordgo.MessageEmbed{Title: fmt.Sprintf("Every click (page %d of %d)", page+1, n), Color: events.Purple.RGB(),
		Description: rows.String()}
	return reply{embeds: []*discordgo.MessageEmbed{summary, grid},
		components: pager(pageRef{View: "clicks", Game: game, Page: page}, n)}
}

func (b *Bot) cmdCard(req request) reply {
	user, name := req.user("user")
	if b.cfg.PublicURL == "" {
		return reply{content: textNoPublicURL, ephemeral: true}
	}
	url := strings.TrimRight(b.cfg.PublicURL, "/") + "/players/" + user
	return reply{ephemeral: true,
		content: fmt.Sprintf("🪪 %s's player card: %s", safeName(name), url),
		components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: "Open the player card", Style: discordgo.LinkButton, URL: url}}}}}
}
