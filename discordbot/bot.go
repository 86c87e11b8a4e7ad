package discordbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/imaging"
	"github.com/thebutton-game/thebutton/readmodel"
)

// Commands is the write side the bot issues presses and admin commands
// through. *commands.Handler implements it; it must be safe for concurrent
// use. Refusals are *commands.Rejection errors. The bot never reads a
// game's state here: what it shows comes from the views
// (readmodel.Reader), and an answer to a command from the command's
// decision (its result or its refusal).
type Commands interface {
	Press(ctx context.Context, p commands.Press) (commands.Click, error)
	StartGame(ctx context.Context, s commands.StartGame) (events.GameStarted, error)
	Abort(ctx context.Context, a commands.Abort) (commands.Aborted, error)
	PostMessage(ctx context.Context, m commands.PostMessage) error
	SetIcon(ctx context.Context, c commands.SetIcon) error
	Ban(ctx context.Context, c commands.Ban) error
	Unban(ctx context.Context, c commands.Unban) error
	// GuildLastSeq returns the stream sequence of a guild's latest event
	// (0 if none), for the views to have applied before showing its bans.
	GuildLastSeq(ctx context.Context, guild string) (uint64, error)
	// LastSeq returns the stream sequence of a game's latest event and
	// whether the game exists: the views show the game as it is now once
	// they have applied it.
	LastSeq(ctx context.Context, id events.GameID) (uint64, bool, error)
}

// Config configures the bot. Only Token is required.
type Config struct {
	// Token is the bot token, without the "Bot " prefix.
	Token string
	// HTTPClient carries every REST call and the gateway lookup; nil uses
	// discordgo's default client. Tests point it at discordtest.
	HTTPClient *http.Client
	// DevGuild registers the slash commands in this guild only (they show
	// at once); empty registers them globally.
	DevGuild string
	// Legacy turns on the original bare-word text commands. They need the
	// privileged Message Content intent.
	Legacy bool
	// PublicURL is the base URL of the web pages (/card links to
	// PublicURL/players/<user id>); empty hides the link.
	PublicURL string
	// PressBudget is how long a press (or command) may take before its
	// answer is deferred (default 1.5 s; Discord allows 3 s).
	PressBudget time.Duration
	// DecideBudget is how long after its arrival a press may wait for its
	// decision to start (queued behind other presses of its game, or
	// behind a slow store, such as a stream leader being elected): a press
	// not taken by then is answered "busy, press again" and nothing is
	// recorded (load shedding). Past PressBudget a waiting press is
	// deferred first; if that deferral cannot be delivered, the player was
	// told the interaction failed, so the press stops waiting and is not
	// recorded either. Default 8 s: a leader election (4–7 s) is waited
	// out, the answer edited in within 10 s.
	DecideBudget time.Duration
	// RESTRate and RESTBurst are the global limiter of every REST call
	// except interaction answers (default 40/s, burst 5: at most 45 calls
	// in any second; Discord allows 50/s).
	RESTRate  float64
	RESTBurst int
	// Budget, if set, replaces the limiter of RESTRate and RESTBurst: the
	// budget shared by every process of the bot (discordkv).
	Budget Budget
	// Guilds, if set, says which guilds' game messages this process keeps
	// up to date (the guilds of the shards it holds); nil: every guild.
	// The effects of events are split by the reactors (ShardReactor).
	Guilds Guilds
	// OnBudgetWait, if set, is told how long each REST call waited for the
	// global budget (0 included). It must be quick and safe for concurrent
	// use (metrics).
	OnBudgetWait func(time.Duration)
	// OnEdit, if set, is told the result of every game-message refresh
	// that called Discord: "ok" or "failed". OnRender, if set, is told how
	// long each image took ("timer", "chart", "end"). Both must be quick
	// and safe for concurrent use (metrics).
	OnEdit   func(result string)
	OnRender func(kind string, d time.Duration)
	// EditInterval is the least time between two edits of game messages
	// in one channel (default 2 s).
	EditInterval time.Duration
	// MaxEffectAge is how old a click or an end may be and still be
	// announced in the chat channel (default 15 min): a reactor catching
	// up over old history does not flood channels.
	MaxEffectAge time.Duration
	// Log receives the bot's logs (default: discarded).
	Log *slog.Logger
	// OnGateway, if set, is told when the gateway session is lost (false,
	// with why) and when it is back (true) after discordgo reconnected by
	// itself; Open's own success or failure is its return value. It must
	// be quick and safe for concurrent use.
	OnGateway func(connected bool, why string)
	// NoGateway runs the bot without a gateway session: interactions come
	// only to the HTTP endpoint (InteractionsHandler), Open takes the
	// application id from REST (GET /users/@me), and the legacy text
	// commands cannot be used.
	NoGateway bool
}

