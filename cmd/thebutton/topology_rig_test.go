package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/bench"
	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/discordkv"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// The machinery of TestTopology: the whole scaled-out deployment on
// loopback (a 3-node JetStream cluster, a Redis Cluster, MariaDB, the fake
// Discord and several `thebutton run` processes of the built binary), the
// players pressing, and what the test reads back from each part.

// topoPlan sizes a topology.
type topoPlan struct {
	instances int
	guilds    int
	games     int // spread over the guilds, at most 3 per guild
	players   int // members pressing, per guild
	shards    int // DISCORD_SHARDS
	leaseTTL  time.Duration
}

// topoRig is a running topology.
type topoRig struct {
	t      *testing.T
	plan   topoPlan
	bin    string
	nodes  *bench.Cluster
	redis  *redistest.Cluster
	prefix string
	dsn    string
	token  string
	pub    ed25519.PublicKey  // the application's key pair: the fake signs
	key    ed25519.PrivateKey // interactions, the instances verify them
	fake   *discordtest.Server
	lb     *interactionsLB
	insts  []*topoInstance
	guilds []*topoGuild
	logDir string // the processes' logs
	began  time.Time
	phases []string // what took how long

	// the test's own view of the stream, once the instances made it
	nc    *nats.Conn
	js    jetstream.JetStream
	store *natsstore.Store
	h     *commands.Handler
}

// topoGuild is a fake guild with its button channels and members.
type topoGuild struct {
	id       string
	admin    string
	channels []string
	players  []string
}

// topoGame is a started game and its message.
type topoGame struct {
	id      events.GameID
	guild   *topoGuild
	channel string
	message string
}

// topoInstance is one `thebutton run` process; its Discord REST calls go
// through its own tap, which records them.
type topoInstance struct {
	name     string // PROJECTOR_ID
	httpAddr string
	dataDir  string
	logPath  string
	tap      *apiTap
	cmd      *exec.Cmd
	killedAt time.Time
}

