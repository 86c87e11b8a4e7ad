package projector_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector"
)

// testLog logs to the test output when -v is given with PROJECTOR_TEST_LOG=1.
func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("PROJECTOR_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// env is an embedded JetStream server with the event stream.
type env struct {
	t     testing.TB
	srv   interface{ ClientURL() string }
	nc    *nats.Conn
	js    jetstream.JetStream
	store *natsstore.Store
	seq   atomic.Int64 // click numbers, for distinct payloads
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := natstest.Server(t, "")
	nc, js := natstest.Connect(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, nc: nc, js: js, store: store}
}

// connect opens a second, independent connection (another "process").
func (e *env) connect() (*nats.Conn, jetstream.JetStream) {
	e.t.Helper()
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	return nc, js
}

// publish stores n valid click events spread over a few game subjects
// (the loop does not care about game rules) and returns the last sequence.
func (e *env) publish(n int) uint64 {
	e.t.Helper()
	var last uint64
	futures := make([]jetstream.PubAckFuture, 0, n)
	for range n {
		k := e.seq.Add(1)
		game := events.GameID(k%5 + 1)
		data, err := events.Encode(events.ButtonClicked{
			Game: game, Guild: "100", Number: k, User: strconv.FormatInt(1000+k%37, 10),
			Interaction: "i" + strconv.FormatInt(k, 10), AtMS: 1_700_000_000_000 + k,
			ValueMS: 1000, Band: 0, ClaimedMS: 0, MMRMilli: 1,
		})
		if err != nil {
			e.t.Fatal(err)
		}
		f, err := e.js.PublishAsync(events.GameSubject(game), data)
		if err != nil {
			e.t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			e.t.Fatal(err)
		case <-time.After(10 * time.Second):
			e.t.Fatal("publish: no ack after 10s")
		}
	}
	return last
}

// publishRaw stores data as is on subject, as `nats pub` would.
func (e *env) publishRaw(subject string, data []byte) uint64 {
	e.t.Helper()
	ack, err := e.js.Publish(context.Background(), subject, data)
	if err != nil {
		e.t.Fatal(err)
	}
	return ack.Sequence
}

func (e *env) lastSeq() uint64 {
	e.t.Helper()
	last, err := e.store.LastSeq(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return last
}

// run starts p.Run and returns a stop function that cancels it and waits.
// Run returning an error fails the test.
func run(t *testing.T, p *projector.Projector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return 15s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually waits up to d for cond, failing the test with what() if it
// never holds.
func eventually(t *testing.T, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	testwait.For(t, d, cond, what)
}

// every calls fn every interval until ctx ends: a steady load generator.
func every(ctx context.Context, interval time.Duration, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// logWatch is a slog handler that remembers the messages logged through
// it, so that a test can wait for a component to reach a state it logs.
type logWatch struct {
	slog.Handler
	mu   *sync.Mutex
	msgs map[string]int
}

func newLogWatch(t testing.TB) *logWatch {
	return &logWatch{Handler: testLog(t).Handler(), mu: &sync.Mutex{}, msgs: map[string]int{}}
}

func (w *logWatch) Enabled(context.Context, slog.Level) bool { return true }

func (w *logWatch) Handle(ctx context.Context, r slog.Record) error {
	w.mu.Lock()
	w.msgs[r.Message]++
	w.mu.Unlock()
	if !w.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return w.Handler.Handle(ctx, r)
}

func (w *logWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return &logWatch{Handler: w.Handler.WithAttrs(as), mu: w.mu, msgs: w.msgs}
}

func (w *logWatch) WithGroup(name string) slog.Handler {
	return &logWatch{Handler: w.Handler.WithGroup(name), mu: w.mu, msgs: w.msgs}
}

// seen reports whether msg was logged.
func (w *logWatch) seen(msg string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.msgs[msg] > 0
}

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// checkExact fails unless sink applied exactly from..to, in order, with
// no broken promise.
func checkExact(t *testing.T, sink *memSink, from, to uint64) {
	t.Helper()
	applied, bad, _ := sink.snapshot()
	if len(bad) > 0 {
		t.Errorf("broken promises: %v", bad)
	}
	if diff := cmp.Diff(seqs(from, to), applied); diff != "" {
		t.Errorf("applied sequences (-want +got):\n%s", diff)
	}
}

// fastOptions are much shorter than production's (back-off 50 ms to 5 s,
// resync 1 s, lease 10 s): these tests stop, fail and cut the loop on
// purpose, dozens of times, against an in-memory sink, and must finish in
// seconds. The integration tests run real sinks at production settings.
func fastOptions(t testing.TB) projector.Options {
	return projector.Options{
		Log:        testLog(t),
		MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
		Resync:     100 * time.Millisecond,
		Lease:      projector.LeaseOptions{TTL: 600 * time.Millisecond},
	}
}

func TestProjectorAppliesEveryMessageOnceInOrder(t *testing.T) {
	tests := []struct {
		name    string
		batch   int
		noLease bool
	}{
		{"batches of one", 1, false},
		{"small batches", 7, false},
		{"big batches", 1000, false},
		{"without lease", 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			sink := newMemSink("mem")
			e.publish(300) // before the projector starts: caught up from the stream
			o := fastOptions(t)
			o.BatchSize = tt.batch
			o.Lease.Disabled = tt.noLease
			var checkpoints atomic.Uint64
			o.OnCheckpoint = func(seq uint64) { checkpoints.Store(seq) }
			run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, o))
			last := e.publish(300)
			eventually(t, 10*time.Second, func() bool { return sink.position() == last },
				func() string { return fmt.Sprintf("checkpoint %d, want %d", sink.position(), last) })
			checkExact(t, sink, 1, last)
			if got := checkpoints.Load(); got != last {
				t.Errorf("OnCheckpoint last saw %d, want %d", got, last)
			}
		})
	}
}

func TestProjectorRestartResumesFromCheckpoint(t *testing.T) {
	e := newEnv(t)
	sink := newMemSink("mem")
	o := fastOptions(t)
	stop := run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, o))
	first := e.publish(200)
	eventually(t, 10*time.Second, func() bool { return sink.position() == first }, func() string { return "first half not applied" })
	stop()
	e.publish(200) // while no projector runs
	run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, o))
	last := e.publish(200)
	eventually(t, 10*time.Second, func() bool { return sink.position() == last },
		func() string { return fmt.Sprintf("checkpoint %d, want %d", sink.position(), last) })
	checkExact(t, sink, 1, last)
}

