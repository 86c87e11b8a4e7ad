package redisproj

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// clickGen makes an endless valid stream of clicks over many games and
// players, fast enough not to matter next to Redis.
type clickGen struct {
	rng     *rand.Rand
	seq     uint64
	games   []genGame
	players int
}

type genGame struct {
	id                events.GameID
	dur, last, clicks int64
}

func newClickGen(games, players int) (*clickGen, []events.Recorded) {
	g := &clickGen{rng: rand.New(rand.NewPCG(1, 2)), players: players}
	var starts []events.Recorded
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range games {
		id := events.GameID(i + 1)
		dur := int64(12 * 3600 * 1000)
		g.games = append(g.games, genGame{id: id, dur: dur, last: t0})
		g.seq++
		starts = append(starts, events.Recorded{Seq: g.seq, Subject: events.GameSubject(id), Event: events.GameStarted{
			Game: id, Guild: strconv.Itoa(100 + i%7), ButtonChannel: strconv.Itoa(5000 + i), ChatChannel: strconv.Itoa(5000 + i),
			DurationMS: dur, CooldownMS: 3 * 3600 * 1000, StartedBy: "900", AtMS: t0}})
	}
	return g, starts
}

func (g *clickGen) next(n int) []events.Recorded {
	out := make([]events.Recorded, n)
	for i := range out {
		gg := &g.games[g.rng.IntN(len(g.games))]
		value := 1 + g.rng.Int64N(gg.dur)
		at := gg.last + gg.dur - value
		gg.last = at
		gg.clicks++
		user := strconv.Itoa(10000 + g.rng.IntN(g.players))
		g.seq++
		out[i] = events.Recorded{Seq: g.seq, Subject: events.GameSubject(gg.id), Event: events.ButtonClicked{
			Game: gg.id, Guild: strconv.Itoa(100 + int(gg.id-1)%7), Number: gg.clicks, User: user, UserName: "Player " + user,
			Interaction: strconv.FormatUint(g.seq, 10), AtMS: at, ValueMS: value, Band: int(events.BandOf(value, gg.dur)),
			ClaimedMS: events.Claimed(value, gg.dur), MMRMilli: events.MMRMilli(value, gg.dur)}}
	}
	return out
}

func benchApply(b *testing.B, batch int) {
	ctx := context.Background()
	sink, _, _ := mustSink(b)
	gen, starts := newClickGen(20, 500)
	if err := sink.Apply(ctx, starts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var n int
	var took []time.Duration
	for b.Loop() {
		b.StopTimer()
		recs := gen.next(batch)
		b.StartTimer()
		t0 := time.Now()
		if err := sink.Apply(ctx, recs); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
		n += len(recs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99_ms")
}

// BenchmarkApply: batches of 500 clicks over 20 games and 500 players,
// as a replay or a catch-up sends them.
func BenchmarkApply(b *testing.B) { benchApply(b, 500) }

// BenchmarkApplyOne: one click per batch, as a live projector sends them:
// the time per op is the write latency of one event.
func BenchmarkApplyOne(b *testing.B) { benchApply(b, 1) }

// BenchmarkReplay200k applies 200,000 events (20 game starts and clicks by
// 2,000 players) into an empty projection in batches of 500, as
// `thebutton replay` does; BenchmarkReplay200kBatch2000 in batches of 2,000.
func BenchmarkReplay200k(b *testing.B)          { benchReplay(b, 500) }
func BenchmarkReplay200kBatch2000(b *testing.B) { benchReplay(b, 2000) }

func benchReplay(b *testing.B, batch int) {
	ctx := context.Background()
	sink, _, _ := mustSink(b)
	gen, starts := newClickGen(20, 2000)
	all := append(starts, gen.next(200000-len(starts))...)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := sink.Reset(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < len(all); i += batch {
			if err := sink.Apply(ctx, all[i:min(i+batch, len(all))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(all))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkApply2000: batches of 2,000 clicks, for comparison.
func BenchmarkApply2000(b *testing.B) { benchApply(b, 2000) }