// startTopology starts every part of the topology and waits until every
// instance is ready, the shards are spread over them and the interactions
// endpoint answers behind the load balancer.
func startTopology(t *testing.T, plan topoPlan) *topoRig {
	t.Helper()
	r := &topoRig{t: t, plan: plan, token: "topology-token", logDir: keptDir(t, "thebutton-topology-"), began: time.Now()}
	r.startBackends()
	// Discord's limits; GET /gateway/bot recommends the plan's shards and
	// lets one identify per 5 s, as for most bots.
	r.fake = discordtest.New(t, discordtest.Options{Token: r.token, Shards: plan.shards, MaxConcurrency: 1})
	var err error
	if r.pub, r.key, err = ed25519.GenerateKey(nil); err != nil {
		t.Fatal(err)
	}
	r.addGuilds()
	r.startInstances()
	r.openStream()
	r.waitFor(90*time.Second, "every shard's session, the shards spread over the instances", func() bool {
		return r.shardsServed() && r.spread()
	})
	r.mark("shards spread")
	// Interactions come over HTTP, through a load balancer, to all of
	// them; Discord checks the endpoint when its URL is saved.
	r.lb = newInteractionsLB(t, r.insts, interactionsPath)
	r.fake.SetInteractionsEndpoint(r.lb.URL(), r.key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.fake.VerifyEndpoint(ctx); err != nil {
		t.Fatalf("the interactions endpoint behind the load balancer: %v", err)
	}
	return r
}

// startBackends starts the Redis Cluster, a MariaDB database and the
// 3-node JetStream cluster (child processes of the built binary).
func (r *topoRig) startBackends() {
	t := r.t
	// The build (unless an earlier test made the binary) and the Redis
	// Cluster take the longest: side by side.
	built := make(chan error, 1)
	go func() {
		var err error
		r.bin, err = sharedBinary()
		built <- err
	}()
	r.redis = redistest.StartCluster(t)
	r.mark("redis cluster")
	r.prefix = "topo:"
	r.dsn = mysqltest.DSN(t)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	r.mark("binary")
	nodesLog, err := os.Create(filepath.Join(r.logDir, "nats-nodes.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nodesLog.Close() })
	// A node of a machine under heavy load can miss the embedded server's
	// 10 s readiness and exit: the cluster is started once more then.
	for attempt := 1; ; attempt++ {
		r.nodes, err = bench.StartNodeCluster(context.Background(), r.bin, 3, 0, nodesLog)
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatal(err)
		}
		t.Logf("the NATS cluster did not start (%v): once more", err)
	}
	t.Cleanup(r.nodes.Stop)
	r.mark("nats cluster")
}

// startInstances starts the plan's `thebutton run` processes and waits
// until each is ready. The first makes the stream and the buckets; the
// others start together once it is ready. (Three first starts at once on
// a fresh cluster can each time out creating the R3 stream under load:
// JetStream's API timeout is 5 s and `run` exits on it.)
func (r *topoRig) startInstances() {
	for i := range r.plan.instances {
		r.insts = append(r.insts, r.newInstance(i+1))
	}
	r.t.Cleanup(r.stopInstances)
	r.start(r.insts[0])
	r.waitReady(r.insts[0], 90*time.Second)
	r.mark("first instance")
	for _, in := range r.insts[1:] {
		r.start(in)
	}
	for _, in := range r.insts[1:] {
		r.waitReady(in, 90*time.Second)
	}
	r.mark("the others")
}

// mark notes that a phase of the start ended.
func (r *topoRig) mark(phase string) {
	r.phases = append(r.phases, fmt.Sprintf("%s %s", phase, time.Since(r.began).Round(time.Millisecond)))
}

// addGuilds makes the guilds, each with up to 3 button channels, an admin
// and its players.
func (r *topoRig) addGuilds() {
	const permAdmin = int64(discordgo.PermissionManageGuild | discordgo.PermissionSendMessages | discordgo.PermissionViewChannel)
	const permPlayer = int64(discordgo.PermissionSendMessages | discordgo.PermissionViewChannel)
	perGuild := (r.plan.games + r.plan.guilds - 1) / r.plan.guilds
	if perGuild > 3 {
		r.t.Fatalf("%d games in %d guilds: more than 3 a guild", r.plan.games, r.plan.guilds)
	}
	for k := range r.plan.guilds {
		names := []string{"button-1", "button-2", "button-3"}[:perGuild]
		id, chans := r.addGuildOnShard(fmt.Sprintf("Topology %d", k), k%max(r.plan.shards, 1), names)
		g := &topoGuild{id: id, channels: chans, admin: r.fake.AddMember(id, "", "Admin", permAdmin)}
		for p := range r.plan.players {
			g.players = append(g.players, r.fake.AddMember(id, "", fmt.Sprintf("Player %d-%d", k, p), permPlayer))
		}
		r.guilds = append(r.guilds, g)
	}
}

// addGuildOnShard adds a guild whose id falls on the given shard, so the
// guilds spread over the shards as real ones do. The fake's snowflakes
// carry the millisecond they were made in, and a guild's shard is
// (id >> 22) % shards: it waits (a few ms at most) for a millisecond of
// the right shard. A guild that lands on another shard at a millisecond's
// edge stays unused.
func (r *topoRig) addGuildOnShard(name string, shard int, channels []string) (string, []string) {
	const discordEpoch = 1420070400000
	for {
		for (time.Now().UnixMilli()-discordEpoch)%int64(max(r.plan.shards, 1)) != int64(shard) {
			runtime.Gosched()
		}
		id, chans := r.fake.AddGuild(name, 10, channels...)
		if discordbot.ShardOf(id, r.plan.shards) == shard {
			return id, chans
		}
	}
}

func (r *topoRig) newInstance(n int) *topoInstance {
	name := fmt.Sprintf("topo-%d", n)
	return &topoInstance{name: name, httpAddr: opsFreeAddr(r.t), dataDir: r.t.TempDir(),
		logPath: filepath.Join(r.logDir, name+".log"), tap: newAPITap(r.t, r.fake.URL())}
}

// keptDir is a temporary folder removed when the test ends, unless it
// failed: then the logs in it stay for a look, and the test says where.
func keptDir(t *testing.T, pattern string) string {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// env is the environment of an instance: the whole topology by its
// conventional variables.
func (r *topoRig) env(in *topoInstance) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATA_DIR=" + in.dataDir, "HTTP_ADDR=" + in.httpAddr, "PROJECTOR_ID=" + in.name,
		"PROJECTOR_LEASE_TTL=" + r.plan.leaseTTL.String(),
		"NATS_URL=" + r.nodes.URLs, "NATS_REPLICAS=3",
		"REDIS_URL=" + r.redis.URL(), "REDIS_PREFIX=" + r.prefix, "MYSQL_DSN=" + r.dsn,
		"DISCORD_TOKEN=" + r.token, "DISCORD_API_URL=" + in.tap.URL(), "DISCORD_PUBLIC_KEY=" + hex.EncodeToString(r.pub),
		"DISCORD_SHARDS=" + strconv.Itoa(r.plan.shards),
		"LOG_LEVEL=info"}
}

func (r *topoRig) start(in *topoInstance) {
	logFile, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(r.bin, "run")
	cmd.Env = r.env(in)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	in.cmd = cmd
}

// kill sends SIGKILL to an instance and reaps it.
func (r *topoRig) kill(in *topoInstance) {
	if err := in.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	_ = in.cmd.Wait()
	in.killedAt = time.Now()
	in.cmd = nil
}

// stopInstances stops the live instances with SIGTERM, as a deploy does,
// and fails the test if one does not stop cleanly within its grace.
func (r *topoRig) stopInstances() {
	for _, in := range r.insts {
		if in.cmd != nil {
			_ = in.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, in := range r.insts {
		if in.cmd == nil {
			continue
		}
		done := make(chan error, 1)
		go func() { done <- in.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("%s after SIGTERM: %v\n%s", in.name, err, r.logTail(in))
			}
		case <-time.After(2 * shutdownGrace):
			_ = in.cmd.Process.Kill()
			<-done
			r.t.Errorf("%s still running %s after SIGTERM\n%s", in.name, 2*shutdownGrace, r.logTail(in))
		}
		in.cmd = nil
	}
}

func (r *topoRig) logTail(in *topoInstance) string {
	b, _ := os.ReadFile(in.logPath)
	return fmt.Sprintf("--- %s log (tail) ---\n%s", in.name, tail(string(b), 6000))
}

// dumpLogs logs every instance's log tail when the test failed.
func (r *topoRig) dumpLogs() {
	if !r.t.Failed() {
		return
	}
	for _, in := range r.insts {
		r.t.Log(r.logTail(in))
	}
}

func (r *topoRig) live() []*topoInstance {
	var out []*topoInstance
	for _, in := range r.insts {
		if in.cmd != nil {
			out = append(out, in)
		}
	}
	return out
}

// waitReady waits for an instance's /readyz to answer 200.
func (r *topoRig) waitReady(in *topoInstance, within time.Duration) {
	r.t.Helper()
	var last string
	testwait.For(r.t, within, func() bool {
		code, body, err := opsHttpGet("http://" + in.httpAddr + "/readyz")
		last = fmt.Sprint(code, " ", body, err)
		return code == http.StatusOK
	}, func() string { return fmt.Sprintf("%s not ready: %s\n%s", in.name, last, r.logTail(in)) })
}

// waitFor polls cond until it holds, and fails the test with every
// instance's log if it does not within the given time. It returns how
// long it waited.
func (r *topoRig) waitFor(within time.Duration, what string, cond func() bool) time.Duration {
	r.t.Helper()
	start := time.Now()
	if !testwait.Until(within, cond) {
		r.dumpLogsNow()
		r.t.Fatalf("waiting %s for %s", within, what)
	}
	return time.Since(start)
}

func (r *topoRig) dumpLogsNow() {
	for _, in := range r.insts {
		r.t.Log(r.logTail(in))
	}
}

// openStream connects the test to the cluster: a command handler of its
// own starts the games (presses come from the players only).
func (r *topoRig) openStream() {
	ctx := context.Background()
	var err error
	if r.nc, err = nats.Connect(r.nodes.URLs); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.nc.Close)
	if r.js, err = jetstream.New(r.nc); err != nil {
		r.t.Fatal(err)
	}
	if r.store, err = natsstore.Open(ctx, r.js, natsstore.Config{Replicas: 3}); err != nil {
		r.t.Fatal(err)
	}
	r.h = commands.NewHandler(r.store, commands.SystemClock{}, nil)
	if err := r.h.Open(ctx); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.h.Close)
}

