package discordbot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
	"github.com/thebutton-game/thebutton/timefmt"
)

// fields splits lines into embed fields of at most 1024 characters.
func fields(name string, lines []string) []*discordgo.MessageEmbedField {
	var out []*discordgo.MessageEmbedField
	var cur strings.Builder
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		n := name
		if len(out) > 0 {
			n = name + " (continued)"
		}
		out = append(out, &discordgo.MessageEmbedField{Name: n, Value: cur.String()})
		cur.Reset()
	}
	for _, l := range lines {
		l = truncate(l, 1000)
		if len([]rune(cur.String()))+len([]rune(l))+1 > 1024 {
			flush()
		}
		if cur.Len() > 0 {
			cur.WriteByte('\n')
		}
		cur.WriteString(l)
	}
	flush()
	return out
}

func pct(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}

func (b *Bot) cmdTeams(ctx context.Context, req request) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	t, err := b.views.Teams(ctx, g.ID)
	if err != nil {
		return b.failure(req, err)
	}
	lines := []string{
		fmt.Sprintf("Total time claimed: **%s**", timefmt.Value(t.Claimed.Milliseconds())),
		fmt.Sprintf("Players: **%d** · Clicks: **%d**", t.Players, t.Clicks), "",
	}
	for band := events.Red; band <= events.Purple; band++ {
		s := t.Bands[band]
		lines = append(lines, fmt.Sprintf("%s **%s**: %d clicks (%.1f %%) • %s claimed • %s",
			band.Emoji(), band, s.Clicks, pct(s.Clicks, t.Clicks), timefmt.Value(s.Claimed.Milliseconds()), plural(s.Players, "player")))
	}
	return reply{embeds: []*discordgo.MessageEmbed{{
		Title: fmt.Sprintf("The colours of game #%d", g.ID), Color: events.Purple.RGB(),
		Description: strings.Join(lines, "\n"),
		Footer:      &discordgo.MessageEmbedFooter{Text: "Time claimed: what the clicks put back on the clock (full time − time left)."},
	}}}
}

func (b *Bot) cmdPlayers(ctx context.Context, req request) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	n := 5
	if v, ok := req.num("n"); ok {
		n = int(min(max(v, 1), 15))
	}
	mmr, err := b.views.Leaderboard(ctx, g.ID, readmodel.ByMMR, n)
	if err != nil {
		return b.failure(req, err)
	}
	low, err := b.views.LowestClicks(ctx, g.ID, n)
	if err != nil {
		return b.failure(req, err)
	}
	claimed, err := b.views.Leaderboard(ctx, g.ID, readmodel.ByClaimed, n)
	if err != nil {
		return b.failure(req, err)
	}
	if len(mmr) == 0 {
		return reply{content: fmt.Sprintf("Nobody has pressed in game #%d yet.", g.ID)}
	}
	var a, c, d []string
	for _, s := range mmr {
		a = append(a, fmt.Sprintf("%d. **%s** — %s, MMR %s · %s", s.Rank, safeName(s.Name), plural(s.Clicks, "click"),
			events.MMRText(s.MMRMilli), bandCounts(s.Bands)))
	}
	for _, l := range low {
		c = append(c, fmt.Sprintf("%s %s: %s", l.Band.Emoji(), safeName(l.UserName), timefmt.Value(l.Value.Milliseconds())))
	}
	for _, s := range claimed {
		d = append(d, fmt.Sprintf("%d. %s: %s", s.Rank, safeName(s.Name), timefmt.Value(s.Claimed.Milliseconds())))
	}
	color := events.Purple.RGB()
	if len(low) > 0 {
		color = low[0].Band.RGB()
	}
	e := &discordgo.MessageEmbed{Title: fmt.Sprintf("Top %d of game #%d", max(len(mmr), len(low), len(claimed)), g.ID), Color: color}
	e.Fields = append(e.Fields, fields("🏅 By MMR", a)...)
	lowest := fields("⚡ Lowest clicks", c)
	titans := fields("⏰ Most time claimed", d)
	for _, f := range append(lowest, titans...) {
		f.Inline = true
	}
	e.Fields = append(e.Fields, lowest...)
	e.Fields = append(e.Fields, titans...)
	return reply{embeds: []*discordgo.MessageEmbed{e}}
}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august",
	"september", "october", "november", "december"}

// parseMonth reads "january", "jan" or "2025-03"; empty is this month. A
// month name without a year is this year's, or last year's if it has not
// come yet.
func parseMonth(s string, now time.Time) (time.Time, bool) {
	now = now.UTC()
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), true
	}
	if t, err := time.Parse("2006-01", s); err == nil {
		return t, true
	}
	for i, name := range monthNames {
		if s == name || (len(s) >= 3 && strings.HasPrefix(name, s)) {
			y := now.Year()
			if time.Month(i+1) > now.Month() {
				y--
			}
			return time.Date(y, time.Month(i+1), 1, 0, 0, 0, 0, time.UTC), true
		}
	}
	return time.Time{}, false
}

