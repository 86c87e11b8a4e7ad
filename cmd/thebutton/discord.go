package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordkv"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/metrics"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redismarks"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// botSettings are the Discord bot's settings beyond config (DISCORD_TOKEN
// and DISCORD_GUILD_ID live in config.registerDiscord).
type botSettings struct {
	legacy    bool
	publicURL string
	apiURL    string // DISCORD_API_URL: another Discord (tests, benchmarks)
	shards    string // DISCORD_SHARDS: "" (one session), a count, or "auto" (shards.go)
	http      interactionSettings
}

// registerBot adds the bot's flags.
func (b *botSettings) registerBot(fs *flag.FlagSet) {
	fs.BoolVar(&b.legacy, "legacy-text-commands", false,
		"answer the original bare-word text commands too; needs the privileged Message Content intent [LEGACY_TEXT_COMMANDS]")
	fs.StringVar(&b.publicURL, "public-url", "",
		"base URL of the web pages, for /card links (empty: no links) [PUBLIC_URL]")
	fs.StringVar(&b.apiURL, "discord-api-url", "",
		"send the bot's Discord calls to this server instead of Discord (tests, benchmarks against a fake Discord) [DISCORD_API_URL]")
	b.registerShards(fs)
}

// check reports the settings' problems.
func (b botSettings) check() error {
	if b.publicURL != "" {
		u, err := url.Parse(b.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("PUBLIC_URL: %q is not an http(s) URL", b.publicURL)
		}
	}
	if b.apiURL != "" {
		if _, err := parseAPIURL(b.apiURL); err != nil {
			return err
		}
	}
	return b.checkShards()
}

// reactorLeaseTTL is the least lease of the discord-effects reactor. Its
// batches only queue effects (the lanes wait for Discord's rate limits),
// so it is the projections' default: a dead holder's effects are taken
// over within it.
const reactorLeaseTTL = 10 * time.Second

// botParts is what startBot builds the bot from: the settings, the
// connections it shares with the rest of the service, where its commands
// go (h), what it reports to (m, ready), its Redis views and done-marks
// (rdb under redisPrefix), its reactor's lease, its grace at shutdown and
// its logger.
type botParts struct {
	c           *config
	b           botSettings
	n           *natsConn
	h           discordbot.Commands
	m           *metrics.Metrics
	ready       *metrics.Readiness
	rdb         redis.UniversalClient
	redisPrefix string
	lease       projector.LeaseOptions
	grace       time.Duration
	log         *slog.Logger
}

// startBot starts the Discord bot when DISCORD_TOKEN is set: the gateway
// session with the slash commands (and the legacy text commands if asked),
// the game-message updater, and the discord-effects reactor run by the
// projector loop as the durable consumer "projector-discord". Without a
// token it says so and returns a wait that does nothing.
//
// Discord that cannot be reached does not stop it: the gateway is opened
// in the background with back-off (keepOpening) and its state goes to
// ready (a degraded component), the metric thebutton_discord_connected
// and the log, one line per change.
//
// The bot reads the Redis views written under redisPrefix and keeps its
// done-marks beside them. wait blocks until ctx ends, then stops the
// reactor and closes the bot within grace; call it once.
func startBot(ctx context.Context, p botParts) (wait func() error, bot *discordbot.Bot, err error) {
	c, b, n, h, m, ready, log := p.c, p.b, p.n, p.h, p.m, p.ready, p.log
	rdb, redisPrefix, lease, grace := p.rdb, p.redisPrefix, p.lease, p.grace
	if c.discordToken == "" {
		log.Info("DISCORD_TOKEN is not set: the Discord bot does not run")
		return func() error { return nil }, nil, nil
	}
	if err := b.check(); err != nil {
		return nil, nil, err
	}
	blog := log.With("component", "discordbot")
	state := &discordState{log: blog, m: m, ready: ready}
	state.set(false, "connecting")
	views := redisproj.NewReader(rdb, redisPrefix)
	marks := redismarks.New(rdb, redismarks.Options{Prefix: redisPrefix + "discord:" + c.stream + ":"})
	base := discordTransport
	if b.apiURL != "" {
		u, _ := parseAPIURL(b.apiURL) // checked
		base = apiRedirect{base: u}
		log.Warn("DISCORD_API_URL is set: Discord calls go to another server", "url", u.Redacted())
	}
	kv, err := discordkv.OpenBucket(ctx, n.js, "", lease.Replicas)
	if err != nil {
		return nil, nil, err
	}
	guilds := &lateGuilds{}
	bot, err = discordbot.New(discordbot.Config{
		Token: string(c.discordToken), DevGuild: c.discordGuild, Legacy: b.legacy, PublicURL: b.publicURL, Log: blog,
		HTTPClient: &http.Client{Transport: m.DiscordTransport(base), Timeout: 30 * time.Second},
		OnEdit:     m.MessageEdit, OnRender: m.ObserveRender, OnGateway: state.set,
		Budget: discordkv.NewBudget(kv, discordkv.BudgetOptions{Log: blog}), OnBudgetWait: m.BudgetWait,
		Guilds: guilds.orAll(b.shards == ""), NoGateway: b.http.noGateway(),
	}, h, views, marks)
	if err != nil {
		return nil, nil, err
	}
	var wg sync.WaitGroup
	// A refused token stops the reactor too: its every call would be
	// another 401 (the lease goes to another instance, if any).
	rctx, stopReactor := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			stopReactor()
		}
	}()
	if b.shards != "" {
		sh := sharded{bot: bot, kv: kv, setting: b.shards, guilds: guilds, js: n.js, stream: c.stream, rdb: rdb,
			prefix: redisPrefix + "discord:" + c.stream + ":", lease: lease, m: m, state: state, log: blog}
		wg.Go(func() { sh.run(rctx) })
	} else {
		wg.Go(func() { keepOpening(ctx, bot, state, stopReactor) })
	}
	m.WatchEffects(func() map[string]metrics.EffectBacklog {
		out := map[string]metrics.EffectBacklog{}
		for kind, b := range bot.Backlog() {
			out[kind] = metrics.EffectBacklog{Effects: b.Effects, Oldest: b.Oldest}
		}
		return out
	})
	if b.shards == "" { // sharded: a reactor per shard held (shards.go)
		p := projector.New(n.store.Feed(), bot.Reactor(), reactorOptions(log, m, lease))
		wg.Go(func() { _ = p.Run(rctx) })
	}
	log.Info("discord bot running", "legacy_text_commands", b.legacy, "dev_guild", c.discordGuild)
	return func() error {
		<-ctx.Done()
		wg.Wait() // the reactor and the opener stop with ctx
		stopReactor()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		if err := bot.Close(cctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("discord bot: %w", err)
		}
		return nil
	}, bot, nil
}

