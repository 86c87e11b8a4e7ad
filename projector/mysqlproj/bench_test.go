package mysqlproj_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// BenchmarkApply measures Apply with batches of 1,000 click events of one
// game and 200 players, on a history that grows with every batch.
func BenchmarkApply(b *testing.B) {
	s := openSink(b, mysqltest.DSN(b))
	ctx := context.Background()
	g := newGen()
	g.start(1, "111", t0, 12*3600_000)
	if err := s.Apply(ctx, g.msgs); err != nil {
		b.Fatal(err)
	}
	const size = 1000
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		g.msgs = g.msgs[:0]
		g.clicks(1, size, 200, 1_000)
		if err := s.Apply(ctx, g.msgs); err != nil {
			b.Fatal(err)
		}
		events += size
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReplay rebuilds a history of 200,000 events (four games, 500
// players, guild settings) from an empty projection in batches of 1,000,
// as `thebutton replay` does. Run it with -benchtime=1x.
func BenchmarkReplay(b *testing.B) {
	s := openSink(b, mysqltest.DSN(b))
	ctx := context.Background()
	g := newGen()
	for id := range events.GameID(4) {
		g.start(id+1, fmt.Sprint(111+id%2), t0, 12*3600_000)
	}
	for g.seq < 200_000 {
		for id := range events.GameID(4) {
			g.clicks(id+1, 100, 500, 2_000+int64(id))
		}
		g.add(events.GuildSubject("111"), events.PlayerBanned{Guild: "111", User: fmt.Sprint(g.seq), By: "42", AtMS: t0})
	}
	msgs := g.msgs[:200_000]
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := s.Reset(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		applyAll(b, s, msgs, 1000)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(msgs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	verifyClean(b, s, msgs)
}
