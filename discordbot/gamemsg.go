package discordbot

import (
	"context"
	"fmt"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/imaging"
	"github.com/thebutton-game/thebutton/readmodel"
)

// liveFromGame builds what the live message shows from a game's view.
func (b *Bot) liveFromGame(g readmodel.Game, now time.Time) liveView {
	v := liveView{
		Game: g.ID, StartMS: msOf(g.Start), DeadlineMS: msOf(g.Deadline), DurationMS: g.Duration.Milliseconds(),
		CooldownMS: g.Cooldown.Milliseconds(), Sequential: g.Sequential, Clicks: g.Clicks, Players: g.Players,
		NowMS: msOf(now), PublicURL: b.cfg.PublicURL,
	}
	if g.Last != nil {
		v.Last = &lastClick{User: g.Last.User, Name: g.Last.UserName, Band: g.Last.Band,
			ValueMS: g.Last.Value.Milliseconds(), AtMS: msOf(g.Last.At)}
	}
	return v
}

// liveFromStart builds the live message of a game that just started.
func (b *Bot) liveFromStart(e events.GameStarted, now time.Time) liveView {
	return liveView{Game: e.Game, StartMS: e.AtMS, DeadlineMS: e.AtMS + e.DurationMS, DurationMS: e.DurationMS,
		CooldownMS: e.CooldownMS, Sequential: e.Sequential, NowMS: msOf(now), PublicURL: b.cfg.PublicURL}
}

// card renders the timer card of a live view (through the cache).
//
// A picture never shows a time that goes stale: in the last
// imaging.CountdownWindow it is a countdown GIF whose frames follow the
// deadline from this moment (it is rendered just before the upload, so it
// starts within a frame of the true clock); earlier it is the deadline card
// (band, urgency, the deadline), next to the embed's live <t:R>.
func (b *Bot) card(ctx context.Context, v liveView) (imaging.Image, error) {
	defer b.rendered("timer", time.Now())
	return timerPicture(ctx, b.renderer, v, time.Now())
}

// timerPicture is the timer picture of v posted at now.
func timerPicture(ctx context.Context, r *imaging.Renderer, v liveView, now time.Time) (imaging.Image, error) {
	remaining := time.Duration(events.Remaining(v.DeadlineMS, msOf(now))) * time.Millisecond
	if remaining > 0 && remaining <= imaging.CountdownWindow {
		return imaging.RenderCountdown(imaging.Countdown{Duration: time.Duration(v.DurationMS) * time.Millisecond,
			Remaining: remaining})
	}
	return r.Timer(ctx, imaging.TimerCard{Band: imaging.Band(v.band()), Remaining: remaining,
		Deadline: time.UnixMilli(v.DeadlineMS)})
}

// liveMessage returns the parts of the live game message.
func (b *Bot) liveMessage(ctx context.Context, v liveView) (*discordgo.MessageEmbed, []discordgo.MessageComponent, *discordgo.File, error) {
	img, err := b.card(ctx, v)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("game %d: timer card: %w", v.Game, err)
	}
	f := &discordgo.File{Name: img.Name, ContentType: img.ContentType, Reader: newReader(img.Data)}
	return gameEmbed(v, img.Name), gameButtons(v.Game, v.band(), false, "Press the button"), f, nil
}

// postGameMessage posts a fresh live message for a game in channel and
// records it through the write side. It returns the new message id.
func (b *Bot) postGameMessage(ctx context.Context, channel string, v liveView) (string, error) {
	embed, comps, f, err := b.liveMessage(ctx, v)
	if err != nil {
		return "", err
	}
	m, err := b.rest.send(ctx, channel, &discordgo.MessageSend{
		Embeds: []*discordgo.MessageEmbed{embed}, Components: comps, Files: []*discordgo.File{f},
		AllowedMentions: &discordgo.MessageAllowedMentions{},
	})
	if err != nil {
		return "", fmt.Errorf("post game %d message: %w", v.Game, err)
	}
	if err := b.recordMessage(ctx, v.Game, channel, m.ID); err != nil {
		return m.ID, err
	}
	return m.ID, nil
}

// recordMessage records a game's message id, retrying briefly: the
// message exists, so losing its id would leave it unmanaged.
func (b *Bot) recordMessage(ctx context.Context, game events.GameID, channel, message string) error {
	var err error
	for attempt := range 5 {
		err = b.cmds.PostMessage(ctx, commands.PostMessage{Game: game, Channel: channel, MessageID: message})
		if err == nil {
			return nil
		}
		if _, ok := commands.AsRejection(err); ok {
			break
		}
		if serr := sleep(ctx, time.Duration(100<<attempt)*time.Millisecond); serr != nil {
			break
		}
	}
	return fmt.Errorf("record game %d message %s: %w", game, message, err)
}