func (c Config) withDefaults() Config {
	if c.PressBudget <= 0 {
		c.PressBudget = 1500 * time.Millisecond
	}
	if c.DecideBudget <= 0 {
		c.DecideBudget = 8 * time.Second
	}
	if c.RESTRate <= 0 {
		c.RESTRate = 40
	}
	if c.RESTBurst <= 0 {
		c.RESTBurst = 5
	}
	if c.Budget == nil {
		c.Budget = LocalBudget(c.RESTRate, c.RESTBurst)
	}
	if c.EditInterval <= 0 {
		c.EditInterval = 2 * time.Second
	}
	if c.MaxEffectAge <= 0 {
		c.MaxEffectAge = 15 * time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Intents returns the gateway intents the bot asks for: guilds only, plus
// guild messages and message content when legacy text commands are on.
func Intents(legacy bool) discordgo.Intent {
	i := discordgo.IntentsGuilds
	if legacy {
		i |= discordgo.IntentsGuildMessages | discordgo.IntentsMessageContent
	}
	return i
}

// Bot is the Discord bot. Create it with New, start it with Open, stop it
// with Close. Its reactor (Reactor) is run by the caller's consumer loop.
// A Bot is safe for concurrent use.
type Bot struct {
	cfg      Config
	cmds     Commands
	views    readmodel.Reader
	log      *slog.Logger
	s        *discordgo.Session
	rest     *rest
	renderer *imaging.Renderer
	notices  *notices
	updater  *Updater
	reactor  *Reactor
	roles    roleCache

	reactorsMu sync.Mutex
	reactors   map[int]*Reactor // by shard (ShardReactor)

	ctx    context.Context // ends with Close: every handler's parent
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	appID    string
	inflight sync.WaitGroup // interaction and message handlers
	remove   []func()
	upDone   chan struct{}

	handlersOnce sync.Once
	opened       bool // Open or Start succeeded once: the updater runs

	shardsMu   sync.Mutex
	shards     map[int]*shardSession // open gateway shards (OpenShard)
	registerMu sync.Mutex
	registered bool // the slash commands (sharded mode)
}

// New returns a bot. It connects nothing yet; the reactor may be used at
// once (it needs only the REST API).
func New(cfg Config, cmds Commands, views readmodel.Reader, marks Marks) (*Bot, error) {
	if cfg.Token == "" {
		return nil, errors.New("discordbot: no token")
	}
	if cmds == nil || views == nil || marks == nil {
		return nil, errors.New("discordbot: commands, views and marks are required")
	}
	if cfg.NoGateway && cfg.Legacy {
		return nil, errors.New("discordbot: the legacy text commands need the gateway")
	}
	cfg = cfg.withDefaults()
	if cfg.HTTPClient == nil {
		// Many interaction answers at once: keep enough idle connections.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		cfg.HTTPClient = &http.Client{Timeout: 20 * time.Second, Transport: t}
	}
	s, err := newSession(cfg)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	b := &Bot{
		cfg: cfg, cmds: cmds, views: views, log: cfg.Log, s: s,
		rest:     newREST(s, cfg.Budget, cfg.OnBudgetWait, cfg.Log),
		renderer: imaging.NewRenderer(0),
		ctx:      ctx, cancel: cancel,
	}
	b.notices = newNotices(b)
	b.updater = newUpdater(b)
	b.reactor = newReactor(b, marks, "discord", 0, 0)
	b.reactors = make(map[int]*Reactor)
	return b, nil
}

// newSession returns a discordgo session configured for the bot: its
// HTTP client, no rate-limit handling of its own (rest does it, with
// contexts: discordgo must not sleep on a 429 itself), the intents, and a
// state that tracks guilds and channels only.
func newSession(cfg Config) (*discordgo.Session, error) {
	s, err := discordgo.New("Bot " + cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("discordbot: session: %w", err)
	}
	s.Client = cfg.HTTPClient
	s.ShouldRetryOnRateLimit = false
	s.MaxRestRetries = 0
	s.Identify.Intents = Intents(cfg.Legacy)
	s.State.TrackMembers = false
	s.State.TrackPresences = false
	s.State.TrackVoice = false
	s.State.TrackEmojis = false
	s.State.TrackThreads = false
	s.State.TrackStickers = false
	s.State.TrackThreadMembers = false
	return s, nil
}

// addHandlers registers the bot's gateway handlers on a session; what is
// reported to Config.OnGateway names the shard ("" for the only session).
func (b *Bot) addHandlers(s *discordgo.Session, shard string) []func() {
	rm := []func(){
		s.AddHandler(b.onInteraction),
		s.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
			b.log.Info("discord session ready", "user", r.User.Username, "guilds", len(r.Guilds), "shard", shard)
			b.gateway(true, "")
		}),
		s.AddHandler(func(*discordgo.Session, *discordgo.Resumed) { b.gateway(true, "") }),
		s.AddHandler(func(*discordgo.Session, *discordgo.Disconnect) {
			why := "gateway session lost; reconnecting"
			if shard != "" {
				why = "gateway session of shard " + shard + " lost; reconnecting"
			}
			b.gateway(false, why)
		}),
	}
	if b.cfg.Legacy {
		rm = append(rm, s.AddHandler(b.onMessage))
	}
	return rm
}

