package discordbot_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/discordkv"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redismarks"
)

// edit is one game-message edit an instance made, as its HTTP client saw it.
type edit struct {
	instance   string
	message    string
	start, end time.Time
}

// editLog records the game-message edits of every instance.
type editLog struct {
	mu    sync.Mutex
	edits []edit
}

type recordingTransport struct {
	instance string
	next     http.RoundTripper
	log      *editLog
	dead     *atomic.Bool // a killed process sends nothing
}

func (r recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.dead.Load() {
		return nil, errors.New("the process is dead")
	}
	if req.Method != http.MethodPatch || !strings.Contains(req.URL.Path, "/messages/") {
		return r.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := r.next.RoundTrip(req)
	msg := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
	r.log.mu.Lock()
	r.log.edits = append(r.log.edits, edit{r.instance, msg, start, time.Now()})
	r.log.mu.Unlock()
	return resp, err
}

// instance is one `thebutton run` of the bot, as cmd/thebutton wires it in
// sharded mode: its own NATS connection, the shared budget, the shard
// leases, a gateway session and a reactor per shard held.
type instance struct {
	name     string
	dead     atomic.Bool
	nc       *nats.Conn
	bot      *discordbot.Bot
	shards   *discordkv.Shards
	cancel   context.CancelFunc
	done     chan struct{}
	waits    atomic.Int64 // REST calls that waited for the shared budget
	maxWait  atomic.Int64 // ns
	stopOnce sync.Once
}

func (e *env) startInstance(name string, count int, ttl time.Duration, edits *editLog) *instance {
	e.t.Helper()
	srv := e.natsSrv
	nc, js := natstest.Connect(e.t, srv)
	in := &instance{name: name, nc: nc, done: make(chan struct{})}
	kv, err := discordkv.OpenBucket(e.ctx, js, "", 1)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Log = e.log.With("instance", name)
	cfg.HTTPClient = &http.Client{Timeout: 20 * time.Second,
		Transport: recordingTransport{instance: name, next: e.fake.Transport(), log: edits, dead: &in.dead}}
	cfg.Budget = discordkv.NewBudget(kv, discordkv.BudgetOptions{Rate: 40, Burst: 5, Log: cfg.Log})
	cfg.OnBudgetWait = func(d time.Duration) {
		if d > 0 {
			in.waits.Add(1)
			for {
				old := in.maxWait.Load()
				if int64(d) <= old || in.maxWait.CompareAndSwap(old, int64(d)) {
					break
				}
			}
		}
	}
	var shards *discordkv.Shards
	cfg.Guilds = guildsOf(func() *discordkv.Shards { return shards })
	bot, err := discordbot.New(cfg, e.h, e.views, e.marks)
	if err != nil {
		e.t.Fatal(err)
	}
	in.bot = bot
	serve := func(ctx context.Context, k int) error {
		marks := redismarks.New(e.rdb, redismarks.Options{Prefix: shardMarksPrefix(e, k, count)})
		r := bot.ShardReactor(k, count, marks)
		defer r.Stop()
		if err := bot.OpenShard(ctx, k, count); err != nil {
			return err
		}
		defer func() { _ = bot.CloseShard(k) }()
		p := projector.New(natsstore.NewFeed(js, e.store.Name()), r, projector.Options{
			Log: cfg.Log.With("projection", "discord", "shard", k), BatchSize: 50, ApplyTimeout: 2 * time.Minute,
			MaxBackoff: 500 * time.Millisecond, Resync: 200 * time.Millisecond,
			Lease: projector.LeaseOptions{TTL: ttl, Holder: name}})
		return p.Run(ctx)
	}
	shards, err = discordkv.NewShards(kv, serve, discordkv.ShardOptions{Count: count, MaxConcurrency: 16, TTL: ttl,
		Holder: name, Log: cfg.Log})
	if err != nil {
		e.t.Fatal(err)
	}
	in.shards = shards
	if err := bot.Start(); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	in.cancel = cancel
	go func() { defer close(in.done); _ = shards.Run(ctx) }()
	e.t.Cleanup(in.stop)
	return in
}

// shardMarksPrefix is where an instance's reactor of shard k of count
// keeps its marks and checkpoint.
func shardMarksPrefix(e *env, k, count int) string {
	return fmt.Sprintf("%sdiscord:shard-%d-of-%d:", e.prefix, k, count)
}

// TestShardTakenOverBeforeItsFirstEvent: the shard's first holder finds
// its reactor's checkpoint at 0 and goes away before any event of the
// shard; a game starts while nobody holds the shard; the next holder's
// reactor, made after the start, still posts the game's message at once:
// the start came after the moment the checkpoint was first found at 0,
// so the done-marks cover it. (Its own creation as that moment made the
// start look like history from before a loss of the marks, and the
// message came from the updater a minute later.)
func TestShardTakenOverBeforeItsFirstEvent(t *testing.T) {
	const count, ttl = 2, 2 * time.Second
	e := newEnv(t, envOptions{noBot: true, fakeOpts: discordtest.Options{Shards: count, MaxConcurrency: 2}})
	k := discordbot.ShardOf(e.guild, count)
	zero := shardMarksPrefix(e, k, count) + "zero"
	a := e.startInstance("a", count, ttl, &editLog{})
	e.wait(20*time.Second, "a's reactor of the guild's shard reading its checkpoint at 0", func() bool {
		n, err := e.rdb.Exists(e.ctx, zero).Result()
		return err == nil && n == 1
	})
	a.stop()

	g, err := e.h.StartGame(e.ctx, commands.StartGame{Guild: e.guild, Channel: e.button, By: e.admin,
		Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.startInstance("b", count, ttl, &editLog{})
	e.wait(20*time.Second, "the game message, posted by b's reactor", func() bool {
		v, ok, err := e.h.Game(e.ctx, g.Game)
		return err == nil && ok && v.MessageID != ""
	})
}

// guildsOf defers to the shard leases once they exist.
type guildsOf func() *discordkv.Shards

func (g guildsOf) Owns(guild string) bool {
	s := g()
	return s != nil && s.Owns(guild)
}

// stop stops an instance cleanly: its shards are given up at once.
func (in *instance) stop() {
	in.stopOnce.Do(func() {
		in.cancel()
		<-in.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = in.bot.Close(ctx)
	})
}

// kill stops an instance as a crash would: its NATS connection goes
// first, so its leases are neither renewed nor given up.
func (in *instance) kill() {
	in.dead.Store(true)
	in.nc.Close()
	in.stop()
}

// TestThreeInstancesShareDiscord runs three bot instances against one
// fake Discord (Discord's limits, the global 50/s included), sharded over
// six shards, with every instance busy: presses on 48 games in 24 guilds
// bring game-message edits, announcements and role grants on all three at
// once. One instance is killed mid-load: its shards are served again
// within the lease TTL plus identify time. Throughout, no call is answered
// 429, and no game message is edited by two instances at once.
func TestThreeInstancesShareDiscord(t *testing.T) {
	if testing.Short() {
		t.Skip("load test with three instances")
	}
	const count, ttl = 6, 3 * time.Second
	e := newEnv(t, envOptions{noBot: true, fakeOpts: discordtest.Options{Shards: count, MaxConcurrency: 16}})
	e.cfg.EditInterval = 2 * time.Second
	edits := &editLog{}
	var ins []*instance
	for i := range 3 {
		ins = append(ins, e.startInstance(fmt.Sprintf("bot%d", i), count, ttl, edits))
	}
	everyShardOnce := func() bool {
		s := e.fake.ShardSessions()
		for k := range count {
			if s[k] != 1 {
				return false
			}
		}
		return len(s) == count
	}
	e.wait(60*time.Second, "six shards, one session each, two per instance", func() bool {
		for _, in := range ins {
			if len(in.shards.Held()) != 2 {
				return false
			}
		}
		return everyShardOnce()
	})
	games, users := setupGames(t, e, 24, 2, 60)

	const rate = 60 // presses per second over every game
	var (
		wg                      sync.WaitGroup
		accepted, undelivered   atomic.Int64
		killedAt, servedAgainAt time.Time
	)
	rng := rand.New(rand.NewPCG(3, 4))
	tick := time.NewTicker(time.Second / rate)
	start := time.Now()
	for k := 0; time.Since(start) < 16*time.Second; k++ {
		<-tick.C
		if killedAt.IsZero() && time.Since(start) > 6*time.Second {
			killedAt = time.Now()
			ins[0].kill()
		}
		if !killedAt.IsZero() && servedAgainAt.IsZero() && everyShardOnce() {
			servedAgainAt = time.Now()
		}
		g := games[rng.IntN(len(games))]
		u := users[rng.IntN(len(users))]
		wg.Go(func() {
			i := e.fake.Press(g.guild, g.button, u, discordbot.PressID(g.id), g.msg)
			ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
			defer cancel()
			a, err := i.Wait(ctx)
			switch {
			case i.Delivered() == 0:
				undelivered.Add(1) // its shard between two holders
			case err != nil:
				t.Errorf("press delivered but not answered: %v", err)
			case strings.Contains(a.Content, "click!"):
				accepted.Add(1)
			}
		})
	}
	tick.Stop()
	wg.Wait()
	if servedAgainAt.IsZero() {
		e.wait(30*time.Second, "every shard served again", everyShardOnce)
		servedAgainAt = time.Now()
	}
	takeover := servedAgainAt.Sub(killedAt)
	t.Logf("%d presses accepted, %d not delivered (shard without a session); shards served again %v after the kill (TTL %v)",
		accepted.Load(), undelivered.Load(), takeover.Round(time.Millisecond), ttl)
	if takeover > ttl+3*time.Second {
		t.Errorf("the killed instance's shards were served again after %v; want within the TTL %v plus identify time", takeover, ttl)
	}
	// Never by nobody: every game message ends up showing its clicks.
	stale := func() []string {
		var out []string
		for _, g := range games {
			m, _ := e.fake.Message(g.msg)
			if want := fmt.Sprintf("**%s**", plural(e.clickCount(g.id), "click")); !strings.Contains(m.Text(), want) {
				out = append(out, fmt.Sprintf("game %d (shard %d) lacks %s", g.id, discordbot.ShardOf(g.guild, count), want))
			}
		}
		return out
	}
	if !testwait.Until(60*time.Second, func() bool { return len(stale()) == 0 }) {
		t.Errorf("game messages not up to date: %v", stale())
	}

	if rl := e.fake.RateLimited(); len(rl) != 0 {
		t.Errorf("%d calls answered 429, first %s %s", len(rl), rl[0].Method, rl[0].Path)
	}
	peak, calls := globalPeak(e.fake.Calls())
	var waits int64
	var maxWait time.Duration
	for _, in := range ins {
		waits += in.waits.Load()
		maxWait = max(maxWait, time.Duration(in.maxWait.Load()))
	}
	t.Logf("%d REST calls under the global limit, at most %d in one second; %d calls waited for the shared budget (longest %v)",
		calls, peak, waits, maxWait.Round(time.Millisecond))
	// Never two at once: the edits of one message by different instances
	// do not overlap.
	edits.mu.Lock()
	defer edits.mu.Unlock()
	byMsg := map[string][]edit{}
	per := map[string]int{}
	for _, ed := range edits.edits {
		byMsg[ed.message] = append(byMsg[ed.message], ed)
		per[ed.instance]++
	}
	t.Logf("message edits by instance: %v", per)
	for _, in := range ins {
		if per[in.name] == 0 {
			t.Errorf("%s edited no message: not every instance was busy", in.name)
		}
	}
	for msg, list := range byMsg {
		for i, a := range list {
			for _, b := range list[i+1:] {
				if a.instance != b.instance && a.start.Before(b.end) && b.start.Before(a.end) {
					t.Errorf("message %s edited by %s and %s at once", msg, a.instance, b.instance)
				}
			}
		}
	}
}

// globalPeak returns the most calls under the global limit within one
// second, and their number.
func globalPeak(calls []discordtest.Call) (peak, n int) {
	var at []time.Time
	for _, c := range calls {
		if c.Global {
			at = append(at, c.At)
		}
	}
	j := 0
	for i := range at {
		for at[i].Sub(at[j]) >= time.Second {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return peak, len(at)
}
