package discordbot

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Legacy text commands: the original bare words, matched as whole words
// in the channels of the guild's games, answered by the same handlers as
// the slash commands, with a "working" reaction while they run. They need
// the Message Content intent and are off unless Config.Legacy is set.

// legacyWord is one original word and how it maps to a command.
type legacyWord struct {
	name, sub string
	// args parses the words after the command into options; nil means the
	// word must stand alone. It returns false when the words do not fit
	// (then the message is ordinary chat, not a command).
	args func(words []string, opts map[string]any) bool
}

var (
	mentionRE = regexp.MustCompile(`^<@!?([0-9]{1,20})>$`)
	numberRE  = regexp.MustCompile(`^#?[0-9]{1,12}$`)
)

func userArg(words []string, opts map[string]any) bool {
	if len(words) == 0 {
		return true
	}
	if len(words) > 1 {
		return false
	}
	m := mentionRE.FindStringSubmatch(words[0])
	if m == nil {
		return false
	}
	opts["user"] = m[1]
	return true
}

func gameArg(words []string, opts map[string]any) bool {
	if len(words) == 0 {
		return true
	}
	if len(words) > 1 || !numberRE.MatchString(words[0]) {
		return false
	}
	opts["game"] = atoiGame(words[0])
	return true
}

var legacyWords = map[string]legacyWord{
	"myrank":        {name: "rank", args: userArg},
	"rank":          {name: "rank", args: userArg},
	"urrank":        {name: "rank", args: userArg},
	"check":         {name: "check"},
	"whoready":      {name: "whoready"},
	"checkothers":   {name: "cooldowns"},
	"cooldowns":     {name: "cooldowns"},
	"showclicks":    {name: "clicks"},
	"edging":        {name: "edging"},
	"l1":            {name: "leaderboard", sub: "teams"},
	"leaderboard1":  {name: "leaderboard", sub: "teams"},
	"l2":            {name: "leaderboard", sub: "players", args: nArg(15)},
	"leaderboard2":  {name: "leaderboard", sub: "players", args: nArg(15)},
	"clickquest":    {name: "quest", args: monthArg},
	"goonboard":     {name: "quest", args: monthArg},
	"buttonrank":    {name: "buttonrank"},
	"br":            {name: "buttonrank"},
	"clicklist":     {name: "lowest", args: lowestArgs},
	"help":          {name: "help"},
	"lore":          {name: "lore"},
	"mycard":        {name: "card", args: userArg},
	"playercharts":  {name: "stats", sub: "player", args: userArg},
	"statsp":        {name: "stats", sub: "player", args: userArg},
	"gamecharts":    {name: "stats", sub: "game", args: gameArg},
	"statsg":        {name: "stats", sub: "game", args: gameArg},
	"timeline":      {name: "stats", sub: "timeline", args: gameArg},
	"clicktimeline": {name: "stats", sub: "timeline", args: gameArg},
	"listgames":     {name: "games"},
	// Admin words (Manage Server, checked like /button).
	"sb":                  {name: "button", sub: "start"},
	"startbutton":         {name: "button", sub: "start"},
	"force_update_button": {name: "button", sub: "repost"},
	"!seticon":            {name: "button", sub: "icon", args: iconArg},
}

func nArg(limit int64) func([]string, map[string]any) bool {
	return func(words []string, opts map[string]any) bool {
		if len(words) == 0 {
			return true
		}
		if len(words) > 1 || !numberRE.MatchString(words[0]) {
			return false
		}
		opts["n"] = min(atoiGame(words[0]), limit)
		return true
	}
}

func monthArg(words []string, opts map[string]any) bool {
	if len(words) == 0 {
		return true
	}
	if len(words) > 1 {
		return false
	}
	if _, ok := parseMonth(words[0], time.Now()); !ok {
		return false
	}
	opts["month"] = words[0]
	return true
}

func lowestArgs(words []string, opts map[string]any) bool {
	if len(words) > 2 {
		return false
	}
	for _, w := range words {
		switch {
		case w == "global":
			opts["global"] = true
		case numberRE.MatchString(w):
			opts["n"] = min(atoiGame(w), 100)
		default:
			return false
		}
	}
	return true
}