// TestProjectorRedeliveredAndOutOfOrder runs two members of a projection
// without lease (both apply) beside a third consumer of the same durable
// consumer that holds some deliveries without acknowledging them (they come
// back after AckWait, after newer ones) and naks others (they come back at
// once). The members meet gaps and late duplicates: they fill the gaps
// from the stream, skip what the checkpoint has, and every message is
// applied exactly once, in order.
func TestProjectorRedeliveredAndOutOfOrder(t *testing.T) {
	e := newEnv(t)
	sink := newMemSink("mem")
	o := fastOptions(t)
	o.AckWait = 700 * time.Millisecond
	o.BatchSize = 5
	o.Lease.Disabled = true
	_, js2 := e.connect()
	run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, o))
	run(t, projector.New(natsstore.NewFeed(js2, natsstore.DefaultStream), sink, o))
	first := e.publish(50)
	eventually(t, 10*time.Second, func() bool { return sink.position() == first }, func() string { return "not caught up" })

	ctx := context.Background()
	cons := waitConsumer(t, e, "mem")
	pubCtx, stopPub := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { every(pubCtx, 2*time.Millisecond, func() { e.publish(10) }) })
	var held, naked int
	for i := 0; i < 400 && (held < 30 || naked < 30); i++ {
		batch, err := cons.Fetch(3, jetstream.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if i%2 == 0 {
				held++ // never acknowledged: a member that died holding it
			} else {
				naked++
				_ = m.Nak()
			}
		}
	}
	stopPub()
	wg.Wait()
	if held == 0 || naked == 0 {
		t.Fatalf("the third consumer got %d held and %d naked deliveries, want some of each", held, naked)
	}
	last := e.publish(100)
	eventually(t, 15*time.Second, func() bool { return sink.position() == last },
		func() string { return fmt.Sprintf("checkpoint %d, want %d", sink.position(), last) })
	waitDrained(t, cons)
	checkExact(t, sink, 1, last)
	t.Logf("%d deliveries held, %d naked; %d Apply calls for %d messages", held, naked, sink.applies.Load(), last)
}

