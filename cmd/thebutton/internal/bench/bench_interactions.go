package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/cli"
	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redismarks"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// InteractionsResult is what `bench interactions` prints. Server latency
// is the instance's handler, from the request handed to it (headers read)
// to the response written; client latency is the whole round trip,
// signing excluded, from the moment the press was due.
type InteractionsResult struct {
	Instances int     `json:"instances"`
	Cluster   int     `json:"cluster"`
	Games     int     `json:"games"`
	Players   int     `json:"players"`
	Rate      int     `json:"rate"`
	DurationS float64 `json:"duration_s"`

	// The HTTP answers: accepted, rejected and shed ("busy, press again":
	// not decided within the bot's budget) answered at once, deferred
	// (the answer edited in later), errors (no 200 answer: the client
	// gave up after 10 s, or a status other than 200).
	Presses  int            `json:"presses"`
	Accepted int            `json:"accepted"`
	Rejected int            `json:"rejected"`
	Deferred int            `json:"deferred"`
	Shed     int            `json:"shed"`
	Errors   int            `json:"errors"`
	Statuses map[string]int `json:"statuses,omitempty"`
	// The deferred presses by the answer the bot edited in (through the
	// fake Discord, which adopts the bench's interactions), and those it
	// never edited: an error of the service (the player is left with
	// "thinking…"), which fails the bench.
	DeferredAccepted   int `json:"deferred_accepted"`
	DeferredRefused    int `json:"deferred_refused"`
	DeferredShed       int `json:"deferred_shed"`
	DeferredUnanswered int `json:"deferred_unanswered"`

	ServerP50MS float64 `json:"server_p50_ms"`
	ServerP99MS float64 `json:"server_p99_ms"`
	ServerMaxMS float64 `json:"server_max_ms"`
	ClientP50MS float64 `json:"client_p50_ms"`
	ClientP99MS float64 `json:"client_p99_ms"`
	ClientMaxMS float64 `json:"client_max_ms"`
	// Presses over 5 ms (server latency) in each second of the run: spread
	// evenly, the tail is the machine's queueing; in a few seconds, a
	// pause (a collection, a stall of the store).
	SlowBySecond []int `json:"slow_by_second"`
	// Per instance: server p99 and presses taken.
	InstanceP99MS   []float64 `json:"instance_p99_ms"`
	InstancePresses []int     `json:"instance_presses"`

	// Against the stored stream: presses finally answered accepted (at
	// once or in the deferred answer's edit) but not stored, stored clicks
	// not answered so (ghosts; ErrorsStored of them are presses whose
	// client got no answer), and the rules re-checked (commands.Audit).
	RulesBroken  int    `json:"rules_broken"`
	Lost         int    `json:"lost"`
	Ghost        int    `json:"ghost"`
	ErrorsStored int    `json:"errors_stored"`
	LoadBefore   string `json:"loadavg_before"`
	LoadAfter    string `json:"loadavg_after"`

	// CPU time (user + system) spent while the presses went on, per
	// process: "bench" is this process (the instances, the projector and
	// the client together), "node1".. the cluster's nodes, "redis" the
	// Redis server when it runs on this machine (shared: other clients'
	// work counts too). CPUMSPer1000
	// is their sum per 1,000 presses: a cost that, unlike latency, does
	// not depend on what else the machine runs.
	CPUS         map[string]float64 `json:"cpu_s"`
	CPUMSPer1000 float64            `json:"cpu_ms_per_1000_presses"`
	// NATS messages the instances' connections (the projector's included:
	// it shares instance 0's) received and sent per press meanwhile.
	NATSInPerPress  float64 `json:"nats_in_per_press"`
	NATSOutPerPress float64 `json:"nats_out_per_press"`
	// Appends the instances lost to another's on the same game (and
	// retried after catching up) meanwhile.
	Conflicts uint64 `json:"conflicts"`
}