// startGames starts the plan's games, round-robin over the guilds' button
// channels, every other one with the sequential rule (N = 2), and waits
// for every game message.
func (r *topoRig) startGames(ctx context.Context, duration, cooldown time.Duration) []*topoGame {
	r.t.Helper()
	var games []*topoGame
	for k := range r.plan.games {
		g := r.guilds[k%len(r.guilds)]
		ch := g.channels[k/len(r.guilds)]
		st, err := r.h.StartGame(ctx, commands.StartGame{Guild: g.id, Channel: ch, By: g.admin, ByName: "Admin",
			Duration: duration, Cooldown: cooldown, Sequential: 2 * (k % 2)})
		if err != nil {
			r.t.Fatal(err)
		}
		games = append(games, &topoGame{id: st.Game, guild: g, channel: ch})
	}
	var missing int
	testwait.For(r.t, 60*time.Second, func() bool {
		missing = 0
		for _, g := range games {
			if g.message == "" {
				st, ok, err := r.h.Game(ctx, g.id)
				if err == nil && ok {
					g.message = st.MessageID
				}
			}
			if g.message == "" {
				missing++
			}
		}
		return missing == 0
	}, func() string { return fmt.Sprintf("%d of %d game messages never posted", missing, len(games)) })
	return games
}

// shardsServed reports whether every shard has exactly one gateway
// session at the fake Discord (and no session is unsharded).
func (r *topoRig) shardsServed() bool {
	sessions := r.fake.ShardSessions()
	for k := range r.plan.shards {
		if sessions[k] != 1 {
			return false
		}
	}
	return len(sessions) == r.plan.shards
}