// waitDrained waits until the consumer has delivered and seen acknowledged
// everything.
func waitDrained(t *testing.T, cons jetstream.Consumer) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 15*time.Second, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, func() string {
		info, _ := cons.Info(ctx)
		return fmt.Sprintf("consumer not drained: %+v", info)
	})
}

func TestProjectorWaitsForSinkThatIsDown(t *testing.T) {
	e := newEnv(t)
	sink := newMemSink("mem")
	o := fastOptions(t)
	var retries atomic.Int64
	o.OnRetry = func(string, error) { retries.Add(1) }
	run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, o))
	first := e.publish(100)
	eventually(t, 10*time.Second, func() bool { return sink.position() == first }, func() string { return "not caught up" })

	sink.setFailing(func([]events.Recorded) error { return errDown })
	second := e.publish(100)
	// 20 failed attempts: with back-off between 5 and 50 ms and a resync
	// every 100 ms, the projector has met its back-off cap and resynced
	// meanwhile.
	down := time.Now()
	eventually(t, 10*time.Second, func() bool { return retries.Load() >= 20 },
		func() string { return fmt.Sprintf("%d retries while the sink was down, want 20", retries.Load()) })
	if took := time.Since(down); took < o.Resync {
		t.Errorf("20 attempts within %s: the projector does not back off", took)
	}
	if got := sink.position(); got != first {
		t.Fatalf("checkpoint moved to %d while the sink was down", got)
	}
	sink.setFailing(nil)
	last := e.publish(100)
	if last <= second {
		t.Fatal("stream did not grow")
	}
	eventually(t, 10*time.Second, func() bool { return sink.position() == last },
		func() string { return fmt.Sprintf("checkpoint %d, want %d", sink.position(), last) })
	checkExact(t, sink, 1, last)
}

func TestProjectorFailingBatchesAreRetriedNotDropped(t *testing.T) {
	e := newEnv(t)
	sink := newMemSink("mem")
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	sink.setFailing(func(batch []events.Recorded) error {
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(4) == 0 {
			return errDown
		}
		return nil
	})
	o := fastOptions(t)
	o.BatchSize = 13
	run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, o))
	var last uint64
	for range 10 {
		last = e.publish(100)
	}
	eventually(t, 20*time.Second, func() bool { return sink.position() == last },
		func() string { return fmt.Sprintf("checkpoint %d, want %d", sink.position(), last) })
	checkExact(t, sink, 1, last)
}

