package discordbot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
)

// request is a command as a member asked for it, from a slash command or
// a legacy text command; both run the same handlers.
type request struct {
	Guild, Channel string
	User, UserName string
	// Perms are the member's permissions in the channel, as Discord sent
	// them with the interaction (0 when unknown: not an admin).
	Perms int64
	Name  string // the command, such as "leaderboard"
	Sub   string // the subcommand, such as "players"
	Opts  map[string]any
	// Names maps user ids of user options to display names.
	Names map[string]string
	Start time.Time
}

func (r request) str(name string) string {
	s, _ := r.Opts[name].(string)
	return s
}

func (r request) num(name string) (int64, bool) {
	switch v := r.Opts[name].(type) {
	case int64:
		return v, true
	case float64:
		return int64(v), true
	}
	return 0, false
}

func (r request) flag(name string) bool {
	v, _ := r.Opts[name].(bool)
	return v
}

// user returns a user option (id, name), or the caller when absent.
func (r request) user(name string) (string, string) {
	if id, ok := r.Opts[name].(string); ok && events.ValidID(id) {
		n := r.Names[id]
		if n == "" {
			n = "that player"
		}
		return id, n
	}
	return r.User, r.UserName
}

// isAdmin reports whether the member has Manage Server (or Administrator).
func (r request) isAdmin() bool {
	return r.Perms&(discordgo.PermissionManageGuild|discordgo.PermissionAdministrator) != 0
}

func intOpt(name, desc string, lo, hi float64, required bool) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionInteger, Name: name,
		Description: desc, MinValue: &lo, MaxValue: hi, Required: required}
}

func userOpt(desc string, required bool) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionUser, Name: "user",
		Description: desc, Required: required}
}

func strOpt(name, desc string, maxLen int, required bool) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: name,
		Description: desc, MaxLength: maxLen, Required: required}
}

func sub(name, desc string, opts ...*discordgo.ApplicationCommandOption) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand, Name: name,
		Description: desc, Options: opts}
}

// slashCommands are the bot's slash commands (GAME-RULES §9).
func slashCommands() []*discordgo.ApplicationCommand {
	manage := int64(discordgo.PermissionManageGuild)
	guildOnly := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	cmds := []*discordgo.ApplicationCommand{
		{Name: "rank", Description: "Your colours, time claimed and every click (or another player's)",
			Options: []*discordgo.ApplicationCommandOption{userOpt("Whose journey to show", false)}},
		{Name: "check", Description: "Your cooldown: ready, or how long is left"},
		{Name: "whoready", Description: "Who among the last 10 clickers may press again"},
		{Name: "cooldowns", Description: "Cooldowns of the last 10 clickers"},
		{Name: "clicks", Description: "Clicks per colour and every click of the game"},
		{Name: "leaderboard", Description: "The game's leaderboards", Options: []*discordgo.ApplicationCommandOption{
			sub("teams", "Per colour: clicks, share, time claimed, players"),
			sub("players", "Players by MMR, lowest clicks and time claimed",
				intOpt("n", "How many players (up to 15)", 1, 15, false)),
		}},
		{Name: "quest", Description: "This server's monthly time-claimed board", Options: []*discordgo.ApplicationCommandOption{
			strOpt("month", "A month: january, jan or 2025-03 (default: this month)", 20, false)}},
		{Name: "edging", Description: "Clicks closest to a colour edge"},
		{Name: "buttonrank", Description: "Every game of every server ranked by lifetime"},
		{Name: "lowest", Description: "The lowest clicks of this game, or of all games", Options: []*discordgo.ApplicationCommandOption{
			intOpt("n", "How many clicks (up to 100)", 1, 100, false),
			{Type: discordgo.ApplicationCommandOptionBoolean, Name: "global", Description: "Across all games of all servers"},
		}},
		{Name: "stats", Description: "Charts", Options: []*discordgo.ApplicationCommandOption{
			sub("player", "A player's chart", userOpt("Whose chart", false)),
			sub("game", "The game's chart", intOpt("game", "Game number (default: this channel's game)", 1, 1e12, false)),
			sub("timeline", "Every click of a game over time", intOpt("game", "Game number (default: this channel's game)", 1, 1e12, false)),
		}},
		{Name: "games", Description: "This server's games"},
		{Name: "help", Description: "What The Button can do"},
		{Name: "lore", Description: "The legend of the button"},
		{Name: "card", Description: "A link to a player's card on the web", Options: []*discordgo.ApplicationCommandOption{
			userOpt("Whose card", false)}},
		{Name: "button", Description: "Admin: run The Button in this server", DefaultMemberPermissions: &manage,
			Options: []*discordgo.ApplicationCommandOption{
				sub("start", "Start a game in this channel",
					strOpt("duration", "Clock length, e.g. 12h or 90m (default 12h)", 20, false),
					strOpt("cooldown", "Wait between a player's presses, e.g. 3h, 0 for none (default 3h)", 20, false),
					intOpt("sequential", "Other players who must press between two of yours (default 0: off)", 0, events.MaxSequential, false),
					&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionChannel, Name: "chat",
						Description:  "Where presses are announced (default: this channel)",
						ChannelTypes: []discordgo.ChannelType{discordgo.ChannelTypeGuildText}}),
				sub("repost", "Post the game message of this channel's game again"),
				sub("abort", "Stop this channel's game", strOpt("reason", "Why (recorded)", 300, false)),
				sub("icon", "Choose this server's icon for /buttonrank", strOpt("emoji", "One of the allowed emoji", 16, true)),
				sub("ban", "Ban a player from the game", userOpt("Who", true), strOpt("reason", "Why (recorded)", 300, false)),
				sub("unban", "Lift a player's ban", userOpt("Who", true)),
				sub("banlist", "Show the ban list"),
			}},
	}
	for _, c := range cmds {
		c.Contexts = guildOnly
	}
	return cmds
}

