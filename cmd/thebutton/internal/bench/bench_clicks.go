package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
)

// ClicksResult is what `bench clicks` prints. Latencies are of one press:
// decision plus durable append, including any wait inside the handler
// (and, open loop, from the moment the press was due).
type ClicksResult struct {
	Players      int            `json:"players"`
	Games        int            `json:"games"`
	Instances    int            `json:"instances"`
	DurationS    float64        `json:"duration_s"`
	Rate         int            `json:"rate,omitempty"`
	Presses      int            `json:"presses"`
	Accepted     int            `json:"accepted"`
	Rejected     int            `json:"rejected"`
	RejectedBy   map[string]int `json:"rejected_by,omitempty"`
	Errors       int            `json:"errors"`
	Conflicts    uint64         `json:"conflicts"`
	ClicksPerSec float64        `json:"clicks_per_sec"`
	P50MS        float64        `json:"p50_ms"`
	P99MS        float64        `json:"p99_ms"`
	MaxMS        float64        `json:"max_ms"`
	PublishP50MS float64        `json:"publish_p50_ms"`
	PublishP99MS float64        `json:"publish_p99_ms"`
	RulesBroken  int            `json:"rules_broken"`
	NATS         string         `json:"nats"`
	// Against the stored stream, after the run: accepted presses not
	// stored, and stored clicks not answered accepted (ghost clicks).
	Lost  int `json:"lost"`
	Ghost int `json:"ghost"`
	// MaxAnswerMS is the longest answer of any press, errors included.
	MaxAnswerMS float64 `json:"max_answer_ms"`
	// Cluster mode: the node killed (SIGKILL) and when.
	Cluster     int     `json:"cluster,omitempty"`
	Killed      string  `json:"killed,omitempty"`
	KilledAtS   float64 `json:"killed_at_s,omitempty"`
	AtomicBatch bool    `json:"atomic_batch"`
	SyncSetting string  `json:"nats_sync,omitempty"`
}

