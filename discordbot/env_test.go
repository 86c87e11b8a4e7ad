package discordbot_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/internal/freeport"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redismarks"
	"github.com/thebutton-game/thebutton/projector/redisproj"
	"github.com/thebutton-game/thebutton/readmodel"
)

const token = "test-token"

// Permissions of the fake members.
const (
	permAdmin  = int64(discordgo.PermissionManageGuild | discordgo.PermissionSendMessages | discordgo.PermissionViewChannel)
	permPlayer = int64(discordgo.PermissionSendMessages | discordgo.PermissionViewChannel)
)

// testLog returns a logger writing to the test log at warn level, or at
// debug with DISCORDBOT_DEBUG=1.
func testLog(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("DISCORDBOT_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// redisAt connects to a Redis server, skipping loudly when the shared one
// is absent (failing under CI=true).
func redisAt(t testing.TB, addr string, required bool) *redis.Client {
	t.Helper()
	// go-redis's default options, as the service runs with (REDIS_URL).
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		if os.Getenv("CI") == "true" || required {
			t.Fatalf("redis at %s is required: %v", addr, err)
		}
		t.Skipf("SKIPPING: no redis at %s (%v)", addr, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func sharedRedis(t testing.TB) *redis.Client {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	return redisAt(t, addr, false)
}

// privateRedis starts a redis-server of the test's own on a free port.
type privateRedis struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func startPrivateRedis(t testing.TB) *privateRedis {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is required under CI")
		}
		t.Skip("SKIPPING: redis-server not installed")
	}
	p := &privateRedis{t: t, port: freeport.ForTest(t)}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *privateRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func (p *privateRedis) start() {
	p.t.Helper()
	p.cmd = exec.Command("redis-server", "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		c, err := net.Dial("tcp", p.addr())
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-tick.C:
		case <-p.done:
			p.t.Fatalf("private redis on %s exited at start", p.addr())
		case <-deadline:
			p.t.Fatalf("private redis on %s did not start", p.addr())
		}
	}
}

func (p *privateRedis) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill() // our own child, by its pid
	<-p.done
	p.cmd = nil
}

// env is a complete bot against the fake Discord, a real embedded
// JetStream and a real Redis.
type env struct {
	t       testing.TB
	ctx     context.Context
	fake    *discordtest.Server
	natsSrv *embedded.Server
	js      jetstream.JetStream
	store   *natsstore.Store
	h       *commands.Handler
	rdb     *redis.Client
	prefix  string
	views   readmodel.Reader
	marks   *redismarks.Marks
	bot     *discordbot.Bot
	cfg     discordbot.Config
	log     *slog.Logger
	stopAll func()
	wrap    func(*commands.Handler) discordbot.Commands

	guild                  string
	button, chat, other    string
	admin, player, player2 string

	procMu   sync.Mutex
	procStop []func()

	// reactorRetries counts the reactor loop's failed attempts.
	reactorRetries atomic.Int64
}

type envOptions struct {
	rdb      *redis.Client
	fakeOpts discordtest.Options
	cfg      discordbot.Config
	reactor  projector.Options
	noBot    bool
	// wrap, if set, puts something between the bot and the handler.
	wrap func(*commands.Handler) discordbot.Commands
	// store, if set, puts something between the handler and the stream.
	store func(*natsstore.Store) commands.Store
	// noTimekeeper lets a test write a history in the past before games
	// are ended at their deadlines (startTimekeeper).
	noTimekeeper bool
	// transport, if set, puts something between the bot's HTTP client and
	// the fake Discord.
	transport func(http.RoundTripper) http.RoundTripper
}

func (e *env) startTimekeeper() {
	tk := commands.NewTimekeeper(e.h, nil, e.log)
	e.goRun(func(ctx context.Context) { _ = tk.Run(ctx) })
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, log: testLog(t), wrap: o.wrap}
	o.fakeOpts.Token = token
	e.fake = discordtest.New(t, o.fakeOpts)
	var chans []string
	e.guild, chans = e.fake.AddGuild("Test Guild", 0, "button-game", "button-chat", "general")
	e.button, e.chat, e.other = chans[0], chans[1], chans[2]
	e.admin = e.fake.AddMember(e.guild, "", "Ada Admin", permAdmin)
	e.player = e.fake.AddMember(e.guild, "", "Pat Player", permPlayer)
	e.player2 = e.fake.AddMember(e.guild, "", "Quinn Second", permPlayer)

	srv := natstest.Server(t, "")
	e.natsSrv = srv
	_, js := natstest.Connect(t, srv)
	e.js = js
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	var cs commands.Store = store
	if o.store != nil {
		cs = o.store(store)
	}
	e.h = commands.NewHandler(cs, nil, e.log.With("component", "commands"))
	if err := e.h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.h.Close)
	if !o.noTimekeeper {
		e.startTimekeeper()
	}

	e.rdb = o.rdb
	if e.rdb == nil {
		e.rdb = sharedRedis(t)
	}
	e.prefix = fmt.Sprintf("test:bot:%d:", time.Now().UnixNano())
	t.Cleanup(func() { cleanRedis(e.rdb, e.prefix) })
	sink := redisproj.New(e.rdb, redisproj.Options{Prefix: e.prefix})
	e.views = redisproj.NewReader(e.rdb, e.prefix)
	e.marks = redismarks.New(e.rdb, redismarks.Options{Prefix: e.prefix + "discord:"})
	popts := projector.Options{Log: e.log.With("projection", "redis"), MaxBackoff: 500 * time.Millisecond, Resync: 200 * time.Millisecond}
	rp := projector.New(natsstore.NewFeed(js, store.Name()), sink, popts)
	e.goRun(func(ctx context.Context) { _ = rp.Run(ctx) })

	e.cfg = o.cfg
	e.cfg.Token = token
	e.cfg.HTTPClient = e.fake.Client()
	if o.transport != nil {
		c := *e.cfg.HTTPClient
		c.Transport = o.transport(c.Transport)
		e.cfg.HTTPClient = &c
	}
	if e.cfg.Log == nil {
		e.cfg.Log = e.log.With("component", "discordbot")
	}
	if !o.noBot {
		if o.reactor.BatchSize == 0 {
			o.reactor = projectorOptions()
		}
		e.startBot(o.reactor)
	}
	return e
}