// monthColours give each month's board its colour.
var monthColours = []int{0x4069C0, 0xC24141, 0x509B69, 0xCBA635, 0x6A4C93, 0xDB7C30,
	0x4069C0, 0xC24141, 0x509B69, 0xCBA635, 0x6A4C93, 0xDB7C30}

func (b *Bot) cmdQuest(ctx context.Context, req request) reply {
	month, ok := parseMonth(req.str("month"), req.Start)
	if !ok {
		return reply{content: "I did not understand that month. Try `january`, `jan` or `2025-03`.", ephemeral: true}
	}
	q, err := b.views.Quest(ctx, req.Guild, month, 40)
	if err != nil {
		return b.failure(req, err)
	}
	winners, err := b.views.QuestWinners(ctx, req.Guild, month)
	if err != nil {
		return b.failure(req, err)
	}
	won := map[string]time.Time{}
	for _, w := range winners {
		if _, ok := won[w.User]; !ok {
			won[w.User] = w.Month
		}
	}
	title := fmt.Sprintf("⏳ Time-claimed quest — %s %d", month.Month(), month.Year())
	desc := fmt.Sprintf("Who put the most time back on the clocks of this server in %s (UTC)? "+
		"A click with 2:00:00 left on a 12-hour clock claims 10:00:00.\nTotal claimed this month: **%s** by %s.",
		month.Month(), timefmt.Value(q.Claimed.Milliseconds()), plural(q.Players, "player"))
	var lines []string
	rank := 0
	for _, e := range q.Entries {
		if m, ok := won[e.User]; ok {
			lines = append(lines, fmt.Sprintf("~~%s — %s~~ 🏆 won %s %d", safeName(e.Name), timefmt.Value(e.Claimed.Milliseconds()), m.Month(), m.Year()))
			continue
		}
		rank++
		if rank > 20 {
			break
		}
		lines = append(lines, fmt.Sprintf("#%d. **%s** — %s | %s", rank, safeName(e.Name), timefmt.Value(e.Claimed.Milliseconds()), bandCounts(e.Bands)))
	}
	e := &discordgo.MessageEmbed{Title: title, Description: desc, Color: monthColours[month.Month()-1],
		Footer: &discordgo.MessageEmbedFooter{Text: "Past monthly winners are struck through and do not take a place."}}
	if len(lines) == 0 {
		lines = []string{"No click this month yet."}
	}
	e.Fields = fields("Standings", lines)
	return reply{embeds: []*discordgo.MessageEmbed{e}}
}

func (b *Bot) cmdEdging(ctx context.Context, req request) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	es, err := b.views.EdgeClicks(ctx, g.ID, 10)
	if err != nil {
		return b.failure(req, err)
	}
	window := min(5*time.Minute, g.Duration/36)
	if len(es) == 0 {
		return reply{embeds: []*discordgo.MessageEmbed{{Title: "Living on the edge",
			Description: fmt.Sprintf("No click of game #%d came within %s of a colour edge yet.", g.ID, timefmt.Span(window.Milliseconds())),
			Color:       events.Purple.RGB()}}}
	}
	var lines []string
	for i, e := range es {
		below := events.Band(max(int(e.Edge)-1, 0))
		p := 100 * float64(e.Distance) / float64(g.Duration)
		lines = append(lines, fmt.Sprintf("%d. **%s** — %s (%.3f %%) %s↔️%s %s", i+1, safeName(e.UserName),
			timefmt.Value(e.Value.Milliseconds()), p, e.Edge.Emoji(), below.Emoji(), stamp(msOf(e.At), 'R')))
	}
	return reply{embeds: []*discordgo.MessageEmbed{{
		Title:       fmt.Sprintf("Living on the edge — game #%d", g.ID),
		Description: fmt.Sprintf("Clicks closest to a colour edge (within %s):\n\n%s", timefmt.Span(window.Milliseconds()), strings.Join(lines, "\n")),
		Color:       es[0].Band.RGB(),
	}}}
}

func statusWord(s events.Status) string {
	switch s {
	case events.StatusActive:
		return "alive"
	case events.StatusAborted:
		return "stopped"
	}
	return "fallen"
}

