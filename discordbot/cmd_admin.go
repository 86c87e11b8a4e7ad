package discordbot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
	"github.com/thebutton-game/thebutton/timefmt"
)

// parseSpan reads a duration typed by an admin: "12h", "90m", "1h30m",
// "45s", or a bare number of hours.
func parseSpan(s string) (time.Duration, error) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if s == "" {
		return 0, errors.New("empty")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 || f > 24*365 {
			return 0, errors.New("out of range")
		}
		return time.Duration(f * float64(time.Hour)).Round(time.Second), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration like 12h or 90m", s)
	}
	return d, nil
}

// textBanListLate answers /button banlist when the views cannot show the
// guild's latest ban yet (or cannot be read): better no list than one
// missing the ban the admin just made.
const textBanListLate = "The ban list cannot be shown right now (our records are catching up). Please try again in a few seconds."

// rejectionText tells an admin why the write side refused.
func rejectionText(err error) string {
	rej, ok := commands.AsRejection(err)
	if !ok {
		if errors.Is(err, commands.ErrContention) {
			return "The game is very busy right now and nothing was changed. Please try again."
		}
		if errors.Is(err, commands.ErrOutcomeUnknown) {
			return "The game's store could not be reached to confirm this for a long while, so it may or may not have been done. Check the channel before trying again."
		}
		return "Something went wrong and nothing may have been changed. Please try again in a moment."
	}
	switch rej.Reason {
	case commands.ReasonChannelBusy:
		return fmt.Sprintf("Game #%d is already running in this channel (its clock runs out %s). Stop it with `/button abort` first.",
			rej.ActiveGame, stamp(rej.DeadlineMS, 'R'))
	case commands.ReasonNoSuchGame:
		return "That game does not exist."
	case commands.ReasonGameOver:
		return "That game is already over."
	case commands.ReasonNotBanned:
		return "That player is not on the ban list."
	case commands.ReasonInvalid:
		return "That did not work: " + rej.Detail + "."
	}
	return "Refused: " + rej.Error() + "."
}

func (b *Bot) cmdButton(ctx context.Context, req request) reply {
	switch req.Sub {
	case "start":
		return b.adminStart(ctx, req)
	case "repost":
		return b.adminRepost(ctx, req)
	case "abort":
		return b.adminAbort(ctx, req)
	case "icon":
		return b.adminIcon(ctx, req)
	case "ban":
		user, name := req.user("user")
		err := b.cmds.Ban(ctx, commands.Ban{Guild: req.Guild, User: user, By: req.User, Reason: req.str("reason")})
		if err != nil {
			return reply{content: rejectionText(err), ephemeral: true}
		}
		return reply{content: fmt.Sprintf("🚫 %s (%s) is on the ban list: their presses are refused.", safeName(name), mention(user)), ephemeral: true}
	case "unban":
		user, name := req.user("user")
		if err := b.cmds.Unban(ctx, commands.Unban{Guild: req.Guild, User: user, By: req.User}); err != nil {
			return reply{content: rejectionText(err), ephemeral: true}
		}
		return reply{content: fmt.Sprintf("✅ %s (%s) may press again.", safeName(name), mention(user)), ephemeral: true}
	case "banlist":
		// The views, once they have the guild's latest ban or unban (an
		// admin who just banned someone sees them on the list).
		seq, err := b.cmds.GuildLastSeq(ctx, req.Guild)
		if err != nil {
			return reply{content: rejectionText(err), ephemeral: true}
		}
		if err := b.waitViews(ctx, seq); err != nil {
			b.log.Warn("ban list: the views are behind", "guild", req.Guild, "seq", seq, "err", err)
			return reply{content: textBanListLate, ephemeral: true}
		}
		list, err := b.views.Bans(ctx, req.Guild)
		if err != nil {
			b.log.Error("ban list: read the views", "guild", req.Guild, "err", err)
			return reply{content: textBanListLate, ephemeral: true}
		}
		if len(list) == 0 {
			return reply{content: "The ban list is empty.", ephemeral: true}
		}
		var lines []string
		for _, p := range list {
			l := fmt.Sprintf("• %s — by %s %s", mention(p.User), mention(p.By), stamp(p.At.UnixMilli(), 'R'))
			if p.Reason != "" {
				l += ": " + truncate(p.Reason, 100)
			}
			lines = append(lines, l)
		}
		return reply{content: truncate("**Ban list**\n"+strings.Join(lines, "\n"), 2000), ephemeral: true}
	}
	return reply{content: "Unknown admin command.", ephemeral: true}
}