func iconArg(words []string, opts map[string]any) bool {
	if len(words) > 1 {
		return false
	}
	if len(words) == 1 {
		opts["emoji"] = words[0]
	}
	return true
}

// parseLegacy matches a message against the original words: the whole
// message is the word, optionally followed by the arguments it takes.
func parseLegacy(content string) (legacyWord, map[string]any, bool) {
	words := strings.Fields(strings.ToLower(strings.TrimSpace(content)))
	if len(words) == 0 || len(words) > 4 {
		return legacyWord{}, nil, false
	}
	w, ok := legacyWords[words[0]]
	if !ok {
		return legacyWord{}, nil, false
	}
	opts := map[string]any{}
	if w.args == nil {
		return w, opts, len(words) == 1
	}
	if !w.args(words[1:], opts) {
		return legacyWord{}, nil, false
	}
	return w, opts, true
}

// working is the reaction shown on a text command while it runs.
const working = "⏳"

// onMessage handles a message for the legacy text commands.
func (b *Bot) onMessage(s *discordgo.Session, m *discordgo.MessageCreate) {
	start := time.Now()
	if m.Author == nil || m.Author.Bot || m.GuildID == "" {
		return
	}
	w, opts, ok := parseLegacy(m.Content)
	if !ok {
		return
	}
	if !b.track() {
		return
	}
	defer b.inflight.Done()
	ctx, cancel := context.WithTimeout(b.ctx, answerTimeout)
	defer cancel()
	if !b.gameChannel(ctx, m.GuildID, m.ChannelID) {
		return
	}
	name := m.Author.GlobalName
	if name == "" {
		name = m.Author.Username
	}
	if m.Member != nil && m.Member.Nick != "" {
		name = m.Member.Nick
	}
	req := request{Guild: m.GuildID, Channel: m.ChannelID, User: m.Author.ID, UserName: name, Name: w.name, Sub: w.sub,
		Opts: opts, Names: map[string]string{}, Start: start}
	if id, ok := opts["user"].(string); ok {
		for _, u := range m.Mentions {
			if u.ID == id {
				req.Names[id] = u.GlobalName
				if req.Names[id] == "" {
					req.Names[id] = u.Username
				}
			}
		}
	}
	if w.name == "button" {
		req.Perms = messagePerms(s, m)
	}
	if err := b.rest.react(ctx, m.ChannelID, m.ID, working); err != nil {
		b.log.Debug("working reaction not added", "channel", m.ChannelID, "err", err)
	}
	r := b.run(ctx, req)
	_, err := b.rest.send(ctx, m.ChannelID, &discordgo.MessageSend{Content: r.content, Embeds: r.embeds,
		Components: r.components, Files: r.discordFiles(), AllowedMentions: &discordgo.MessageAllowedMentions{},
		Reference: &discordgo.MessageReference{MessageID: m.ID, ChannelID: m.ChannelID, GuildID: m.GuildID}})
	if err != nil {
		b.log.Warn("text command answer failed", "command", w.name, "channel", m.ChannelID, "err", err)
	}
	if err := b.rest.unreact(ctx, m.ChannelID, m.ID, working); err != nil {
		b.log.Debug("working reaction not removed", "channel", m.ChannelID, "err", err)
	}
}

// gameChannel reports whether channel is a button or chat channel of one
// of the guild's games.
func (b *Bot) gameChannel(ctx context.Context, guild, channel string) bool {
	games, err := b.views.ActiveGames(ctx, guild)
	if err != nil {
		b.log.Warn("text command: cannot read the guild's games", "guild", guild, "err", err)
		return false
	}
	for _, g := range games {
		if g.ButtonChannel == channel || g.ChatChannel == channel {
			return true
		}
	}
	return false
}

// messagePerms computes the author's permissions in the message's channel
// from the state of the gateway session (or shard) that received it (0 if
// unknown: not an admin).
func messagePerms(s *discordgo.Session, m *discordgo.MessageCreate) int64 {
	if s == nil || s.State == nil {
		return 0
	}
	p, err := s.State.MessagePermissions(m.Message)
	if err != nil {
		return 0
	}
	return p
}
