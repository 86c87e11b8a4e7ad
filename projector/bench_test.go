package projector_test

import (
	"context"
	"testing"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/projector"
)

// nopSink applies nothing: it measures the loop's own cost (reading the
// stream, decoding, batching).
type nopSink struct{ pos uint64 }

func (s *nopSink) Name() string                             { return "nop" }
func (s *nopSink) Position(context.Context) (uint64, error) { return s.pos, nil }
func (s *nopSink) Reset(context.Context) error              { s.pos = 0; return nil }
func (s *nopSink) Apply(_ context.Context, b []events.Recorded) error {
	s.pos = b[len(b)-1].Seq
	return nil
}

// BenchmarkReplayRead replays a stream of 20,000 messages into a sink that
// does nothing: the ceiling the loop puts on every replay.
func BenchmarkReplayRead(b *testing.B) {
	e := newEnv(b)
	const n = 20000
	e.publish(n)
	sink := &nopSink{}
	b.ReportAllocs()
	for b.Loop() {
		res, err := projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink,
			projector.ReplayOptions{BatchSize: 2000, Lease: projector.LeaseOptions{Disabled: true}})
		if err != nil {
			b.Fatal(err)
		}
		if res.Applied != n {
			b.Fatalf("applied %d, want %d", res.Applied, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