// shardHolders returns the shard leases: shard → holder (the instance's
// PROJECTOR_ID).
func (r *topoRig) shardHolders(ctx context.Context) map[int]string {
	out := map[int]string{}
	if r.js == nil {
		return out
	}
	kv, err := r.js.KeyValue(ctx, discordkv.DefaultBucket)
	if err != nil {
		return out
	}
	for k := range r.plan.shards {
		e, err := kv.Get(ctx, fmt.Sprintf("shard.%d.%d", r.plan.shards, k))
		if err != nil {
			continue
		}
		var v struct{ Holder string }
		if json.Unmarshal(e.Value(), &v) == nil {
			out[k] = v.Holder
		}
	}
	return out
}

// spread reports whether the live instances hold the shards evenly (their
// fair share: each at most ceil(shards / live)).
func (r *topoRig) spread() bool {
	held := r.shardHolders(context.Background())
	if len(held) != r.plan.shards {
		return false
	}
	live := r.live()
	share := (r.plan.shards + len(live) - 1) / len(live)
	per := map[string]int{}
	for _, h := range held {
		per[h]++
	}
	for _, in := range live {
		if per[in.name] > share {
			return false
		}
		delete(per, in.name)
	}
	return len(per) == 0 // no shard held by anyone else
}

// leaseHolders returns the projection leases: projection → holder.
func (r *topoRig) leaseHolders(ctx context.Context) map[string]string {
	out := map[string]string{}
	kv, err := r.js.KeyValue(ctx, projector.DefaultLeaseBucket)
	if err != nil {
		return out
	}
	keys, err := kv.Keys(ctx)
	if err != nil {
		return out
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "lease.") {
			continue
		}
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var v struct{ Holder string }
		if json.Unmarshal(e.Value(), &v) == nil {
			out[strings.TrimPrefix(k, "lease.")] = v.Holder
		}
	}
	return out
}