// TestProjectorRebuildsSinkThatLostData drops the sink's data behind the
// loop's back (like FLUSHALL on Redis), once while messages flow and once
// while none do.
func TestProjectorRebuildsSinkThatLostData(t *testing.T) {
	tests := []struct {
		name                    string
		flowing, refuse, inside bool
	}{
		{"no message flowing, sink does not refuse batches", false, false, false},
		{"messages flowing, sink refuses a batch after the loss", true, true, false},
		{"lost between checkpoint read and write, sink refuses the batch", true, true, true},
	}
	for _, tt := range tests {
		flowing := tt.flowing
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			sink := newMemSink("mem")
			sink.refuseAfterLoss = tt.refuse
			run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, fastOptions(t)))
			first := e.publish(500)
			eventually(t, 10*time.Second, func() bool { return sink.position() == first }, func() string { return "not caught up" })
			cons := waitConsumer(t, e, "mem")
			waitDrained(t, cons) // nothing left to deliver: the rebuild must come from the stream
			if tt.inside {
				sink.loseOnApply.Store(true)
			} else {
				sink.lose()
			}
			last := first
			if flowing {
				last = e.publish(200)
			}
			eventually(t, 10*time.Second, func() bool { return sink.position() == last },
				func() string { return fmt.Sprintf("checkpoint %d, want %d", sink.position(), last) })
			checkExact(t, sink, 1, last)
		})
	}
}

func TestProjectorDeadLettersMalformedMessages(t *testing.T) {
	e := newEnv(t)
	a, b := newMemSink("a"), newMemSink("b")
	var dead atomic.Int64
	o := fastOptions(t)
	o.OnDeadLetter = func(events.Recorded) { dead.Add(1) }
	run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), a, o))
	run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), b, o))
	e.publish(10)
	garbage := e.publishRaw("button.game.1", []byte(`{"this is": not json`))
	unknown := e.publishRaw("button.game.2", []byte(`{"type":"game.exploded","v":1,"data":{}}`))
	last := e.publish(10)
	for _, s := range []*memSink{a, b} {
		eventually(t, 10*time.Second, func() bool { return s.position() == last },
			func() string { return fmt.Sprintf("%s: checkpoint %d, want %d", s.name, s.position(), last) })
		checkExact(t, s, 1, last)
		if _, _, deadSeen := s.snapshot(); !cmp.Equal(deadSeen, []uint64{garbage, unknown}) {
			t.Errorf("%s: applied with Err: %v, want %v", s.name, deadSeen, []uint64{garbage, unknown})
		}
	}
	if got := dead.Load(); got != 4 {
		t.Errorf("OnDeadLetter called %d times, want 4 (2 messages × 2 projections)", got)
	}

	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		for _, seq := range []uint64{garbage, unknown} {
			subject := projector.DeadLetterSubject(projector.DefaultDeadLetterPrefix, name, seq)
			s, err := e.js.Stream(ctx, projector.DefaultDeadLetterStream)
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.GetLastMsgForSubject(ctx, subject)
			if err != nil {
				t.Fatalf("dead letter %s: %v", subject, err)
			}
			want := map[string]string{
				projector.HeaderDeadSubject:    map[uint64]string{garbage: "button.game.1", unknown: "button.game.2"}[seq],
				projector.HeaderDeadSequence:   strconv.FormatUint(seq, 10),
				projector.HeaderDeadProjection: name,
			}
			got := map[string]string{}
			for k := range want {
				got[k] = m.Header.Get(k)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("dead letter %s headers (-want +got):\n%s", subject, diff)
			}
			if m.Header.Get(projector.HeaderDeadError) == "" {
				t.Errorf("dead letter %s has no error header", subject)
			}
		}
	}
	// The dead-letter stream must not be readable as events.
	grown, err := e.store.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if grown != last {
		t.Errorf("event stream grew to %d: dead letters must not land in it", grown)
	}
}

