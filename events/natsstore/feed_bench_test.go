package natsstore_test

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
)

// publishClicks stores n click events spread over five game subjects and
// returns the last sequence.
func publishClicks(tb testing.TB, js jetstream.JetStream, n int) uint64 {
	tb.Helper()
	futures := make([]jetstream.PubAckFuture, 0, n)
	for k := range int64(n) {
		game := events.GameID(k%5 + 1)
		data, err := events.Encode(events.ButtonClicked{
			Game: game, Guild: "100", Number: k + 1, User: strconv.FormatInt(1000+k%37, 10),
			Interaction: "i" + strconv.FormatInt(k, 10), AtMS: 1_700_000_000_000 + k, ValueMS: 1000, MMRMilli: 1,
		})
		if err != nil {
			tb.Fatal(err)
		}
		f, err := js.PublishAsync(events.GameSubject(game), data)
		if err != nil {
			tb.Fatal(err)
		}
		futures = append(futures, f)
	}
	var last uint64
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			tb.Fatal(err)
		case <-time.After(10 * time.Second):
			tb.Fatal("publish: no ack after 10s")
		}
	}
	return last
}

// BenchmarkRangeRead reads a stream of 100,000 click events as ReadRange
// reads long ranges (verify, replay) into nothing: the ceiling the stream
// read puts on both. The server runs in the same process: cpu-µs/event is
// the CPU time (user+sys) of both, the figure to compare on a busy machine.
func BenchmarkRangeRead(b *testing.B) {
	srv := natstest.Server(b, "")
	_, js := natstest.Connect(b, srv)
	ctx := context.Background()
	s, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100000
	last := publishClicks(b, js, n)
	feed := s.Feed()
	b.ReportAllocs()
	cpu := cpuTime(b)
	for b.Loop() {
		got := 0
		err := feed.ReadRange(ctx, 1, last, 4096, func(chunk []events.Recorded) error {
			got += len(chunk)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("read %d, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(n*b.N), "cpu-µs/event")
}

// cpuTime is the process's CPU time so far (user+sys).
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