// history reads the whole stream and returns each game's records.
func (r *topoRig) history(ctx context.Context) map[events.GameID][]events.Recorded {
	r.t.Helper()
	last, err := r.store.LastSeq(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	all, err := projector.ReadAll(ctx, r.store.Feed(), last)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[events.GameID][]events.Recorded{}
	for _, rec := range all {
		var id events.GameID
		if _, err := fmt.Sscanf(rec.Subject, "button.game.%d", &id); err == nil {
			out[id] = append(out[id], rec)
		}
	}
	return out
}

// verify runs `thebutton verify` of the built binary on the topology.
func (r *topoRig) verify(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, r.bin, "verify", "--wait", "60s")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "DATA_DIR=" + r.t.TempDir(),
		"NATS_URL=" + r.nodes.URLs, "NATS_REPLICAS=3", "REDIS_URL=" + r.redis.URL(), "REDIS_PREFIX=" + r.prefix,
		"MYSQL_DSN=" + r.dsn, "LOG_LEVEL=warn"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// apiTap is an instance's way to the fake Discord: a reverse proxy that
// records every REST call the instance makes (DISCORD_API_URL points at
// it), so the test knows which instance made which call. The gateway's
// websocket goes to the fake directly.
type apiTap struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []tapCall
}

// tapCall is one REST call as the tap saw it: from the request's arrival
// to the end of its response.
type tapCall struct {
	Method, Path string
	Start, End   time.Time
	Status       int
}

func newAPITap(t *testing.T, target string) *apiTap {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tap := &apiTap{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	tap.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		c := tapCall{Method: req.Method, Path: req.URL.Path, Start: time.Now()}
		proxy.ServeHTTP(rec, req)
		c.End, c.Status = time.Now(), rec.status
		tap.mu.Lock()
		tap.calls = append(tap.calls, c)
		tap.mu.Unlock()
	}))
	t.Cleanup(tap.srv.Close)
	return tap
}

func (a *apiTap) URL() string { return a.srv.URL }

