package discordbot

import (
	"time"

	"context"
	"fmt"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/imaging"
	"github.com/thebutton-game/thebutton/readmodel"
	"github.com/thebutton-game/thebutton/timefmt"
)

// chartClicks converts clicks for the charts.
func chartClicks(cs []readmodel.Click, duration readmodel.Game) []imaging.Click {
	out := make([]imaging.Click, 0, len(cs))
	for _, c := range cs {
		out = append(out, imaging.Click{At: c.At, Value: c.Value, Duration: duration.Duration, Band: imaging.Band(c.Band),
			Claimed: c.Claimed, PlayerID: c.User, Player: c.UserName})
	}
	return out
}

func imageReply(text string, img imaging.Image) reply {
	return reply{content: text, files: []file{{name: img.Name, contentType: img.ContentType, data: img.Data}},
		embeds: []*discordgo.MessageEmbed{{Image: &discordgo.MessageEmbedImage{URL: "attachment://" + img.Name}, Color: 0x2B2D31}}}
}

func (b *Bot) cmdStats(ctx context.Context, req request) reply {
	switch req.Sub {
	case "player":
		return b.statsPlayer(ctx, req)
	case "timeline":
		return b.statsGame(ctx, req, true)
	}
	return b.statsGame(ctx, req, false)
}

func (b *Bot) statsPlayer(ctx context.Context, req request) reply {
	g, err := b.currentGame(ctx, req)
	if err != nil {
		return b.failure(req, err)
	}
	user, name := req.user("user")
	p, err := b.views.Player(ctx, g.ID, user)
	if err != nil {
		return b.failure(req, err)
	}
	if p.Name != "" {
		name = p.Name
	}
	clicks, _, err := b.views.PlayerClicks(ctx, g.ID, user, 0, 0)
	if err != nil {
		return b.failure(req, err)
	}
	board, err := b.views.Leaderboard(ctx, g.ID, readmodel.ByMMR, int(max(g.Players, 1)))
	if err != nil {
		return b.failure(req, err)
	}
	ps := imaging.PlayerStats{Name: name, Game: int(g.ID), Players: len(board), Duration: g.Duration,
		Clicks: chartClicks(clicks, g)}
	for _, s := range board {
		if s.User == user {
			ps.Rank = s.Rank
		}
	}
	start := time.Now()
	img, err := imaging.RenderPlayerChart(ps)
	b.rendered("chart", start)
	if err != nil {
		b.log.Error("player chart failed", "game", g.ID, "user", user, "err", err)
		return reply{content: "The chart could not be drawn, sorry.", ephemeral: true}
	}
	return imageReply(fmt.Sprintf("📊 **%s** in game #%d", safeName(name), g.ID), img)
}

func (b *Bot) statsGame(ctx context.Context, req request, timeline bool) reply {
	id, _ := req.num("game")
	g, err := b.gameOf(ctx, req, id)
	if err != nil {
		return b.failure(req, err)
	}
	clicks, err := b.views.Clicks(ctx, g.ID, 1, int(g.Clicks))
	if err != nil {
		return b.failure(req, err)
	}
	gs := imaging.GameStats{Game: int(g.ID), Status: string(g.Status), Start: g.Start, Duration: g.Duration,
		Clicks: chartClicks(clicks, g)}
	if end := g.End(req.Start); !end.IsZero() {
		gs.End = end
	} else {
		gs.End = req.Start
	}
	var img imaging.Image
	if timeline {
		start := time.Now()
		img, err = imaging.RenderTimeline(gs)
		b.rendered("chart", start)
	} else {
		start := time.Now()
		img, err = imaging.RenderGameChart(gs)
		b.rendered("chart", start)
	}
	if err != nil {
		b.log.Error("game chart failed", "game", g.ID, "timeline", timeline, "err", err)
		return reply{content: "The chart could not be drawn, sorry.", ephemeral: true}
	}
	what := "Statistics"
	if timeline {
		what = "Timeline"
	}
	return imageReply(fmt.Sprintf("📈 %s of game #%d (%s, lived %s)", what, g.ID, statusWord(g.Status),
		timefmt.Span(g.Lifetime(req.Start).Milliseconds())), img)
}