// TestProjectorLeaseOneActiveMember runs two members of one projection:
// only one applies at a time; when it stops cleanly the other takes over at
// once, and when it dies (its connection cut) the other takes over after
// the lease's TTL.
func TestProjectorLeaseOneActiveMember(t *testing.T) {
	e := newEnv(t)
	sink := newMemSink("mem")
	o := fastOptions(t)
	var aApplied, bApplied atomic.Int64
	oa, ob := o, o
	oa.Lease.Holder, ob.Lease.Holder = "member-a", "member-b"
	oa.OnApplied = func(n int, _ time.Duration, _ uint64) { aApplied.Add(int64(n)) }
	ob.OnApplied = func(n int, _ time.Duration, _ uint64) { bApplied.Add(int64(n)) }
	logB := newLogWatch(t)
	ob.Log = slog.New(logB)
	ncA, jsA := e.connect()
	_, jsB := e.connect()
	stopA := run(t, projector.New(natsstore.NewFeed(jsA, natsstore.DefaultStream), sink, oa))
	first := e.publish(100)
	eventually(t, 10*time.Second, func() bool { return sink.position() == first }, func() string { return "not caught up" })
	run(t, projector.New(natsstore.NewFeed(jsB, natsstore.DefaultStream), sink, ob))
	eventually(t, 10*time.Second, func() bool { return logB.seen("standing by: another member holds the lease") },
		func() string { return "b never stood by" })
	second := e.publish(100)
	eventually(t, 10*time.Second, func() bool { return sink.position() == second }, func() string { return "second part not applied" })
	if aApplied.Load() != int64(second) || bApplied.Load() != 0 {
		t.Fatalf("member a applied %d, b %d; want all by a (the holder), none by b", aApplied.Load(), bApplied.Load())
	}

	// a dies: its connection is cut, its lease is neither renewed nor released.
	ncA.Close()
	died := time.Now()
	third := e.publish(100)
	eventually(t, 10*time.Second, func() bool { return sink.position() == third }, func() string { return "b did not take over" })
	if took := time.Since(died); took < 400*time.Millisecond {
		t.Errorf("b took over after %s, before the lease TTL", took)
	}
	stopA()
	if got := sink.concurrent.Load(); got != 0 {
		t.Errorf("Apply ran concurrently %d times", got)
	}
	checkExact(t, sink, 1, third)
}