// requestOf builds a request from a slash command interaction.
func requestOf(ic *discordgo.Interaction, start time.Time) request {
	user, name := userOf(ic)
	r := request{Guild: ic.GuildID, Channel: ic.ChannelID, User: user, UserName: name, Start: start,
		Opts: map[string]any{}, Names: map[string]string{}}
	if ic.Member != nil {
		r.Perms = ic.Member.Permissions
	}
	data := ic.ApplicationCommandData()
	r.Name = data.Name
	opts := data.Options
	if len(opts) == 1 && (opts[0].Type == discordgo.ApplicationCommandOptionSubCommand) {
		r.Sub = opts[0].Name
		opts = opts[0].Options
	}
	for _, o := range opts {
		switch o.Type {
		case discordgo.ApplicationCommandOptionInteger:
			r.Opts[o.Name] = o.IntValue()
		case discordgo.ApplicationCommandOptionBoolean:
			r.Opts[o.Name] = o.BoolValue()
		case discordgo.ApplicationCommandOptionString, discordgo.ApplicationCommandOptionUser,
			discordgo.ApplicationCommandOptionChannel:
			if s, ok := o.Value.(string); ok {
				r.Opts[o.Name] = s
			}
		}
	}
	if data.Resolved != nil {
		for id, u := range data.Resolved.Users {
			n := u.GlobalName
			if n == "" {
				n = u.Username
			}
			if m := data.Resolved.Members[id]; m != nil && m.Nick != "" {
				n = m.Nick
			}
			r.Names[id] = n
		}
	}
	return r
}

// ephemeralCommands answer only to the member who asked.
var ephemeralCommands = map[string]bool{"rank": true, "check": true, "card": true, "help": true, "button": true}

// onCommand answers a slash command.
func (b *Bot) onCommand(ic *discordgo.Interaction, start time.Time, respond responder) {
	req := requestOf(ic, start)
	eph := ephemeralCommands[req.Name]
	if ic.GuildID == "" {
		b.sendAnswer(ic, start, respond, reply{content: "The Button's commands work inside a server.", ephemeral: true}, false)
		return
	}
	b.answer(ic, start, respond, eph, false, func(ctx context.Context) reply {
		r := b.run(ctx, req)
		r.ephemeral = r.ephemeral || eph
		return r
	})
}

// Texts shared by the commands.
const (
	textUnavailable = "📉 Statistics are unavailable for the moment. Please try again in a little while."
	textNoGame      = "There is no game in this server yet. An admin can start one with `/button start`."
	textNotAdmin    = "Only members with the **Manage Server** permission can use `/button`. Nothing was changed."
)

// errNoGame means a guild has no game to show.
var errNoGame = errors.New("no game in this guild")

// failure turns a views error into what the member is told.
func (b *Bot) failure(req request, err error) reply {
	switch {
	case errors.Is(err, errNoGame):
		return reply{content: textNoGame, ephemeral: true}
	case errors.Is(err, readmodel.ErrNotFound):
		return reply{content: "That game is not known here.", ephemeral: true}
	}
	b.log.Warn("command could not read the views", "command", req.Name, "guild", req.Guild, "err", err)
	return reply{content: textUnavailable, ephemeral: true}
}