// goRun runs fn until the env ends and waits for it at cleanup.
func (e *env) goRun(fn func(ctx context.Context)) func() {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	stop := func() { cancel(); <-done }
	e.t.Cleanup(stop)
	return stop
}

// startBot opens a bot and runs its reactor; stopBot closes them.
func (e *env) startBot(ropts projector.Options) {
	e.t.Helper()
	var cmds discordbot.Commands = e.h
	if e.wrap != nil {
		cmds = e.wrap(e.h)
	}
	bot, err := discordbot.New(e.cfg, cmds, e.views, e.marks)
	if err != nil {
		e.t.Fatal(err)
	}
	octx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := bot.Open(octx); err != nil {
		e.t.Fatal(err)
	}
	e.bot = bot
	if ropts.Log == nil {
		ropts.Log = e.log.With("projection", "discord")
	}
	if ropts.MaxBackoff == 0 {
		ropts.MaxBackoff = 500 * time.Millisecond
	}
	if ropts.Resync == 0 {
		ropts.Resync = 200 * time.Millisecond
	}
	if ropts.Lease.TTL == 0 {
		ropts.Lease.TTL = time.Minute
	}
	ropts.Lease.Holder = "test-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	onRetry := ropts.OnRetry
	ropts.OnRetry = func(op string, err error) {
		e.reactorRetries.Add(1)
		if onRetry != nil {
			onRetry(op, err)
		}
	}
	rp := projector.New(natsstore.NewFeed(e.js, e.store.Name()), bot.Reactor(), ropts)
	stopReactor := e.goRun(func(ctx context.Context) { _ = rp.Run(ctx) })
	var once sync.Once
	e.stopAll = func() {
		once.Do(func() {
			stopReactor()
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := bot.Close(cctx); err != nil {
				e.t.Errorf("bot close: %v", err)
			}
		})
	}
	e.t.Cleanup(e.stopAll)
}

func (e *env) stopBot() { e.stopAll() }

// projectorOptions are the reactor's consumer options in tests.
// (as cmd/thebutton runs it: small batches, long attempts).
func projectorOptions() projector.Options {
	return projector.Options{BatchSize: 50, ApplyTimeout: 2 * time.Minute}
}

func cleanRedis(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) >= 500 {
			rdb.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}

// wait waits for cond, failing the test after d.
func (e *env) wait(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, d)
	defer cancel()
	if err := e.fake.Wait(ctx, cond); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// startGame starts a game through /button start and waits for its message.
func (e *env) startGame(opts ...discordtest.Option) (events.GameID, string) {
	e.t.Helper()
	i := e.fake.Slash(e.guild, e.button, e.admin, "button",
		discordtest.Option{Name: "start", Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts})
	a, err := i.Wait(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if !a.Ephemeral() || !strings.Contains(a.Content, "started") {
		e.t.Fatalf("start answer = %+v", a.Response)
	}
	var game events.GameID
	if _, err := fmt.Sscanf(a.Content[strings.Index(a.Content, "#"):], "#%d", &game); err != nil {
		e.t.Fatalf("no game number in %q", a.Content)
	}
	var msg string
	e.wait(10*time.Second, "the game message", func() bool {
		g, ok, err := e.h.Game(e.ctx, game)
		if err != nil || !ok {
			return false
		}
		msg = g.MessageID
		return msg != ""
	})
	return game, msg
}

// press presses a game's button and returns the answer.
func (e *env) press(user string, game events.GameID, msg string) discordtest.Answer {
	e.t.Helper()
	i := e.fake.Press(e.guild, e.button, user, discordbot.PressID(game), msg)
	a, err := i.Wait(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// settled waits until the reactor has done every effect of every event in
// the stream: its stored checkpoint, the low-water mark of its lanes, is
// the stream's last message. Whatever an event would repeat has happened
// by then.
func (e *env) settled(d time.Duration) {
	e.t.Helper()
	e.wait(d, "the reactor settled", func() bool {
		pos, err := e.marks.Position(e.ctx)
		last, lerr := e.store.LastSeq(e.ctx)
		return err == nil && lerr == nil && pos >= last
	})
}

// clickCount returns the number of clicks of a game in the stream.
func (e *env) clickCount(game events.GameID) int64 {
	g, ok, err := e.h.Game(e.ctx, game)
	if err != nil || !ok {
		return -1
	}
	return g.Clicks
}
