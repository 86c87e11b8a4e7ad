package commands_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
	"github.com/thebutton-game/thebutton/internal/freeport"
)

// Chaos cases: servers started here on loopback ports, a fault in the
// middle of an open-loop load, then the stored stream re-checked on its
// own: the rules hold (Audit), every press answered accepted is stored,
// nothing is stored that was not answered accepted (no ghost click).

// chaosStore connects to urls (reconnecting for ever) and opens the store.
func chaosStore(t *testing.T, urls string, replicas int) *natsstore.Store {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var store *natsstore.Store
	waitFor(t, "the stream to open", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		store, err = natsstore.Open(ctx, js, natsstore.Config{Replicas: replicas})
		return err == nil
	})
	return store
}

// outcome is how one press was answered.
type outcome struct {
	game    events.GameID
	err     error
	click   commands.Click
	elapsed time.Duration
}

// pressLoad presses games at rate per second for dur from the handlers in
// turn, each press with the bot's budget, calling fault once at faultAt.
// It returns every press's answer by interaction id.
func pressLoad(t *testing.T, hs []*commands.Handler, ids []events.GameID, rate int, dur, faultAt time.Duration, fault func()) map[string]outcome {
	t.Helper()
	var mu sync.Mutex
	out := map[string]outcome{}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	faultTimer := time.NewTimer(faultAt)
	defer faultTimer.Stop()
	end := time.NewTimer(dur)
	defer end.Stop()
	for n := 0; ; n++ {
		select {
		case <-end.C:
			wg.Wait()
			return out
		case <-faultTimer.C:
			wg.Go(fault)
			n--
			continue
		case <-tick.C:
		}
		h, game := hs[n%len(hs)], ids[n%len(ids)]
		inter := fmt.Sprintf("c%d", n)
		user := fmt.Sprint(100000 + n)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // the bot's answer budget
			defer cancel()
			began := time.Now()
			c, err := h.Press(ctx, commands.Press{Game: game, Guild: "10", User: user, Interaction: inter})
			mu.Lock()
			out[inter] = outcome{game: game, err: err, click: c, elapsed: time.Since(began)}
			mu.Unlock()
		})
	}
}

