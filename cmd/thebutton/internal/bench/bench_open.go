package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
)

// openResult is what `bench clicks --open-games` prints: how long a command
// handler takes to open (load every active game) on a stream of that size,
// and the process's memory (embedded server included).
type openResult struct {
	Games        int     `json:"games"`
	Events       int     `json:"events"`
	SeedS        float64 `json:"seed_s"`
	OpenS        float64 `json:"open_s"`
	ActiveLoaded int     `json:"active_loaded"`
	MaxConsumers int     `json:"max_consumers"`
	RSSMB        float64 `json:"rss_mb"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	HeapMB       float64 `json:"heap_mb"`
	// A first press on every game after the open (each reads its game
	// whole): how long they took, the consumers meanwhile, and the heap
	// once every game is in memory.
	FirstPressesS       float64 `json:"first_presses_s"`
	FirstPressP50MS     float64 `json:"first_press_p50_ms"`
	FirstPressP99MS     float64 `json:"first_press_p99_ms"`
	FirstPressMaxMS     float64 `json:"first_press_max_ms"`
	FirstPressConsumers int     `json:"first_press_max_consumers"`
	AllLoadedHeapMB     float64 `json:"all_loaded_heap_mb"`
	// How long after the open the handler's background read had every
	// game complete (0: the handler has none), and the process's peak
	// resident memory at the end.
	WarmedS      float64 `json:"warmed_s"`
	EndPeakRSSMB float64 `json:"end_peak_rss_mb"`
}

// benchOpen seeds games active games holding total events (a start and
// clicks each, see seed) into the store, then opens a fresh handler on its
// own connection and times it.
func benchOpen(ctx context.Context, a *Env, log *slog.Logger, js jetstream.JetStream, store *natsstore.Store, games, total int) error {
	res := openResult{Games: games, Events: total}
	began := time.Now()
	perGame := max(total/games, 1)
	spec := seedSpec{games: games, perGame: perGame, base: events.GameID(1 << 30), atMS: time.Now().UnixMilli() - int64(perGame)}
	stored, err := seed(ctx, js, spec)
	if err != nil {
		return err
	}
	res.Events = stored
	res.SeedS = time.Since(began).Seconds()
	runtime.GC()

	h := commands.NewHandler(store, commands.SystemClock{}, log)
	done := make(chan error, 1)
	began = time.Now()
	go func() { done <- h.Open(ctx) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			waiting = false
		case <-tick.C:
			if st, err := store.State(ctx); err == nil {
				res.MaxConsumers = max(res.MaxConsumers, st.ConsumerCount)
			}
		}
	}
	res.OpenS = time.Since(began).Seconds()
	defer h.Close()
	res.ActiveLoaded = len(h.ActiveGames())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapMB = float64(ms.HeapAlloc) / (1 << 20)
	res.RSSMB, res.PeakRSSMB = procStatusMB("VmRSS"), procStatusMB("VmHWM")
	opened := time.Now()
	warmed := make(chan float64, 1)
	go func() {
		if w := h.Warmed(); w != nil {
			<-w
			warmed <- time.Since(opened).Seconds()
		}
		close(warmed)
	}()
	if err := firstPresses(ctx, h, store, spec, &res); err != nil {
		return err
	}
	res.WarmedS = <-warmed
	res.EndPeakRSSMB = procStatusMB("VmHWM")
	return printJSON(a.stdout, res)
}

// firstPresses presses once on every seeded game, firstPressers at a
// time: each is the game's first use since the handler opened, so it reads
// the game whole. It records their latency, the consumers on the stream
// meanwhile, and the heap once every game is in memory.
func firstPresses(ctx context.Context, h *commands.Handler, store *natsstore.Store, spec seedSpec, res *openResult) error {
	const firstPressers = 32
	lat := make([]time.Duration, spec.games)
	errs := make([]error, spec.games)
	var next atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for range firstPressers {
		wg.Go(func() {
			for g := int(next.Add(1) - 1); g < spec.games; g = int(next.Add(1) - 1) {
				t := time.Now()
				_, errs[g] = h.Press(ctx, commands.Press{Game: spec.base + events.GameID(g), Guild: "1", User: "9000",
					Interaction: fmt.Sprintf("first-%d", g)})
				lat[g] = time.Since(t)
			}
		})
	}
	watch := make(chan struct{})
	go func() {
		wg.Wait()
		close(watch)
	}()
	for waiting := true; waiting; {
		select {
		case <-watch:
			waiting = false
		case <-time.After(50 * time.Millisecond):
			if st, err := store.State(ctx); err == nil {
				res.FirstPressConsumers = max(res.FirstPressConsumers, st.ConsumerCount)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("first presses: %w", err)
	}
	res.FirstPressesS = time.Since(began).Seconds()
	res.FirstPressP50MS, res.FirstPressP99MS = percentileMS(lat, 0.50), percentileMS(lat, 0.99)
	res.FirstPressMaxMS = percentileMS(lat, 1)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.AllLoadedHeapMB = float64(ms.HeapAlloc) / (1 << 20)
	return nil
}

// procStatusMB reads a kB field of /proc/self/status in MB (0 if absent).
func procStatusMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return statusFieldMB(string(b), field)
}

// statusFieldMB is a kB field of a /proc status file in MB (0 if absent).
func statusFieldMB(status, field string) float64 {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