func TestReplay(t *testing.T) {
	e := newEnv(t)
	last := e.publish(5000)
	sink := newMemSink("mem")
	var progress []projector.ReplayProgress
	res, err := projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{
		Log: testLog(t), BatchSize: 700, Progress: func(p projector.ReplayProgress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 1 || res.To != last || res.Applied != last || res.Resumed {
		t.Errorf("result %+v, want from 1 to %d, %d applied, not resumed", res, last, last)
	}
	checkExact(t, sink, 1, last)
	if n := len(progress); n == 0 || !progress[n-1].Done || progress[n-1].Applied != last || progress[n-1].Total != last {
		t.Errorf("last progress report %+v, want done with %d of %d", progress[max(0, n-1)], last, last)
	}

	// Replaying again rebuilds from scratch.
	e.publish(10)
	res, err = projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 1 || res.Applied != last+10 {
		t.Errorf("second replay %+v, want from 1 with %d applied", res, last+10)
	}
	checkExact(t, sink, 1, last+10)
}

func TestReplayInterruptedResumes(t *testing.T) {
	e := newEnv(t)
	last := e.publish(6000)
	sink := newMemSink("mem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := projector.Replay(ctx, natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{
		Log: testLog(t), BatchSize: 500, ProgressEvery: time.Nanosecond,
		Progress: func(p projector.ReplayProgress) {
			if p.Applied >= 2000 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replay returned %v, want context.Canceled", err)
	}
	stoppedAt := sink.position()
	if stoppedAt < 2000 || stoppedAt >= last {
		t.Fatalf("interrupted at checkpoint %d, want between 2000 and %d", stoppedAt, last)
	}
	res, err := projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.From != stoppedAt+1 || res.To != last {
		t.Errorf("resumed replay %+v, want resumed from %d to %d", res, stoppedAt+1, last)
	}
	checkExact(t, sink, 1, last)

	// Finished: the next replay starts over.
	res, err = projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || res.From != 1 {
		t.Errorf("replay after a finished one %+v, want a fresh one from 1", res)
	}
}

// TestReplayInterruptedBeforeReset resumes a replay that recorded itself
// but died before resetting the sink: the resumed replay resets it.
func TestReplayInterruptedBeforeReset(t *testing.T) {
	e := newEnv(t)
	last := e.publish(500)
	ctx := context.Background()
	sink := newMemSink("mem")
	all, err := projector.ReadAll(ctx, e.store.Feed(), last)
	if err != nil {
		t.Fatal(err)
	}
	sink.allowStart = 51
	if err := sink.Apply(ctx, all[50:100]); err != nil { // what the projection held before: not a full history
		t.Fatal(err)
	}
	sink.allowStart = 0
	kv, err := e.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: projector.DefaultLeaseBucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "replay.mem", []byte(`{"from":1,"started_ms":1,"holder":"gone","reset":false}`)); err != nil {
		t.Fatal(err)
	}
	res, err := projector.Replay(ctx, natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.From != 1 || res.Applied != last {
		t.Errorf("result %+v, want resumed from 1 with %d applied", res, last)
	}
	checkExact(t, sink, 1, last)
}

func TestReplayFromSequence(t *testing.T) {
	e := newEnv(t)
	last := e.publish(300)
	sink := newMemSink("mem")
	sink.allowStart = 101
	res, err := projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{Log: testLog(t), From: 101})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 101 || res.Applied != last-100 {
		t.Errorf("result %+v, want from 101, %d applied", res, last-100)
	}
	checkExact(t, sink, 101, last)
}

func TestReplayRefusesAnotherStartWhileOneIsInterrupted(t *testing.T) {
	e := newEnv(t)
	e.publish(3000)
	sink := newMemSink("mem")
	sink.allowStart = 11
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := projector.Replay(ctx, natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{
		From: 11, BatchSize: 100, ProgressEvery: time.Nanosecond,
		Progress: func(p projector.ReplayProgress) {
			if p.Applied > 0 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replay returned %v", err)
	}
	_, err = projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{From: 50})
	if !errors.Is(err, projector.ErrReplayConflict) {
		t.Fatalf("replay from another sequence returned %v, want ErrReplayConflict", err)
	}
	sink.allowStart = 50
	res, err := projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{From: 50, Fresh: true})
	if err != nil || res.From != 50 || res.Resumed {
		t.Fatalf("fresh replay from 50: %+v, %v", res, err)
	}
}

// TestReplayWhileProjectorRuns rebuilds a projection under a running
// projector with messages flowing: the projector stands by, then goes on;
// nothing is applied twice, out of order, or concurrently.
func TestReplayWhileProjectorRuns(t *testing.T) {
	e := newEnv(t)
	sink := newMemSink("mem")
	o := fastOptions(t)
	run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, o))
	e.publish(2000)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { every(ctx, 5*time.Millisecond, func() { e.publish(20) }) })
	res, err := projector.Replay(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, projector.ReplayOptions{
		Log: testLog(t), Lease: o.Lease, BatchSize: 300,
	})
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied < 2000 {
		t.Errorf("replay applied %d, want at least 2000", res.Applied)
	}
	last := e.publish(50)
	eventually(t, 15*time.Second, func() bool { return sink.position() == last },
		func() string { return fmt.Sprintf("checkpoint %d, want %d", sink.position(), last) })
	if got := sink.concurrent.Load(); got != 0 {
		t.Errorf("Apply ran concurrently %d times", got)
	}
	checkExact(t, sink, 1, last)
}