// checkStored re-reads every game from a store of its own and compares
// with the answers. It returns how many presses were answered with an
// error (not a refusal), and how many of those were not ErrContention
// (a press that waited too long for its game: truthfully not recorded).
func checkStored(t *testing.T, store *natsstore.Store, ids []events.GameID, answers map[string]outcome) (errs, hard int, slowest time.Duration) {
	t.Helper()
	stored := map[string]events.GameID{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range ids {
		recs, err := store.Load(ctx, events.GameSubject(id), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range commands.Audit(recs) {
			t.Errorf("game %d: %s", id, p)
		}
		for _, r := range recs {
			if c, ok := r.Event.(events.ButtonClicked); ok {
				if _, twice := stored[c.Interaction]; twice {
					t.Errorf("interaction %s stored twice", c.Interaction)
				}
				stored[c.Interaction] = id
			}
		}
	}
	accepted, refused := 0, 0
	for inter, o := range answers {
		slowest = max(slowest, o.elapsed)
		_, isStored := stored[inter]
		_, isRefusal := commands.AsRejection(o.err)
		switch {
		case o.err == nil:
			accepted++
			if !isStored {
				t.Errorf("press %s answered accepted (click %d) is not stored", inter, o.click.Number)
			}
		case isRefusal:
			refused++
			if isStored {
				t.Errorf("press %s answered refused (%v) is stored", inter, o.err)
			}
		default:
			errs++
			if isStored && !errors.Is(o.err, commands.ErrOutcomeUnknown) {
				t.Errorf("ghost click: press %s answered with an error (%v) is stored", inter, o.err)
			}
			if !errors.Is(o.err, commands.ErrContention) {
				hard++
				t.Logf("press %s: %v", inter, o.err)
			}
		}
	}
	for inter := range stored {
		if _, answered := answers[inter]; !answered {
			t.Errorf("stored click %s was never pressed", inter)
		}
	}
	if accepted != len(stored) {
		t.Errorf("%d presses answered accepted, %d clicks stored", accepted, len(stored))
	}
	t.Logf("%d presses: %d accepted = %d stored, %d refused, %d errors; slowest answer %v",
		len(answers), accepted, len(stored), refused, errs, slowest)
	return errs, hard, slowest
}

func startGames(t *testing.T, h *commands.Handler, n int) []events.GameID {
	t.Helper()
	var ids []events.GameID
	for i := range n {
		ids = append(ids, start(t, h, commands.StartGame{Channel: fmt.Sprint(500 + i), Duration: time.Hour}).Game)
	}
	return ids
}

func openHandler(t *testing.T, store *natsstore.Store) *commands.Handler {
	t.Helper()
	h := commands.NewHandler(store, nil, nil)
	waitFor(t, "a handler to open", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return h.Open(ctx) == nil
	})
	t.Cleanup(h.Close)
	return h
}

// The NATS server is stopped mid-load and restarted 2 s later on the same
// store directory and port.
func TestChaosServerRestart(t *testing.T) {
	dir, port := t.TempDir(), freeport.ForTest(t)
	opts := embedded.Options{Dir: dir, Port: port, SyncAlways: true}
	srv, err := embedded.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	t.Cleanup(func() { mu.Lock(); srv.Shutdown(); mu.Unlock() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	hs := []*commands.Handler{openHandler(t, chaosStore(t, url, 1)), openHandler(t, chaosStore(t, url, 1))}
	ids := startGames(t, hs[0], 5)

	answers := pressLoad(t, hs, ids, 200, 8*time.Second, 2*time.Second, func() {
		mu.Lock()
		defer mu.Unlock()
		srv.Shutdown()
		restart := time.NewTimer(2 * time.Second)
		defer restart.Stop()
		<-restart.C
		var err error
		if srv, err = embedded.Start(opts); err != nil {
			t.Errorf("restart: %v", err)
		}
	})
	errs, hard, slowest := checkStored(t, chaosStore(t, url, 1), ids, answers)
	t.Logf("restart: %d errors (%d other than busy), slowest %v", errs, hard, slowest)
}

// A 3-node cluster, the stream at R3; its leader is shut down mid-load.
func TestChaosClusterLeaderKilled(t *testing.T) {
	const nodes = 3
	clientPorts, routePorts := make([]int, nodes), make([]int, nodes)
	var routes []string
	for i := range nodes {
		clientPorts[i], routePorts[i] = freeport.ForTest(t), freeport.ForTest(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i]))
	}
	servers := map[string]*server.Server{}
	var urls []string
	for i := range nodes {
		name := fmt.Sprintf("n%d", i)
		srv, err := server.NewServer(&server.Options{
			ServerName: name, Host: "127.0.0.1", Port: clientPorts[i],
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "chaos", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(srv.Shutdown)
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready", name)
		}
		servers[name] = srv
		urls = append(urls, srv.ClientURL())
	}
	all := strings.Join(urls, ",")
	store := chaosStore(t, all, 3)
	hs := []*commands.Handler{openHandler(t, chaosStore(t, all, 3)), openHandler(t, chaosStore(t, all, 3))}
	ids := startGames(t, hs[0], 5)

	var killed string
	answers := pressLoad(t, hs, ids, 200, 10*time.Second, 2*time.Second, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		leader, err := store.Leader(ctx)
		if err != nil || servers[leader] == nil {
			t.Errorf("find the stream leader %q: %v", leader, err)
			return
		}
		killed = leader
		servers[killed].Shutdown()
	})
	errs, hard, slowest := checkStored(t, chaosStore(t, all, 3), ids, answers)
	t.Logf("leader %s killed: %d errors (%d other than busy), slowest %v", killed, errs, hard, slowest)
	// The benchmark holds the target (no error at all, ≤ 10 s); on a loaded
	// machine a press may wait out its bound behind the election and be
	// told, truthfully, that it was not recorded — nothing else.
	if hard != 0 {
		t.Errorf("%d presses answered with an error other than busy across a leader change, want 0", hard)
	}
	if slowest > 20*time.Second {
		t.Errorf("slowest answer %v, want within the bot's 20 s budget", slowest)
	}
}