// reactorOptions are the consumer options of a discord-effects reactor.
func reactorOptions(log *slog.Logger, m *metrics.Metrics, lease projector.LeaseOptions) projector.Options {
	lease.TTL = max(lease.TTL, reactorLeaseTTL)
	return projector.Options{
		Log: log.With("component", "reactor"), BatchSize: 50, ApplyTimeout: 2 * time.Minute, Lease: lease,
		OnRetry:      func(op string, _ error) { m.ProjectorRetry("discord", op) },
		OnDeadLetter: func(events.Recorded) { m.DeadLetter("discord") },
	}
}

// discordTransport carries the bot's Discord calls; nil is the default
// transport. Tests point it at the fake Discord.
var discordTransport http.RoundTripper

// Back-off of the gateway's first connection while Discord cannot be
// reached: from discordRetryMin, doubling, to discordRetryMax.
var (
	discordRetryMin = time.Second
	discordRetryMax = time.Minute
)

// keepOpening opens the bot's gateway session, retrying with back-off
// until it succeeds or ctx ends. Meanwhile the service runs without
// Discord (timekeeper, projections, web pages); the discord-effects
// reactor retries on its own and catches up once Discord answers. A token
// Discord refuses is not retried: it is reported (state.refused) and
// onRefused is called.
func keepOpening(ctx context.Context, bot *discordbot.Bot, state *discordState, onRefused func()) {
	delay := discordRetryMin
	for {
		// An attempt that hangs (Discord unreachable without a refusal)
		// must not hold up shutdown: it is left behind when ctx ends, and
		// the bot's Close makes it give up what it opened.
		opened := make(chan error, 1)
		go func() {
			octx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			opened <- bot.Open(octx)
		}()
		var err error
		select {
		case err = <-opened:
		case <-ctx.Done():
			return
		}
		if err == nil {
			state.set(true, "")
			return
		}
		if ctx.Err() != nil {
			return
		}
		if tokenRefused(err) {
			// Permanent: retrying only counts towards Discord's ban of
			// clients that send 10,000 invalid requests in 10 minutes.
			state.refused(err)
			onRefused()
			return
		}
		state.set(false, fmt.Sprintf("cannot open the gateway (next try in %s): %v", delay, err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, discordRetryMax)
	}
}

// tokenRefused reports whether err is Discord refusing the bot's token: an
// HTTP 401 on a REST call, or the gateway closing with 4004
// (authentication failed).
func tokenRefused(err error) bool {
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code == 4004 {
		return true
	}
	var ae *discordbot.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return true
	}
	var re *discordgo.RESTError
	return errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized
}

// discordState is the Discord connection as /readyz, the metric
// thebutton_discord_connected and the log see it. Discord down is a
// degraded mode, not unreadiness: the service keeps serving its pages and
// ending games, so /readyz stays 200 and names it in its body.
type discordState struct {
	log   *slog.Logger
	m     *metrics.Metrics
	ready *metrics.Readiness

	mu    sync.Mutex
	known bool // a state was logged
	up    bool
}

// refused records that Discord refused the token: one error line, the
// reason in /readyz, thebutton_discord_token_refused 1; nothing retries.
func (d *discordState) refused(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m.SetDiscordTokenRefused()
	d.ready.SetDegraded("discord", "Discord refused DISCORD_TOKEN (401 Unauthorized): the bot stopped trying; set a valid token and restart")
	d.known, d.up = true, false
	d.log.Error("discord refused the bot token: the bot stops trying (a retry would count towards Discord's ban of invalid requests); games, projections and web pages go on; set a valid DISCORD_TOKEN and restart", "err", err)
}

// set records the state; it logs one line per change, not per attempt.
func (d *discordState) set(up bool, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m.SetDiscordConnected(up)
	if up {
		d.ready.SetDegraded("discord", "")
	} else {
		d.ready.SetDegraded("discord", why)
	}
	if (d.known && d.up == up) || (!d.known && why == "connecting") {
		return
	}
	d.known, d.up = true, up
	if up {
		d.log.Info("discord gateway connected")
	} else {
		d.log.Warn("discord unreachable: the bot retries; games, projections and web pages go on", "err", why)
	}
}