func (a *apiTap) Calls() []tapCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// rateLimited describes the calls the fake answered 429, with the
// instances that made such calls.
func (r *topoRig) rateLimited() []string {
	var out []string
	for _, c := range r.fake.RateLimited() {
		var by []string
		for _, in := range r.insts {
			for _, tc := range in.tap.Calls() {
				if tc.Status == http.StatusTooManyRequests && strings.HasSuffix(tc.Path, c.Path) && !tc.End.Before(c.At) && tc.Start.Before(c.At.Add(time.Millisecond)) {
					by = append(by, in.name)
					break
				}
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s (bucket %s, global %v) by %v", c.At.Format("15:04:05.000"), c.Method, c.Path, c.Bucket, c.Global, by))
	}
	return out
}

// messageEdit matches an edit of a channel's message.
var messageEdit = regexp.MustCompile(`^/api/v\d+/channels/(\d+)/messages/\d+$`)

// editClashes returns the edits of a game message (a channel in
// channels) by two instances at once: one instance's edit in flight while
// another's starts, or two instances' edits of one channel less than
// within apart — one owner never edits a channel's messages more often
// than the updater's EditInterval (2 s). It also counts the edits and how
// often the editing instance changed in a channel.
func editClashes(insts []*topoInstance, channels map[string]bool, within time.Duration) (clashes []string, switches, edits int) {
	type edit struct {
		inst       string
		start, end time.Time
	}
	byChan := map[string][]edit{}
	for _, in := range insts {
		for _, c := range in.tap.Calls() {
			m := messageEdit.FindStringSubmatch(c.Path)
			if c.Method != http.MethodPatch || m == nil || !channels[m[1]] {
				continue
			}
			byChan[m[1]] = append(byChan[m[1]], edit{in.name, c.Start, c.End})
			edits++
		}
	}
	for ch, es := range byChan {
		sort.Slice(es, func(i, j int) bool { return es[i].start.Before(es[j].start) })
		for i := 1; i < len(es); i++ {
			if es[i].inst != es[i-1].inst {
				switches++
			}
			for _, prev := range es[:i] {
				if prev.inst != es[i].inst && (prev.end.After(es[i].start) || es[i].start.Sub(prev.start) < within) {
					clashes = append(clashes, fmt.Sprintf("channel %s: %s edited at %s, %s at %s–%s", ch,
						es[i].inst, es[i].start.Format("15:04:05.000"), prev.inst,
						prev.start.Format("15:04:05.000"), prev.end.Format("15:04:05.000")))
				}
			}
		}
	}
	return clashes, switches, edits
}

// pressLoad is the players pressing: presses at a steady rate on random
// games by random members of each game's guild, each waiting for its
// answer.
type pressLoad struct {
	fake    *discordtest.Server
	games   []*topoGame
	started time.Time

	mu      sync.Mutex
	presses []*topoPress
	took    time.Duration // to send them all
	wg      sync.WaitGroup
}

// topoPress is one press and what its presser was told.
type topoPress struct {
	game     *topoGame
	user     string
	at       time.Time
	i        *discordtest.Interaction
	answer   discordtest.Answer
	err      error // no answer
	answered time.Time
}

// startPresses presses at rate per second for d, in the background.
func startPresses(fake *discordtest.Server, games []*topoGame, rate int, d time.Duration) *pressLoad {
	l := &pressLoad{fake: fake, games: games, started: time.Now()}
	rng := rand.New(rand.NewPCG(13, 5))
	n := int(d.Seconds() * float64(rate))
	l.wg.Go(func() {
		// Every tick sends the presses due by then: a busy machine delays
		// presses but does not drop them, so every run makes n.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for k := 0; k < n; k++ {
			for time.Since(l.started) < time.Duration(k)*time.Second/time.Duration(rate) {
				<-tick.C
			}
			g := games[rng.IntN(len(games))]
			p := &topoPress{game: g, user: g.guild.players[rng.IntN(len(g.guild.players))]}
			l.mu.Lock()
			l.presses = append(l.presses, p)
			l.mu.Unlock()
			l.wg.Go(func() { l.press(p) })
		}
		l.mu.Lock()
		l.took = time.Since(l.started)
		l.mu.Unlock()
	})
	return l
}

func (l *pressLoad) press(p *topoPress) {
	p.at = time.Now()
	p.i = l.fake.Press(p.game.guild.id, p.game.channel, p.user, discordbot.PressID(p.game.id), p.game.message)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p.answer, p.err = p.i.Wait(ctx)
	p.answered = time.Now()
}

// wait waits for every press's answer (or its time-out).
func (l *pressLoad) wait() []*topoPress {
	l.wg.Wait()
	return l.presses
}

// elapsed reports whether the load has gone on for d.
func (l *pressLoad) elapsed(d time.Duration) bool { return time.Since(l.started) >= d }

// Verdicts of a press, from its answer.
const (
	verdictAccepted = "accepted"
	verdictRefused  = "refused"
	verdictUnknown  = "unknown" // the service said it cannot tell
	verdictNone     = "no answer"
)

// verdict classifies what the presser was told (discordbot/press.go's
// texts): an accepted click names its colour and the time put back; the
// service's "may not have been recorded" and "cannot tell yet" are
// unknown; every other answer is a refusal.
func (p *topoPress) verdict() string {
	switch c := p.answer.Content; {
	case p.err != nil:
		return verdictNone
	case strings.Contains(c, " click!** You pressed game #"):
		return verdictAccepted
	case strings.Contains(c, "may not have been recorded"), strings.Contains(c, "cannot tell yet"):
		return verdictUnknown
	}
	return verdictRefused
}

// checkPresses compares what the players were told with the stream: an
// accepted press is stored exactly once, a refused one not at all, an
// unknown or unanswered one at most once, and nothing is stored that no
// player pressed. It returns the count of each verdict.
func checkPresses(t *testing.T, presses []*topoPress, hist map[events.GameID][]events.Recorded) map[string]int {
	t.Helper()
	stored := map[string]int{}
	for _, recs := range hist {
		for _, rec := range recs {
			if c, ok := rec.Event.(events.ButtonClicked); ok {
				stored[c.Interaction]++
			}
		}
	}
	counts := map[string]int{}
	pressed := map[string]bool{}
	var bad []string
	for _, p := range presses {
		v := p.verdict()
		counts[v]++
		id := p.i.ID
		pressed[id] = true
		n := stored[id]
		switch {
		case v == verdictAccepted && n != 1:
			bad = append(bad, fmt.Sprintf("press %s on game %d answered accepted, stored %d times", id, p.game.id, n))
		case v == verdictRefused && n != 0:
			bad = append(bad, fmt.Sprintf("press %s on game %d answered %q, stored %d times", id, p.game.id, p.answer.Content, n))
		case n > 1:
			bad = append(bad, fmt.Sprintf("press %s on game %d (%s) stored %d times", id, p.game.id, v, n))
		}
	}
	for id := range stored {
		if !pressed[id] {
			bad = append(bad, fmt.Sprintf("click of interaction %s stored, never pressed", id))
		}
	}
	for i, b := range bad {
		if i == 20 {
			t.Errorf("… and %d more", len(bad)-20)
			break
		}
		t.Error(b)
	}
	return counts
}

// answerTexts counts the answers of the presses that were not accepted,
// by their first words.
func answerTexts(presses []*topoPress) map[string]int {
	out := map[string]int{}
	for _, p := range presses {
		switch v := p.verdict(); v {
		case verdictAccepted:
		case verdictNone:
			out[v]++
		default:
			words := strings.Fields(p.answer.Content)
			out[strings.Join(words[:min(4, len(words))], " ")]++
		}
	}
	return out
}

// answerLatencies returns the p50 and p99 of the time from a press to its
// answer, over the answered presses.
func answerLatencies(presses []*topoPress) (p50, p99 time.Duration) {
	var ds []time.Duration
	for _, p := range presses {
		if p.err == nil {
			ds = append(ds, p.answered.Sub(p.at))
		}
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
}

// interactionsLB is the load balancer in front of the instances' HTTP
// interactions endpoints, as a deployment has one: requests go round-robin;
// one that an instance does not answer (connection refused or reset: it
// was killed) goes to the next instance with the same body and headers —
// safe, since a press counts once by its interaction id. It records how
// many requests each instance answered and how many went to another.
type interactionsLB struct {
	srv    *httptest.Server
	insts  []*topoInstance
	path   string
	client *http.Client

	mu       sync.Mutex
	next     int
	answered map[string]int
	failover int
}

func newInteractionsLB(t *testing.T, insts []*topoInstance, path string) *interactionsLB {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	lb := &interactionsLB{insts: insts, path: path, answered: map[string]int{}, client: &http.Client{Transport: tr}}
	lb.srv = httptest.NewServer(http.HandlerFunc(lb.serve))
	t.Cleanup(lb.srv.Close)
	t.Cleanup(tr.CloseIdleConnections)
	return lb
}

// URL is the endpoint's address, for the fake Discord.
func (lb *interactionsLB) URL() string { return lb.srv.URL + lb.path }

func (lb *interactionsLB) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	lb.mu.Lock()
	first := lb.next
	lb.next = (lb.next + 1) % len(lb.insts)
	lb.mu.Unlock()
	var last error
	for k := range lb.insts {
		in := lb.insts[(first+k)%len(lb.insts)]
		out, err := http.NewRequestWithContext(req.Context(), http.MethodPost, "http://"+in.httpAddr+lb.path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.Header = req.Header.Clone()
		resp, err := lb.client.Do(out)
		if err != nil {
			last = err
			if req.Context().Err() != nil {
				break
			}
			lb.mu.Lock()
			lb.failover++
			lb.mu.Unlock()
			continue
		}
		lb.mu.Lock()
		lb.answered[in.name]++
		lb.mu.Unlock()
		for _, h := range []string{"Content-Type", "Content-Length"} {
			if v := resp.Header.Get(h); v != "" {
				w.Header().Set(h, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, fmt.Sprintf("no instance answered: %v", last), http.StatusBadGateway)
}

// stats returns the requests each instance answered and how many went to
// another instance after one did not answer.
func (lb *interactionsLB) stats() (answered map[string]int, failover int) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return maps.Clone(lb.answered), lb.failover
}