func runBenchClicks(ctx context.Context, a *Env, args []string) error {
	fs := newFlagSet(a, "bench clicks", "bench clicks --players P --games G --instances K --duration D [--rate R]")
	players := fs.Int("players", 200, "simulated players")
	games := fs.Int("games", 1, "games pressed at once (cooldown 0, no sequential rule)")
	instances := fs.Int("instances", 1, "independent command handlers racing on the same games")
	duration := fs.Duration("duration", 10*time.Second, "how long presses go on")
	rate := fs.Int("rate", 0, "presses per second, open loop; 0 = closed loop, as fast as possible")
	cluster := fs.Int("cluster", 0, "start a JetStream cluster of this many nodes (child processes on loopback), the stream replicated on all")
	killAt := fs.Duration("kill-leader-at", 0, "with --cluster: SIGKILL the stream leader's node this long into the run")
	serveNode := fs.String("serve-node", "", "internal: run one cluster node (JSON options) until killed")
	openGames := fs.Int("open-games", 0, "instead of pressing: seed this many active games into a scratch store and time a handler's start on them")
	openEvents := fs.Int("open-events", 0, "with --open-games: events in all (a start and clicks per game)")
	s := a.w.Flags(fs, Flags{NATS: true})
	if err := parseFlags(a, fs, args, func() error {
		if *serveNode != "" {
			return nil
		}
		var problems []error
		if *players < 1 || *games < 1 || *instances < 1 || *duration <= 0 || *rate < 0 {
			problems = append(problems, errors.New("players, games, instances and duration must be positive, rate not negative"))
		}
		if *cluster < 0 || *cluster == 1 || *cluster > 5 || *killAt < 0 || (*killAt > 0 && *cluster < 3) {
			problems = append(problems, errors.New("--cluster takes 0 (no cluster) or 2 to 5 nodes (a one-node cluster elects no JetStream leader); --kill-leader-at needs --cluster 3 or more"))
		}
		return errors.Join(append(problems, s.Check())...)
	}); err != nil {
		return err
	}
	if *serveNode != "" {
		return serveClusterNode(ctx, *serveNode)
	}
	c := s.Config()
	log := c.Log
	var nodes *Cluster
	if *cluster > 0 {
		var err error
		if nodes, err = startBenchCluster(ctx, *cluster, 0); err != nil {
			return err
		}
		defer nodes.Stop()
		c.NATS.URL, c.NATS.Replicas = nodes.URLs, *cluster
	} else if c.NATS.URL == "" {
		// A scratch store: the bench never touches the service's data.
		cleanup, err := benchDir(&c.NATS, false, log)
		if err != nil {
			return err
		}
		defer cleanup()
	} else {
		log.Warn("benchmarking against NATS_URL: bench games are written to its stream", "stream", c.NATS.Stream)
	}

	conns := make([]*Conn, *instances)
	handlers := make([]*commands.Handler, *instances)
	first, err := a.w.OpenNATS(ctx, c.NATS, log)
	if err != nil {
		return err
	}
	defer first.Close()
	conns[0] = first
	for i := 1; i < *instances; i++ {
		// Own connection to the same server, own in-memory state.
		cn := c.NATS
		cn.URL = first.URL
		if conns[i], err = a.w.OpenNATS(ctx, cn, log); err != nil {
			return err
		}
		defer conns[i].Close()
	}
	if *openGames > 0 {
		// A fresh connection, as `run` has, and no other instance watching.
		cn := c.NATS
		cn.URL = first.URL
		fresh, err := a.w.OpenNATS(ctx, cn, log)
		if err != nil {
			return err
		}
		defer fresh.Close()
		return benchOpen(ctx, a, log, first.JS, fresh.Store, *openGames, max(*openEvents, *openGames))
	}
	for i, n := range conns {
		handlers[i] = commands.NewHandler(n.Store, commands.SystemClock{}, log)
		if err := handlers[i].Open(ctx); err != nil {
			return err
		}
		defer handlers[i].Close()
	}

	ids := make([]events.GameID, *games)
	base := rand.Int64N(1 << 40)
	for i := range ids {
		g, err := handlers[0].StartGame(ctx, commands.StartGame{
			Guild: "1", Channel: fmt.Sprint(base + int64(i)), By: "2",
			Duration: 12 * time.Hour, Cooldown: 0,
		})
		if err != nil {
			return fmt.Errorf("start bench game: %w", err)
		}
		ids[i] = g.Game
	}

	pubP50, pubP99, err := publishFloor(ctx, first.JS, *rate)
	if err != nil {
		return err
	}

	res := ClicksResult{Players: *players, Games: *games, Instances: *instances, Rate: *rate,
		RejectedBy: map[string]int{}, NATS: first.URL, PublishP50MS: pubP50, PublishP99MS: pubP99,
		Cluster: *cluster, AtomicBatch: first.Store.CanBatch(), SyncSetting: c.NATS.Sync}
	var mu sync.Mutex
	var lat []time.Duration
	var seq atomic.Int64
	accepted := map[string]bool{}
	press := func(player int, due time.Time) {
		n := seq.Add(1)
		h := handlers[player%len(handlers)]
		game := ids[rand.IntN(len(ids))]
		inter := fmt.Sprintf("bench-%d-%d", base, n)
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second) // the bot's answer budget
		c, err := h.Press(pctx, commands.Press{
			Game: game, Guild: "1", User: fmt.Sprint(1000 + player),
			Interaction: inter, At: time.Now(),
		})
		cancel()
		d := time.Since(due)
		mu.Lock()
		defer mu.Unlock()
		res.Presses++
		res.MaxAnswerMS = max(res.MaxAnswerMS, float64(d.Microseconds())/1000)
		switch rej, ok := commands.AsRejection(err); {
		case err == nil:
			res.Accepted++
			if !c.Duplicate {
				accepted[inter] = true
			}
			lat = append(lat, d)
		case ok:
			res.Rejected++
			res.RejectedBy[string(rej.Reason)]++
			lat = append(lat, d)
		case ctx.Err() == nil:
			res.Errors++
			if res.Errors <= 5 {
				log.Error("press failed", "err", err)
			}
		}
	}

	began := time.Now()
	end := began.Add(*duration)
	var wg sync.WaitGroup
	if *killAt > 0 {
		timer := time.AfterFunc(*killAt, func() {
			name, err := nodes.killLeader(ctx, first.Store)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				log.Error("kill the stream leader", "err", err)
				return
			}
			res.Killed, res.KilledAtS = name, time.Since(began).Seconds()
			log.Info("stream leader killed", "node", name)
		})
		defer timer.Stop()
	}
	if *rate == 0 {
		for p := range *players {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(end) {
					press(p, time.Now())
				}
			})
		}
	} else {
		interval := time.Second / time.Duration(*rate)
		for k := 0; ; k++ {
			due := began.Add(time.Duration(k) * interval)
			if !due.Before(end) || ctx.Err() != nil {
				break
			}
			if w := time.Until(due); w > 0 {
				time.Sleep(w)
			}
			wg.Go(func() { press(k%*players, time.Now()) })
		}
	}
	wg.Wait()
	elapsed := time.Since(began)

	for _, h := range handlers {
		res.Conflicts += h.Stats().Conflicts
	}
	res.DurationS = elapsed.Seconds()
	res.ClicksPerSec = float64(res.Accepted) / elapsed.Seconds()
	res.P50MS, res.P99MS, res.MaxMS = percentileMS(lat, 0.50), percentileMS(lat, 0.99), percentileMS(lat, 1)
	au, err := auditBench(ctx, first.Store, ids, accepted, log)
	if err != nil {
		return err
	}
	res.RulesBroken, res.Ghost, res.Lost = au.rulesBroken, len(au.ghosts), au.lost
	return printJSON(a.stdout, res)
}