func (b *Bot) cmdButtonRank(ctx context.Context, req request) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	ranking, err := b.views.LifetimeRanking(ctx, req.Start)
	if err != nil {
		return b.failure(req, err)
	}
	idx := -1
	for i, r := range ranking {
		if r.Game == g.ID {
			idx = i
		}
	}
	if idx < 0 {
		return b.failure(req, readmodel.ErrNotFound)
	}
	me := ranking[idx]
	icon := me.Icon
	if icon == "" {
		icon = "🔘"
	}
	e := &discordgo.MessageEmbed{Title: fmt.Sprintf("%s The button's legacy %s", icon, icon), Color: events.Purple.RGB()}
	e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "Your button",
		Value: fmt.Sprintf("Game #%d has lived **%s** — place **#%d** of %d.\n%s, %s · %s",
			me.Game, timefmt.Rough(me.Lifetime.Milliseconds()), me.Rank, len(ranking), plural(me.Players, "player"),
			plural(me.Clicks, "click"), statusWord(me.Status))})
	if idx > 0 && me.Status == events.StatusActive {
		above := ranking[idx-1]
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "Next challenge",
			Value: fmt.Sprintf("Game #%d%s lived %s. Keep yours alive **%s** longer to pass it.",
				above.Game, withSpace(above.Icon), timefmt.Rough(above.Lifetime.Milliseconds()),
				timefmt.Span((above.Lifetime-me.Lifetime).Milliseconds()/1000*1000+1000))})
	}
	lo, hi := max(0, idx-2), min(len(ranking), idx+3)
	var lines []string
	for _, r := range ranking[lo:hi] {
		line := fmt.Sprintf("#%d — game #%d%s · %s · %s, %s · %s", r.Rank, r.Game, withSpace(r.Icon), timefmt.Rough(r.Lifetime.Milliseconds()),
			plural(r.Players, "player"), plural(r.Clicks, "click"), statusWord(r.Status))
		if r.Game == me.Game {
			line = "▶ **" + line + "** ◀"
		}
		lines = append(lines, line)
	}
	e.Fields = append(e.Fields, fields("Neighbours", lines)...)
	e.Footer = &discordgo.MessageEmbedFooter{Text: "Admins choose the server's icon with /button icon."}
	return reply{embeds: []*discordgo.MessageEmbed{e}}
}

func (b *Bot) cmdLowest(ctx context.Context, req request) reply {
	n := 25
	if v, ok := req.num("n"); ok {
		n = int(min(max(v, 1), 100))
	}
	global := req.flag("global")
	var (
		clicks []readmodel.Click
		err    error
		title  string
	)
	if global {
		clicks, err = b.views.GlobalLowestClicks(ctx, n)
		title = "of all games"
	} else {
		var g readmodel.Game
		if g, err = b.currentGame(ctx, req); err == nil {
			clicks, err = b.views.LowestClicks(ctx, g.ID, n)
			title = fmt.Sprintf("of game #%d", g.ID)
		}
	}
	if err != nil {
		return b.failure(req, err)
	}
	if len(clicks) == 0 {
		return reply{content: "No click yet."}
	}
	var lines []string
	for i, c := range clicks {
		l := fmt.Sprintf("%d. %s **%s** — %s — %s", i+1, c.Band.Emoji(), safeName(c.UserName), timefmt.Value(c.Value.Milliseconds()), stamp(msOf(c.At), 'R'))
		if global {
			l += " · game #" + c.Game.String()
		}
		lines = append(lines, l)
	}
	e := &discordgo.MessageEmbed{Title: countedTitle(len(clicks), "lowest click", "lowest clicks") + " " + title, Color: clicks[0].Band.RGB()}
	e.Fields = fields("Clicks", lines)
	if len(e.Fields) > 25 {
		e.Fields = e.Fields[:25]
	}
	return reply{embeds: []*discordgo.MessageEmbed{e}}
}

// gamesPerPage is the number of games per page of /games.
const gamesPerPage = 10

func (b *Bot) cmdGames(ctx context.Context, req request, page int) reply {
	page = max(page, 0)
	games, total, err := b.views.GuildGames(ctx, req.Guild, page*gamesPerPage, gamesPerPage)
	if err != nil {
		return b.failure(req, err)
	}
	if total == 0 {
		return reply{content: textNoGame}
	}
	n := pages(int(total), gamesPerPage)
	if page >= n {
		page = n - 1
		if games, _, err = b.views.GuildGames(ctx, req.Guild, page*gamesPerPage, gamesPerPage); err != nil {
			return b.failure(req, err)
		}
	}
	e := &discordgo.MessageEmbed{Title: fmt.Sprintf("This server's games (page %d of %d)", page+1, n), Color: events.Blue.RGB()}
	for _, g := range games {
		status := strings.ToUpper(string(g.Status))
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{
			Name: fmt.Sprintf("Game #%d — %s", g.ID, status),
			Value: fmt.Sprintf("Started %s · lived %s · %s · %s", stamp(msOf(g.Start), 'D'),
				timefmt.Rough(g.Lifetime(req.Start).Milliseconds()), plural(g.Players, "player"), plural(g.Clicks, "click")),
		})
	}
	return reply{embeds: []*discordgo.MessageEmbed{e}, components: pager(pageRef{View: "games", Page: page}, n)}
}

// withSpace returns " "+s, or "" for an empty s.
func withSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

// atoiGame parses a game number typed in a text command.
func atoiGame(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// countedTitle counts what a list holds: "The lowest click" for one,
// "The 5 lowest clicks" for five.
func countedTitle(n int, one, many string) string {
	if n == 1 {
		return "The " + one
	}
	return fmt.Sprintf("The %d %s", n, many)
}
