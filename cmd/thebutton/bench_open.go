package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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
}

// benchOpen seeds games active games holding total events (a start and
// clicks each) into the store with asynchronous publishes, then opens a
// fresh handler on its own connection and times it.
func benchOpen(ctx context.Context, a *app, log *slog.Logger, js jetstream.JetStream, store *natsstore.Store, games, total int) error {
	res := openResult{Games: games, Events: total}
	perGame := max(total/games, 1)
	began := time.Now()
	at := time.Now().UnixMilli()
	base := events.GameID(1 << 30)
	sent := 0
	for g := range games {
		id := base + events.GameID(g)
		subject := events.GameSubject(id)
		evs := []events.Event{events.GameStarted{Game: id, Guild: "1", ButtonChannel: fmt.Sprint(1<<40 + g),
			ChatChannel: fmt.Sprint(1<<40 + g), DurationMS: 12 * 3_600_000, StartedBy: "2", AtMS: at}}
		for n := int64(1); n < int64(perGame); n++ {
			evs = append(evs, events.ButtonClicked{Game: id, Guild: "1", Number: n, User: fmt.Sprint(1000 + n%200),
				Interaction: fmt.Sprintf("seed-%d-%d", g, n), AtMS: at + n, ValueMS: 12*3_600_000 - 1, Band: 5, ClaimedMS: 1, MMRMilli: 1})
		}
		for _, e := range evs {
			data, err := events.Encode(e)
			if err != nil {
				return err
			}
			msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
			msg.Header.Set(natsstore.HeaderType, e.EventType())
			msg.Header.Set(natsstore.HeaderVersion, fmt.Sprint(events.Version))
			if _, err := js.PublishMsgAsync(msg); err != nil {
				return err
			}
			if sent++; sent%2000 == 0 {
				select {
				case <-js.PublishAsyncComplete():
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	res.Events = games * perGame
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
			if info, err := store.Stream().Info(ctx); err == nil {
				res.MaxConsumers = max(res.MaxConsumers, info.State.Consumers)
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
	return printJSON(a.stdout, res)
}

// procStatusMB reads a kB field of /proc/self/status in MB (0 if absent).
func procStatusMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