func runBenchInteractions(ctx context.Context, a *Env, args []string) error {
	fs := newFlagSet(a, "bench interactions",
		"bench interactions --instances N --cluster K --rate R --duration D [--games G --players P]")
	instances := fs.Int("instances", 3, "service instances in this process, each with its own NATS connection, command handler, bot and HTTP server")
	cluster := fs.Int("cluster", 3, "JetStream cluster nodes (child processes on loopback), the stream replicated on all; 0: one embedded server")
	rate := fs.Int("rate", 1000, "signed presses per second, spread round-robin over the instances")
	duration := fs.Duration("duration", 20*time.Second, "how long presses go on")
	games := fs.Int("games", 50, "games pressed, in one guild (cooldown 0, no sequential rule)")
	players := fs.Int("players", 2000, "members pressing")
	linger := fs.Duration("linger", projector.DefaultLinger, "the Redis projector's linger (projector.Options.Linger; negative: none)")
	nodeProcs := fs.Int("node-procs", 0, "GOMAXPROCS of each cluster node (0: Go's default, all cores)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the presses (the instances and the client) to this file")
	pressBudget := fs.Duration("press-budget", 0, "the bots' press budget, past which a press is deferred (0: the service's default); a small one defers most presses")
	s := a.w.Flags(fs, Flags{NATS: true})
	redisURL := fs.String("redis-url", "redis://127.0.0.1:6379/0",
		"Redis for the views (keys under a scratch prefix, deleted afterwards) [REDIS_URL]")
	if err := parseFlags(a, fs, args, func() error {
		var problems []error
		if *instances < 1 || *rate < 1 || *duration <= 0 || *games < 1 || *players < 1 {
			problems = append(problems, errors.New("instances, rate, duration, games and players must be positive"))
		}
		if *pressBudget < 0 {
			problems = append(problems, errors.New("--press-budget must not be negative"))
		}
		if *cluster < 0 || *cluster == 1 || *cluster > 5 {
			problems = append(problems, errors.New("--cluster takes 0 (one embedded server) or 2 to 5 nodes (a one-node cluster elects no JetStream leader)"))
		}
		return errors.Join(append(problems, s.Check())...)
	}); err != nil {
		return err
	}
	c := s.Config()
	log := c.Log
	var nodes *Cluster
	if *cluster > 0 {
		var err error
		nodes, err = startBenchCluster(ctx, *cluster, *nodeProcs)
		if err != nil {
			return err
		}
		defer nodes.Stop()
		c.NATS.URL, c.NATS.Replicas = nodes.URLs, *cluster
	} else {
		cleanup, err := benchDir(&c.NATS, false, log)
		if err != nil {
			return err
		}
		defer cleanup()
	}
	rdb, err := a.w.OpenRedis(*redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	b := &interactionsBench{w: a.w, nats: c.NATS, rdb: rdb, log: log, instances: *instances, games: *games,
		players: *players, rate: *rate, duration: *duration, linger: *linger, pressBudget: *pressBudget,
		cpuProfile: *cpuProfile, procs: map[string]int{"bench": os.Getpid()}}
	if *cluster > 0 {
		maps.Copy(b.procs, nodes.PIDs())
	}
	if pid := redisPID(ctx, rdb); pid > 0 {
		b.procs["redis"] = pid
	}
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	res.Cluster = *cluster
	if err := printJSON(a.stdout, res); err != nil {
		return err
	}
	if res.DeferredUnanswered > 0 {
		return fmt.Errorf("bench interactions: %d deferred presses never got their answer edited in", res.DeferredUnanswered)
	}
	return nil
}

// interactionsBench is one run: instances that each serve the
// interactions endpoint, and a client posting signed presses to them.
type interactionsBench struct {
	w                               Wiring
	nats                            NATS
	rdb                             redis.UniversalClient
	log                             *slog.Logger
	instances, games, players, rate int
	duration, linger, pressBudget   time.Duration
	cpuProfile                      string
	procs                           map[string]int // name → pid, whose CPU time is counted

	key      ed25519.PrivateKey
	fake     *discordtest.Server
	prefix   string
	first    *Conn        // instance 0's connection
	conns    []*nats.Conn // the instances' connections, in order
	handlers []*commands.Handler
	bots     []*discordbot.Bot
	addrs    []string // the instances' HTTP servers, host:port
	timers   []*serverTimer
	guild    string
	channels []string
	ids      []events.GameID

	wg      sync.WaitGroup // goroutines that stop with the run's context
	closers []func()       // run in reverse by close

	// The presses' interaction ids are base+k, k in [0, presses); their
	// tokens "tok-" and the id.
	base    int64
	presses int64

	mu        sync.Mutex
	clientLat []time.Duration
	accepted  map[string]bool // answered accepted: at once, then those deferred (classifyDeferred)
	deferred  []string        // answered deferred
	errored   []string        // not answered 200
	res       InteractionsResult
}

const benchInteractionsToken = "bench-interactions-token"

func (b *interactionsBench) run(ctx context.Context) (InteractionsResult, error) {
	b.res = InteractionsResult{Instances: b.instances, Games: b.games, Players: b.players, Rate: b.rate,
		Statuses: map[string]int{}}
	b.accepted = map[string]bool{}
	ctx, cancel := context.WithCancel(ctx)
	defer b.close(cancel)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return b.res, err
	}
	b.key = priv
	b.fake = discordtest.NewServer(discordtest.Options{Token: benchInteractionsToken}) // Discord's limits
	b.closers = append(b.closers, b.fake.Close)
	// The fake takes the bots' edits of deferred answers to the bench's
	// interactions (it did not send them) and keeps them for the audit:
	// only those edited, so nothing is added per press.
	interval := max(time.Second/time.Duration(b.rate), 1)
	b.base, b.presses = rand.Int64N(1<<40), int64((b.duration+interval-1)/interval)
	b.fake.AdoptInteractions(b.interactionOf)
	b.prefix = fmt.Sprintf("bench:interactions:%d:", time.Now().UnixNano())
	for i := range b.instances {
		if err := b.startInstance(ctx, i, pub); err != nil {
			return b.res, fmt.Errorf("instance %d: %w", i, err)
		}
	}
	views := projector.New(b.first.Store.Feed(), redisproj.New(b.rdb, redisproj.Options{Prefix: b.prefix}),
		projector.Options{Log: b.log.With("projection", "redis"), Linger: b.linger})
	b.wg.Go(func() { _ = views.Run(ctx) })
	if err := b.startGames(ctx); err != nil {
		return b.res, err
	}
	presses, began := b.prepare(interval)
	stopProfile, err := cli.StartCPUProfile(b.cpuProfile)
	if err != nil {
		return b.res, err
	}
	b.res.LoadBefore = loadAverage()
	cpuBefore := cpuTimes(b.procs)
	inBefore, outBefore := b.natsMsgs()
	conflictsBefore := b.conflicts()
	b.pressAll(ctx, presses)
	b.res.DurationS = time.Since(began).Seconds()
	b.res.LoadAfter = loadAverage()
	b.res.CPUS = map[string]float64{}
	var total float64
	for name, after := range cpuTimes(b.procs) {
		d := (after - cpuBefore[name]).Seconds()
		b.res.CPUS[name] = math.Round(d*100) / 100
		total += d
	}
	in, out := b.natsMsgs()
	b.res.Conflicts = b.conflicts() - conflictsBefore
	if b.res.Presses > 0 {
		n := float64(b.res.Presses)
		b.res.CPUMSPer1000 = math.Round(total * 1e6 / n)
		b.res.NATSInPerPress = math.Round(float64(in-inBefore)/n*100) / 100
		b.res.NATSOutPerPress = math.Round(float64(out-outBefore)/n*100) / 100
	}
	if err := stopProfile(); err != nil {
		return b.res, err
	}
	// Deferred presses are still being decided: their answers are waited
	// for, then the bots' Close waits for whatever else they do before the
	// stream is audited.
	b.awaitDeferred(ctx)
	for _, bot := range b.bots {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := bot.Close(cctx)
		cancel()
		if err != nil {
			return b.res, err
		}
	}

	var server []time.Duration
	for _, tm := range b.timers {
		lat := tm.taken()
		server = append(server, lat...)
		b.res.InstanceP99MS = append(b.res.InstanceP99MS, percentileMS(lat, 0.99))
		b.res.InstancePresses = append(b.res.InstancePresses, len(lat))
	}
	b.res.SlowBySecond = make([]int, int(math.Ceil(b.duration.Seconds())))
	for _, tm := range b.timers {
		tm.slowBySecond(began, b.res.SlowBySecond)
	}
	b.res.ServerP50MS, b.res.ServerP99MS, b.res.ServerMaxMS =
		percentileMS(server, 0.5), percentileMS(server, 0.99), percentileMS(server, 1)
	b.res.ClientP50MS, b.res.ClientP99MS, b.res.ClientMaxMS =
		percentileMS(b.clientLat, 0.5), percentileMS(b.clientLat, 0.99), percentileMS(b.clientLat, 1)
	b.classifyDeferred()
	au, err := auditBench(ctx, b.first.Store, b.ids, b.accepted, b.log)
	if err != nil {
		return b.res, err
	}
	b.res.RulesBroken, b.res.Ghost, b.res.Lost = au.rulesBroken, len(au.ghosts), au.lost
	errored := make(map[string]bool, len(b.errored))
	for _, id := range b.errored {
		errored[id] = true
	}
	for _, id := range au.ghosts {
		if errored[id] {
			b.res.ErrorsStored++
		}
	}
	return b.res, nil
}