func (b *Bot) adminStart(ctx context.Context, req request) reply {
	s := commands.StartGame{Guild: req.Guild, Channel: req.Channel, By: req.User, ByName: req.UserName,
		Cooldown: -1, At: req.Start}
	var problems []string
	if v := req.str("duration"); v != "" {
		d, err := parseSpan(v)
		if err != nil {
			problems = append(problems, "duration: "+err.Error())
		}
		s.Duration = d
	}
	if v := req.str("cooldown"); v != "" {
		d, err := parseSpan(v)
		if err != nil {
			problems = append(problems, "cooldown: "+err.Error())
		}
		s.Cooldown = d
	}
	if n, ok := req.num("sequential"); ok {
		s.Sequential = int(n)
	}
	if ch := req.str("chat"); ch != "" {
		if !events.ValidID(ch) {
			problems = append(problems, "chat: not a channel")
		}
		s.ChatChannel = ch
	}
	if len(problems) > 0 {
		return reply{content: "Nothing was started: " + strings.Join(problems, "; ") + ".", ephemeral: true}
	}
	g, err := b.cmds.StartGame(ctx, s)
	if err != nil {
		return reply{content: rejectionText(err), ephemeral: true}
	}
	cool := timefmt.Span(g.CooldownMS) + " cooldown"
	if g.CooldownMS == 0 {
		cool = "no cooldown"
	}
	msg := fmt.Sprintf("▶️ Game #%d started: a %s clock, %s", g.Game, timefmt.Span(g.DurationMS), cool)
	if g.Sequential > 0 {
		msg += fmt.Sprintf(", %s between two presses of a player", pluralPlayers(g.Sequential, "other player"))
	}
	if g.ChatChannel != g.ButtonChannel {
		msg += fmt.Sprintf(", presses announced in <#%s>", g.ChatChannel)
	}
	return reply{content: msg + ". The game message follows in a moment.", ephemeral: true}
}

// activeHere returns the active game whose button channel is the
// request's channel.
func (b *Bot) activeHere(ctx context.Context, req request) (readmodel.Game, reply, bool) {
	games, err := b.views.ActiveGames(ctx, req.Guild)
	if err != nil {
		return readmodel.Game{}, b.failure(req, err), false
	}
	for _, g := range games {
		if g.ButtonChannel == req.Channel {
			return g, reply{}, true
		}
	}
	return readmodel.Game{}, reply{content: "There is no running game in this channel.", ephemeral: true}, false
}

func (b *Bot) adminRepost(ctx context.Context, req request) reply {
	g, r, ok := b.activeHere(ctx, req)
	if !ok {
		return r
	}
	// The new message shows the views: let them reach the game's latest
	// event first (a press they have not applied yet, the message
	// recorded last), or it would show an older board.
	last, exists, err := b.cmds.LastSeq(ctx, g.ID)
	if err != nil || !exists {
		return reply{content: "There is no running game in this channel.", ephemeral: true}
	}
	if err := b.waitViews(ctx, last); err != nil {
		b.log.Warn("repost: the views lag the game; the message may show an older board", "game", g.ID, "err", err)
	} else if fresh, err := b.views.Game(ctx, g.ID); err == nil {
		g = fresh
	}
	if g.Status != events.StatusActive {
		return reply{content: "There is no running game in this channel.", ephemeral: true}
	}
	id, err := b.postGameMessage(ctx, g.ButtonChannel, b.liveFromGame(g, time.Now()))
	if err != nil {
		b.log.Warn("repost failed", "game", g.ID, "err", err)
		if id == "" {
			return reply{content: "I could not post the game message here: " + describe(err) + ".", ephemeral: true}
		}
	}
	if old := g.MessageID; old != "" && old != id {
		if err := b.rest.remove(ctx, g.MessageChannel, old); err != nil && codeOf(err) != CodeUnknownMessage {
			b.log.Warn("old game message not removed", "game", g.ID, "message", old, "err", err)
		}
	}
	b.updater.Track(g.ID, g.Guild)
	return reply{content: fmt.Sprintf("🔁 The message of game #%d was posted again.", g.ID), ephemeral: true}
}

func (b *Bot) adminAbort(ctx context.Context, req request) reply {
	g, r, ok := b.activeHere(ctx, req)
	if !ok {
		return r
	}
	end, err := b.cmds.Abort(ctx, commands.Abort{Game: g.ID, Guild: req.Guild, By: req.User, Reason: req.str("reason"), At: req.Start})
	if err != nil {
		return reply{content: rejectionText(err), ephemeral: true}
	}
	return reply{content: fmt.Sprintf("🛑 Game #%d was stopped %s with **%s** still on the clock. Its summary replaces the game message in a moment.",
		end.Game, stamp(end.AtMS, 'R'), timefmt.Clock(end.LeftMS)), ephemeral: true}
}

func (b *Bot) adminIcon(ctx context.Context, req request) reply {
	icon := strings.TrimSpace(req.str("emoji"))
	if !events.ValidIcon(icon) {
		return reply{content: "Choose one of these icons: " + strings.Join(events.Icons, " "), ephemeral: true}
	}
	if err := b.cmds.SetIcon(ctx, commands.SetIcon{Guild: req.Guild, Icon: icon, By: req.User, At: req.Start}); err != nil {
		return reply{content: rejectionText(err), ephemeral: true}
	}
	return reply{content: fmt.Sprintf("%s is now this server's icon in `/buttonrank`.", icon), ephemeral: true}
}