// Guilds says which guilds this process serves. Implementations are safe
// for concurrent use and quick (called for each game on every updater
// round).
type Guilds interface {
	Owns(guild string) bool
}

// ShardOf returns the gateway shard of a guild among count shards, as
// Discord computes it: (guild_id >> 22) % count. An id that is not a
// snowflake is shard 0.
func ShardOf(guild string, count int) int {
	id, err := strconv.ParseUint(guild, 10, 64)
	if err != nil || count <= 1 {
		return 0
	}
	return int((id >> 22) % uint64(count))
}

// ShardReactor returns the reactor of the guilds of one shard of count,
// named "discord-shard-K-of-N": a projector sink of its own, with its own
// consumer and checkpoint, run by the process holding the shard. marks
// keeps its checkpoint and done-marks (give every shard its own). The
// same reactor is returned for the same shard.
func (b *Bot) ShardReactor(shard, count int, marks Marks) *Reactor {
	b.reactorsMu.Lock()
	defer b.reactorsMu.Unlock()
	if r := b.reactors[shard]; r != nil {
		return r
	}
	r := newReactor(b, marks, fmt.Sprintf("discord-shard-%d-of-%d", shard, count), shard, count)
	b.reactors[shard] = r
	return r
}

// sawMember notes the roles a member's interaction carried (gateway or
// HTTP: handle calls it).
func (b *Bot) sawMember(ic *discordgo.Interaction) {
	if ic != nil && ic.GuildID != "" && ic.Member != nil && ic.Member.User != nil {
		b.roles.saw(ic.GuildID, ic.Member.User.ID, ic.Member.Roles)
	}
}

// Reactor returns the discord-effects reactor, a projector sink named
// "discord".
func (b *Bot) Reactor() *Reactor { return b.reactor }

// Updater returns the game-message updater.
func (b *Bot) Updater() *Updater { return b.updater }

// openGateway opens the gateway session and returns the application id
// its READY carried.
func (b *Bot) openGateway(context.Context) (string, error) {
	if err := b.s.Open(); err != nil { // a failed Open closes what it opened
		return "", fmt.Errorf("discordbot: open gateway: %w", err)
	}
	app, err := appOf(b.s)
	if err != nil {
		_ = b.s.Close()
		return "", err
	}
	return app, nil
}

