package legacy_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/legacy"
	"github.com/thebutton-game/thebutton/legacy/legacytest"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// BenchmarkImport imports 200,000 clicks (four games of 50,000) from a
// MariaDB database in the original's schema into a fresh embedded
// JetStream per iteration, and reports clicks per second for the whole
// run: reading the source, planning, appending and waiting for every ack.
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	dsn := mysqltest.DSN(b)
	src, _, err := legacy.OpenSource(dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var games []legacytest.Game
	for i := int64(1); i <= 4; i++ {
		games = append(games, legacytest.Game{ID: i, Guild: 111111111111111111, Channel: 111111111111111100 + i,
			DurationS: 600, Clicks: 50000})
	}
	if err := legacytest.Fill(ctx, src, games, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var clicks int
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		srv := natstest.Server(b, "")
		_, js := natstest.Connect(b, srv)
		store, err := natsstore.Open(ctx, js, natsstore.Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		rep, err := legacy.Import(ctx, src, store, legacy.Run{Log: benchLog(b)})
		if err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		clicks += rep.Clicks
		if rep.Appended != rep.Clicks+4*2+5 { // and 3 guild names, 2 icons
			b.Fatalf("appended %d events for %d clicks", rep.Appended, rep.Clicks)
		}
	}
	b.ReportMetric(float64(clicks)/took.Seconds(), "clicks/s")
}

// benchLog logs the import's phases with -v.
func benchLog(b *testing.B) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