// interactionOf is the fake Discord's AdoptInteractions test: a token is
// one of the run's presses' ("tok-" and an id in [base, base+presses)).
func (b *interactionsBench) interactionOf(token string) (string, bool) {
	id, ok := strings.CutPrefix(token, "tok-")
	if !ok {
		return "", false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return id, err == nil && n >= b.base && n < b.base+b.presses && strconv.FormatInt(n, 10) == id
}

// deferredWait bounds the wait for the deferred presses' edits after the
// last press was answered: a deferred press is decided within the bot's
// answerTimeout (20 s) and its edit given 10 s more.
const deferredWait = 40 * time.Second

// awaitDeferred waits until every press answered deferred has its answer
// edited in, at most deferredWait, logging the progress every 2 s.
func (b *interactionsBench) awaitDeferred(ctx context.Context) {
	pending := b.deferred // the presses are over: nothing appends to it
	if len(pending) == 0 {
		return
	}
	began := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var logged time.Time
	for {
		kept := pending[:0:0]
		for _, id := range pending {
			if _, ok := b.editedAnswer(id); !ok {
				kept = append(kept, id)
			}
		}
		pending = kept
		waited := time.Since(began)
		if len(pending) == 0 || waited >= deferredWait || ctx.Err() != nil {
			b.log.Info("deferred answers", "edited", len(b.deferred)-len(pending), "of", len(b.deferred), "waited", waited.Round(time.Millisecond))
			return
		}
		if time.Since(logged) >= 2*time.Second {
			b.log.Info("waiting for deferred answers", "edited", len(b.deferred)-len(pending), "of", len(b.deferred), "waited", waited.Round(time.Millisecond))
			logged = time.Now()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}

// classifyDeferred sorts the deferred presses by the answer edited in
// (through the fake Discord) and adds those accepted to b.accepted. Called
// once the bots are closed: an edit not in by then never comes.
func (b *interactionsBench) classifyDeferred() {
	var never []string
	for _, id := range b.deferred {
		a, ok := b.editedAnswer(id)
		if !ok {
			b.res.DeferredUnanswered++
			never = append(never, id)
			continue
		}
		switch classifyPress(a.Content) {
		case pressAccepted:
			b.res.DeferredAccepted++
			b.accepted[id] = true
		case pressShed:
			b.res.DeferredShed++
		default:
			b.res.DeferredRefused++
		}
	}
	if len(never) > 0 {
		b.log.Error("deferred presses never answered: their players are left waiting", "count", len(never),
			"first", never[:min(5, len(never))])
	}
}

// editedAnswer is the answer the bot edited in for the deferred press id,
// if it is in.
func (b *interactionsBench) editedAnswer(id string) (discordtest.Answer, bool) {
	if i := b.fake.Interaction(id); i != nil {
		return i.Answer()
	}
	return discordtest.Answer{}, false
}

// pressOutcome is what an answer to a press told the player.
type pressOutcome int

const (
	pressRefused  pressOutcome = iota // not recorded: a rule, an error, an unknown outcome
	pressAccepted                     // the click counted
	pressShed                         // "very busy, press again": not recorded
)

// classifyPress reads the content of an answer to a press (the bot's
// texts, discordbot/press.go): a counted click says "<band> click!**",
// a shed press that the button is "very busy".
func classifyPress(content string) pressOutcome {
	switch {
	case strings.Contains(content, " click!**"):
		return pressAccepted
	case strings.Contains(content, "very busy"):
		return pressShed
	}
	return pressRefused
}

// natsMsgs sums the messages the instances' NATS connections received
// and sent so far.
func (b *interactionsBench) natsMsgs() (in, out uint64) {
	for _, nc := range b.conns {
		st := nc.Stats()
		in, out = in+st.InMsgs, out+st.OutMsgs
	}
	return in, out
}

// conflicts sums the instances' handlers' lost appends so far.
func (b *interactionsBench) conflicts() (n uint64) {
	for _, h := range b.handlers {
		n += h.Stats().Conflicts
	}
	return n
}

// close ends the run's context, closes what was opened (servers, bots,
// handlers, connections, the fake Discord), waits for the goroutines and
// then deletes the run's Redis keys (the projector writes until it ends).
func (b *interactionsBench) close(cancel context.CancelFunc) {
	cancel()
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.wg.Wait()
	if b.prefix != "" {
		deletePrefix(b.w, b.rdb, b.prefix)
	}
}

// startInstance starts instance i as `run` would with DISCORD_GATEWAY=off:
// its own NATS connection, command handler and bot (REST to the fake
// Discord), and the interactions endpoint on a loopback HTTP server.
func (b *interactionsBench) startInstance(ctx context.Context, i int, pub ed25519.PublicKey) error {
	log := b.log.With("instance", i)
	cn := b.nats
	if i > 0 {
		cn.URL = b.first.URL
	}
	n, err := b.w.OpenNATS(ctx, cn, log)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, n.Close)
	b.conns = append(b.conns, n.JS.Conn())
	if i == 0 {
		b.first = n
	}
	h := commands.NewHandler(n.Store, commands.SystemClock{}, log.With("component", "commands"))
	if err := h.Open(ctx); err != nil {
		return err
	}
	b.closers = append(b.closers, h.Close)
	b.handlers = append(b.handlers, h)
	bot, err := discordbot.New(discordbot.Config{Token: benchInteractionsToken, HTTPClient: b.fake.Client(), NoGateway: true,
		PressBudget: b.pressBudget, Log: log.With("component", "discordbot")}, h, redisproj.NewReader(b.rdb, b.prefix),
		redismarks.New(b.rdb, redismarks.Options{Prefix: b.prefix + "discord:"}))
	if err != nil {
		return err
	}
	octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
	err = bot.Open(octx)
	ocancel()
	b.bots = append(b.bots, bot)
	b.closers = append(b.closers, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = bot.Close(cctx) // at once if the run closed it
	})
	if err != nil {
		return err
	}
	h2, err := bot.InteractionsHandler(pub, discordbot.InteractionsOptions{})
	if err != nil {
		return err
	}
	tm := &serverTimer{h: h2}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: tm, ReadHeaderTimeout: 5 * time.Second}
	b.wg.Go(func() { _ = srv.Serve(ln) })
	b.closers = append(b.closers, func() { _ = srv.Close() })
	b.addrs = append(b.addrs, ln.Addr().String())
	b.timers = append(b.timers, tm)
	return nil
}