func TestVerify(t *testing.T) {
	e := newEnv(t)
	last := e.publish(400)
	ctx := context.Background()

	complete := newMemSink("complete")
	if _, err := projector.Replay(ctx, natsstore.NewFeed(e.js, natsstore.DefaultStream), complete, projector.ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	behind := newMemSink("behind")
	var all []events.Recorded
	all, err := projector.ReadAll(ctx, e.store.Feed(), last)
	if err != nil {
		t.Fatal(err)
	}
	if err := behind.Apply(ctx, all[:300]); err != nil {
		t.Fatal(err)
	}
	diffs, err := projector.Verify(ctx, natsstore.NewFeed(e.js, natsstore.DefaultStream), []projector.Sink{complete, behind}, projector.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []projector.Difference{{Projection: "behind", Text: fmt.Sprintf("checkpoint 300 is behind the stream's last sequence %d: %d messages not applied", last, last-300)}}
	if diff := cmp.Diff(want, diffs); diff != "" {
		t.Errorf("differences (-want +got):\n%s", diff)
	}

	// A projection whose data is wrong although its checkpoint is right.
	wrong := newMemSink("wrong")
	if err := wrong.Apply(ctx, append(append([]events.Recorded{}, all[:10]...), all[11:]...)); err != nil {
		t.Fatal(err)
	}
	diffs, err = projector.Verify(ctx, natsstore.NewFeed(e.js, natsstore.DefaultStream), []projector.Sink{wrong}, projector.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) == 0 {
		t.Error("no difference found for a projection that skipped a message")
	}
}

func TestReadStatus(t *testing.T) {
	e := newEnv(t)
	sink := newMemSink("mem")
	run(t, projector.New(natsstore.NewFeed(e.js, natsstore.DefaultStream), sink, fastOptions(t)))
	e.publish(50)
	e.publishRaw("button.game.3", []byte("nope"))
	last := e.publish(50)
	eventually(t, 10*time.Second, func() bool { return sink.position() == last }, func() string { return "not caught up" })
	waitConsumer(t, e, "mem")
	lagging := newMemSink("lagging")

	st, err := projector.ReadStatus(context.Background(), natsstore.NewFeed(e.js, natsstore.DefaultStream), []projector.Sink{sink, lagging}, projector.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Stream.Name != natsstore.DefaultStream || st.Stream.LastSeq != last || st.Stream.Messages != last || st.Stream.Subjects != 5 {
		t.Errorf("stream %+v, want %d messages on 5 subjects", st.Stream, last)
	}
	var cons *projector.ConsumerStatus
	for i := range st.Consumers {
		if st.Consumers[i].Name == projector.ConsumerName("mem") {
			cons = &st.Consumers[i]
		}
	}
	if cons == nil {
		t.Fatalf("consumer %s missing from %+v", projector.ConsumerName("mem"), st.Consumers)
	}
	if cons.LastDelivered != last {
		t.Errorf("consumer last delivered %d, want %d", cons.LastDelivered, last)
	}
	wantProj := []projector.ProjectionStatus{
		{Name: "mem", Checkpoint: last, Lag: 0, Role: projector.RoleProjector},
		{Name: "lagging", Checkpoint: 0, Lag: last},
	}
	if diff := cmp.Diff(wantProj, st.Projections, cmpIgnoreHolder); diff != "" {
		t.Errorf("projections (-want +got):\n%s", diff)
	}
	if st.Projections[0].Holder == "" {
		t.Error("the running projector's lease holder is not shown")
	}
	if st.DeadLetters.Messages != 1 {
		t.Errorf("dead letters %+v, want 1", st.DeadLetters)
	}
}

var cmpIgnoreHolder = cmp.Transformer("noHolder", func(p projector.ProjectionStatus) projector.ProjectionStatus {
	p.Holder = ""
	return p
})

// waitConsumer returns a projection's durable consumer once it exists: the
// loop creates it after catching up by range reads, so it may not exist
// yet when the sink reached the end of the stream.
func waitConsumer(t *testing.T, e *env, projection string) jetstream.Consumer {
	t.Helper()
	var cons jetstream.Consumer
	var err error
	eventually(t, 10*time.Second, func() bool {
		cons, err = e.js.Consumer(context.Background(), e.store.Name(), projector.ConsumerName(projection))
		return err == nil
	}, func() string { return fmt.Sprintf("consumer of %s: %v", projection, err) })
	return cons
}