// run executes a command.
func (b *Bot) run(ctx context.Context, req request) reply {
	switch req.Name {
	case "rank":
		return b.cmdRank(ctx, req, 0)
	case "check":
		return b.cmdCheck(ctx, req)
	case "whoready":
		return b.cmdWhoReady(ctx, req)
	case "cooldowns":
		return b.cmdCooldowns(ctx, req)
	case "clicks":
		return b.cmdClicks(ctx, req, 0)
	case "leaderboard":
		if req.Sub == "teams" {
			return b.cmdTeams(ctx, req)
		}
		return b.cmdPlayers(ctx, req)
	case "quest":
		return b.cmdQuest(ctx, req)
	case "edging":
		return b.cmdEdging(ctx, req)
	case "buttonrank":
		return b.cmdButtonRank(ctx, req)
	case "lowest":
		return b.cmdLowest(ctx, req)
	case "stats":
		return b.cmdStats(ctx, req)
	case "games":
		return b.cmdGames(ctx, req, 0)
	case "help":
		return cmdHelp(b.cfg.Legacy)
	case "lore":
		return cmdLore()
	case "card":
		return b.cmdCard(req)
	case "button":
		if !req.isAdmin() {
			return reply{content: textNotAdmin, ephemeral: true}
		}
		return b.cmdButton(ctx, req)
	}
	return reply{content: fmt.Sprintf("Unknown command %q.", req.Name), ephemeral: true}
}

// currentGame is "the game" of a command: the active game of this
// channel (as button or chat channel), else the guild's newest active
// game, else its newest game.
func (b *Bot) currentGame(ctx context.Context, req request) (readmodel.Game, error) {
	active, err := b.views.ActiveGames(ctx, req.Guild)
	if err != nil {
		return readmodel.Game{}, err
	}
	for _, g := range active {
		if g.ButtonChannel == req.Channel || g.ChatChannel == req.Channel {
			return g, nil
		}
	}
	if len(active) > 0 {
		return active[len(active)-1], nil // the newest
	}
	games, _, err := b.views.GuildGames(ctx, req.Guild, 0, 1)
	if err != nil {
		return readmodel.Game{}, err
	}
	if len(games) == 0 {
		return readmodel.Game{}, errNoGame
	}
	return games[0], nil
}

// gameOf returns game id of this guild, or the current game when id is 0.
func (b *Bot) gameOf(ctx context.Context, req request, id int64) (readmodel.Game, error) {
	if id == 0 {
		return b.currentGame(ctx, req)
	}
	g, err := b.views.Game(ctx, events.GameID(id))
	if err != nil {
		return readmodel.Game{}, err
	}
	if g.Guild != req.Guild {
		return readmodel.Game{}, readmodel.ErrNotFound
	}
	return g, nil
}

// page answers a paging button.
func (b *Bot) page(ctx context.Context, ic *discordgo.Interaction, ref pageRef) reply {
	req := request{Guild: ic.GuildID, Channel: ic.ChannelID, Start: time.Now(), Opts: map[string]any{}, Names: map[string]string{}}
	req.User, req.UserName = userOf(ic)
	if ref.Game != 0 {
		g, err := b.views.Game(ctx, ref.Game)
		if err != nil {
			return b.failure(req, err)
		}
		if g.Guild != ic.GuildID {
			return reply{content: textForged, ephemeral: true}
		}
	}
	switch ref.View {
	case "rank":
		if ref.Arg != "" {
			req.Opts["user"] = ref.Arg
		}
		return b.rankPage(ctx, req, ref.Game, ref.Page)
	case "clicks":
		return b.clicksPage(ctx, req, ref.Game, ref.Page)
	case "games":
		return b.cmdGames(ctx, req, ref.Page)
	}
	return reply{content: textForged, ephemeral: true}
}

// pager returns the row of paging buttons for page of pages.
func pager(ref pageRef, pages int) []discordgo.MessageComponent {
	if pages <= 1 {
		return nil
	}
	prev, next := ref, ref
	prev.Page, next.Page = max(ref.Page-1, 0), min(ref.Page+1, pages-1)
	return []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: "◀ Previous", Style: discordgo.SecondaryButton, CustomID: prev.id(), Disabled: ref.Page <= 0},
		discordgo.Button{Label: fmt.Sprintf("Page %d of %d", ref.Page+1, pages), Style: discordgo.SecondaryButton,
			CustomID: "pg:noop", Disabled: true},
		discordgo.Button{Label: "Next ▶", Style: discordgo.SecondaryButton, CustomID: next.id(), Disabled: ref.Page >= pages-1},
	}}}
}