// startGames starts the bench games in a guild of the fake Discord, one
// channel each.
func (b *interactionsBench) startGames(ctx context.Context) error {
	names := make([]string, b.games)
	for i := range names {
		names[i] = fmt.Sprintf("button-%d", i)
	}
	b.guild, b.channels = b.fake.AddGuild("Bench", 0, names...)
	for _, ch := range b.channels {
		g, err := b.handlers[0].StartGame(ctx, commands.StartGame{Guild: b.guild, Channel: ch, By: "2", ByName: "Admin",
			Duration: 12 * time.Hour, Cooldown: 0})
		if err != nil {
			return fmt.Errorf("start bench game: %w", err)
		}
		b.ids = append(b.ids, g.Game)
	}
	return nil
}

// signedPress is one press as the client posts it: built, signed and
// written out as its HTTP request before the clock starts, so that the
// load generator's own work (Discord's, in production) competes as little
// as it can with the instances during the run.
type signedPress struct {
	id       string
	instance int    // index into b.addrs
	request  []byte // the whole HTTP/1.1 request
	due      time.Time
}

// prepare builds and signs the run's presses, one per interval, each with
// the timestamp Discord would give it (its due time, in whole seconds),
// and returns them with the run's start: time enough from now for the
// signing, which it times on a sample first.
func (b *interactionsBench) prepare(interval time.Duration) ([]signedPress, time.Time) {
	presses := make([]signedPress, b.presses)
	bodies := make([][]byte, b.presses)
	for k := range presses {
		id := fmt.Sprint(b.base + int64(k))
		game := k % len(b.ids)
		user := fmt.Sprint(800000000000000000 + rand.IntN(b.players))
		presses[k] = signedPress{id: id, instance: k % len(b.addrs)}
		bodies[k] = fmt.Appendf(nil, `{"id":%q,"application_id":%q,"type":3,"token":"tok-%s","version":1,"guild_id":%q,`+
			`"channel_id":%q,"member":{"user":{"id":%q,"username":"p%s","discriminator":"0"},"roles":[],"permissions":"0"},`+
			`"data":{"custom_id":%q,"component_type":2},"message":{"id":"1","channel_id":%q,"content":""}}`,
			id, b.fake.AppID, id, b.guild, b.channels[game], user, user, discordbot.PressID(b.ids[game]), b.channels[game])
	}
	sample := min(len(presses), 200)
	t0 := time.Now()
	for k := range sample {
		b.request(presses[k].instance, t0, bodies[k])
	}
	began := time.Now().Add(2*time.Since(t0)*time.Duration(len(presses))/time.Duration(max(sample, 1)) + 100*time.Millisecond)
	b.log.Info("signing the presses before the run", "presses", len(presses), "start_in", time.Until(began).Round(time.Millisecond))
	for k := range presses {
		presses[k].due = began.Add(time.Duration(k) * interval)
		presses[k].request = b.request(presses[k].instance, presses[k].due, bodies[k])
	}
	if late := time.Since(began); late > 0 {
		b.log.Warn("signing the presses took longer than planned: their timestamps are early", "by", late)
	}
	return presses, began
}