// benchAudit is what the stored stream says of a bench run.
type benchAudit struct {
	rulesBroken int      // commands.Audit's problems: the rules re-checked on the stream
	ghosts      []string // the interactions of stored clicks not answered accepted
	lost        int      // presses answered accepted but not stored
}

// auditBench re-checks the rules on every bench game's stored history and
// compares its clicks with the interactions answered accepted (it empties
// accepted).
func auditBench(ctx context.Context, store *natsstore.Store, ids []events.GameID, accepted map[string]bool,
	log *slog.Logger) (benchAudit, error) {
	var au benchAudit
	for _, id := range ids {
		recs, err := store.Load(ctx, events.GameSubject(id), 0)
		if err != nil {
			return au, err
		}
		for _, p := range commands.Audit(recs) {
			au.rulesBroken++
			log.Error("rule broken", "game", id, "problem", p)
		}
		for _, r := range recs {
			if c, ok := r.Event.(events.ButtonClicked); ok {
				if !accepted[c.Interaction] {
					au.ghosts = append(au.ghosts, c.Interaction)
				}
				delete(accepted, c.Interaction)
			}
		}
	}
	au.lost = len(accepted)
	return au, nil
}

// publishFloor measures a bare JetStream publish on the same server: the
// floor a press cannot beat. Open loop (rate > 0) the publishes arrive
// like the presses, one goroutine each at that rate; closed loop they run
// back to back. It uses a scratch stream, deleted afterwards.
func publishFloor(ctx context.Context, js jetstream.JetStream, rate int) (p50, p99 float64, err error) {
	name := fmt.Sprintf("BENCH_FLOOR_%d", rand.Int64N(1<<40))
	subject := "bench_floor." + name
	cfg := natsstore.StreamConfig(natsstore.Config{Stream: name})
	cfg.Subjects = []string{subject}
	cfg.DenyDelete, cfg.DenyPurge = false, false
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return 0, 0, fmt.Errorf("publish floor: %w", err)
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), name) }()
	payload := make([]byte, 300) // about a click event's size
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	publish := func(i int) {
		t := time.Now()
		_, err := js.Publish(ctx, subject, payload, jetstream.WithMsgID(fmt.Sprint(i)))
		d := time.Since(t)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		lat = append(lat, d)
	}
	n := 2000
	if rate > 0 {
		n = min(n, 2*rate) // at most two seconds
		interval := time.Second / time.Duration(rate)
		began := time.Now()
		for i := range n {
			if w := time.Until(began.Add(time.Duration(i) * interval)); w > 0 {
				time.Sleep(w)
			}
			wg.Go(func() { publish(i) })
		}
		wg.Wait()
	} else {
		for i := range n {
			publish(i)
		}
	}
	if len(errs) > 0 {
		return 0, 0, fmt.Errorf("publish floor: %d publishes failed: %w", len(errs), errs[0])
	}
	return percentileMS(lat, 0.5), percentileMS(lat, 0.99), nil
}

// percentileMS returns the q-quantile of ds in milliseconds (q = 1: max).
func percentileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q * float64(len(s)-1))
	return float64(s[i].Microseconds()) / 1000
}