// Open connects to the gateway (with Config.NoGateway, only asks REST for
// the application id), registers the slash commands (one bulk
// overwrite, guild-scoped when DevGuild is set) and starts the updater.
// It returns once the session is ready. When it fails (Discord cannot be
// reached), nothing is left open and it may be called again: the caller
// retries with back-off. Once open, discordgo reconnects by itself after
// a lost session; Config.OnGateway hears about both.
func (b *Bot) Open(ctx context.Context) error {
	b.handlersOnce.Do(func() {
		b.mu.Lock() // Close reads remove, maybe while an abandoned Open runs
		defer b.mu.Unlock()
		b.remove = append(b.remove, b.addHandlers(b.s, "")...)
	})
	b.mu.Lock()
	closed, opened := b.closed, b.opened
	b.mu.Unlock()
	if closed {
		return errors.New("discordbot: open: the bot is closed")
	}
	if opened {
		return nil
	}
	open := b.openGateway
	if b.cfg.NoGateway {
		open = b.restAppID
	}
	app, err := open(ctx)
	if err != nil {
		return err
	}
	if err := b.register(ctx, app); err != nil {
		_ = b.s.Close()
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		_ = b.s.Close()
		return errors.New("discordbot: open: the bot was closed meanwhile")
	}
	b.startUpdaterLocked()
	return nil
}

// startUpdaterLocked starts the updater once. Caller holds b.mu.
func (b *Bot) startUpdaterLocked() {
	if b.opened {
		return
	}
	b.opened = true
	b.upDone = make(chan struct{})
	go func() {
		defer close(b.upDone)
		b.updater.run(b.ctx)
	}()
}

// appOf returns the application id the READY session s received.
func appOf(s *discordgo.Session) (string, error) {
	app := ""
	if st := s.State; st != nil {
		st.RLock()
		if st.Application != nil {
			app = st.Application.ID
		}
		if app == "" && st.User != nil {
			app = st.User.ID
		}
		st.RUnlock()
	}
	if app == "" {
		return "", errors.New("discordbot: READY carried no application id")
	}
	return app, nil
}

// register registers the slash commands (one bulk overwrite, guild-scoped
// when DevGuild is set) for the application app.
func (b *Bot) register(ctx context.Context, app string) error {
	b.mu.Lock()
	b.appID = app
	b.mu.Unlock()
	cmds, err := b.rest.overwriteCommands(ctx, app, b.cfg.DevGuild, slashCommands())
	if err != nil {
		return fmt.Errorf("discordbot: register slash commands: %w", err)
	}
	scope := "global"
	if b.cfg.DevGuild != "" {
		scope = "guild " + b.cfg.DevGuild
	}
	b.log.Info("slash commands registered", "count", len(cmds), "scope", scope, "legacy_text", b.cfg.Legacy)
	return nil
}

// gateway reports a change of the gateway session to Config.OnGateway,
// unless the bot is closing (its own Close disconnects too).
func (b *Bot) gateway(connected bool, why string) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if b.cfg.OnGateway != nil && !closed {
		b.cfg.OnGateway(connected, why)
	}
}

// track registers a handler in flight; false once the bot is closing.
func (b *Bot) track() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.inflight.Add(1)
	return true
}

// Close stops taking interactions, waits (until ctx ends) for the ones in
// flight and the updater, and closes the gateway session. Slash commands
// stay registered.
func (b *Bot) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	upDone, remove, opened := b.upDone, b.remove, b.opened
	b.mu.Unlock()
	for _, rm := range remove {
		rm()
	}
	done := make(chan struct{})
	go func() {
		b.inflight.Wait()
		if upDone != nil {
			b.cancel()
			<-upDone
		}
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("discordbot: close: handlers still running: %w", ctx.Err())
	}
	b.cancel()
	b.closeShards()
	if !opened {
		// Nothing is open; an Open still running (Discord not answering)
		// holds the session's lock, and closes what it opens when it
		// finds the bot closed.
		return err
	}
	if cerr := b.s.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("discordbot: close session: %w", cerr)
	}
	return err
}

// userOf returns who started an interaction.
func userOf(i *discordgo.Interaction) (id, name string) {
	u := i.User
	nick := ""
	if i.Member != nil {
		u = i.Member.User
		nick = i.Member.Nick
	}
	if u == nil {
		return "", ""
	}
	switch {
	case nick != "":
		name = nick
	case u.GlobalName != "":
		name = u.GlobalName
	default:
		name = u.Username
	}
	return u.ID, name
}

func (b *Bot) edited(result string) {
	if b.cfg.OnEdit != nil {
		b.cfg.OnEdit(result)
	}
}

// rendered reports the time since start of an image of the given kind.
func (b *Bot) rendered(kind string, start time.Time) {
	if b.cfg.OnRender != nil {
		b.cfg.OnRender(kind, time.Since(start))
	}
}