// request returns the HTTP/1.1 request posting body to instance's
// endpoint, signed as Discord would sign it at t.
func (b *interactionsBench) request(instance int, t time.Time, body []byte) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
		b.w.InteractionsPath(), b.addrs[instance], len(body))
	if err := discordtest.SignInteraction(b.key, t, body).Write(&buf); err != nil {
		panic(err) // a bytes.Buffer does not fail
	}
	buf.WriteString("\r\n")
	buf.Write(body)
	return buf.Bytes()
}

// pressAll posts the presses at their due times, open loop, round-robin
// over the instances, and waits for every answer. Each press goes to a
// poster of its instance that is free, or to a new one when none is: as
// many requests are in flight as the instances are slow, as with Discord.
func (b *interactionsBench) pressAll(ctx context.Context, presses []signedPress) {
	var wg sync.WaitGroup
	free := make([]chan signedPress, len(b.addrs))
	for i := range free {
		free[i] = make(chan signedPress)
	}
	for _, p := range presses {
		if ctx.Err() != nil {
			break
		}
		if w := time.Until(p.due); w > 0 {
			time.Sleep(w)
		}
		select {
		case free[p.instance] <- p:
		default:
			wg.Go(func() { b.poster(p, free[p.instance]) })
		}
	}
	for _, ch := range free {
		close(ch)
	}
	wg.Wait()
}

// pressTimeout bounds one press, from its request written to its answer
// read.
const pressTimeout = 10 * time.Second

// poster posts first, then each press it is handed, over one kept-alive
// connection to the presses' instance (dialled again after a failure).
// It is a plain HTTP/1.1 client on requests written beforehand: with
// net/http's client (a goroutine per press, its connection pool) this
// process took about 45 µs more CPU per press at 1,000/s, taken from the
// instances it measures (docs/benchmarks.md).
func (b *interactionsBench) poster(first signedPress, more <-chan signedPress) {
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for p, ok := first, true; ok; p, ok = <-more {
		if conn == nil {
			c, err := net.DialTimeout("tcp", b.addrs[p.instance], pressTimeout)
			if err != nil {
				b.failed(p.id, err)
				continue
			}
			conn, br = c, bufio.NewReader(c)
		}
		status, data, keep, err := post(conn, br, p.request)
		if err != nil || !keep {
			conn.Close()
			conn = nil
		}
		if err != nil {
			b.failed(p.id, err)
			continue
		}
		b.answered(p, status, data)
	}
}

// post writes request on conn and reads its response: the status, the
// body, and whether the connection may be used again.
func post(conn net.Conn, br *bufio.Reader, request []byte) (status int, body []byte, keep bool, err error) {
	if err := conn.SetDeadline(time.Now().Add(pressTimeout)); err != nil {
		return 0, nil, false, err
	}
	if _, err := conn.Write(request); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, false, err
	}
	return resp.StatusCode, body, !resp.Close, nil
}

// answered records a press's answer.
func (b *interactionsBench) answered(p signedPress, status int, data []byte) {
	d := time.Since(p.due)
	id := p.id
	var answer struct {
		Type int `json:"type"`
		Data struct {
			Content string `json:"content"`
		} `json:"data"`
	}
	var err error
	if status == http.StatusOK {
		err = json.Unmarshal(data, &answer)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.res.Presses++
	b.res.Statuses[fmt.Sprint(status)]++
	switch {
	case err != nil || status != http.StatusOK:
		b.res.Errors++
		b.errored = append(b.errored, id)
		if b.res.Errors <= 5 {
			b.log.Error("press failed", "status", status, "err", err, "body", string(data))
		}
		return
	case answer.Type == 5: // deferred: the answer is edited in later (classifyDeferred)
		b.res.Deferred++
		b.deferred = append(b.deferred, id)
	default:
		switch classifyPress(answer.Data.Content) {
		case pressAccepted:
			b.res.Accepted++
			b.accepted[id] = true
		case pressShed:
			b.res.Shed++
		default:
			b.res.Rejected++
		}
	}
	b.clientLat = append(b.clientLat, d)
}

func (b *interactionsBench) failed(id string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.res.Presses++
	b.res.Errors++
	b.errored = append(b.errored, id)
	if b.res.Errors <= 5 {
		b.log.Error("press failed", "err", err)
	}
}

// serverTimer times an instance's handler: from the request handed to
// it to the response written.
type serverTimer struct {
	h    http.Handler
	mu   sync.Mutex
	lat  []time.Duration
	slow []time.Time // when each press over slowPress began
}

// slowPress is the server latency from which a press is counted in
// InteractionsResult.SlowBySecond.
const slowPress = 5 * time.Millisecond

func (t *serverTimer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t.h.ServeHTTP(w, r)
	d := time.Since(start)
	t.mu.Lock()
	t.lat = append(t.lat, d)
	if d > slowPress {
		t.slow = append(t.slow, start)
	}
	t.mu.Unlock()
}

// slowBySecond counts the presses over slowPress in each second of the
// run that began at began, one count per element of counts.
func (t *serverTimer) slowBySecond(began time.Time, counts []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, at := range t.slow {
		if i := int(at.Sub(began) / time.Second); i >= 0 && i < len(counts) {
			counts[i]++
		}
	}
}

func (t *serverTimer) taken() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lat
}

// redisPID returns the process id of the Redis server behind rdb when it
// runs on this machine (its INFO's process_id is a process here named
// redis-server), 0 otherwise: a Redis Cluster, or one elsewhere.
func redisPID(ctx context.Context, rdb redis.UniversalClient) int {
	c, ok := rdb.(*redis.Client)
	if !ok {
		return 0
	}
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(v)
		if err != nil {
			return 0
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || !strings.HasPrefix(string(comm), "redis-server") {
			return 0
		}
		return pid
	}
	return 0
}

// cpuTimes reads the user + system CPU time of each process from
// /proc/<pid>/stat (a process it cannot read is left out).
func cpuTimes(procs map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name (field 2) is in parentheses and may hold
		// spaces: fields are counted after its closing parenthesis.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[name] = time.Duration(utime+stime) * time.Second / clockTicks
	}
	return out
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's
// times: 100 on every Linux architecture Go supports.
const clockTicks = 100

// loadAverage returns the first three fields of /proc/loadavg ("" where
// there is none).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
