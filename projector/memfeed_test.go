package projector_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/memfeed"
	"github.com/thebutton-game/thebutton/projector"
)

// The projector's core on an in-memory feed: no NATS server, the same
// promises as on JetStream (projector_test.go).

// memPublish appends n valid click events to feed, spread over a few game
// subjects, and returns the last sequence.
func memPublish(t testing.TB, feed *memfeed.Feed, n int) uint64 {
	t.Helper()
	last, err := feed.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		k := int64(last) + 1
		game := events.GameID(k%5 + 1)
		seq, err := feed.Append(events.GameSubject(game), events.ButtonClicked{
			Game: game, Guild: "100", Number: k, User: strconv.FormatInt(1000+k%37, 10),
			Interaction: "i" + strconv.FormatInt(k, 10), AtMS: 1_700_000_000_000 + k,
			ValueMS: 1000, MMRMilli: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	return last
}

func waitApplied(t *testing.T, sink *memSink, last uint64) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return sink.position() == last },
		func() string { return fmt.Sprintf("checkpoint %d, want %d", sink.position(), last) })
}

func TestMemFeedProjectorAppliesEveryMessageOnceInOrder(t *testing.T) {
	for _, batch := range []int{1, 7, 1000} {
		t.Run(strconv.Itoa(batch), func(t *testing.T) {
			feed := memfeed.New()
			sink := newMemSink("mem")
			memPublish(t, feed, 300) // caught up from the stream
			o := fastOptions(t)
			o.BatchSize = batch
			var checkpoints atomic.Uint64
			o.OnCheckpoint = func(seq uint64) { checkpoints.Store(seq) }
			run(t, projector.New(feed, sink, o))
			last := memPublish(t, feed, 300) // delivered by the consumer
			waitApplied(t, sink, last)
			checkExact(t, sink, 1, last)
			if got := checkpoints.Load(); got != last {
				t.Errorf("OnCheckpoint last saw %d, want %d", got, last)
			}
		})
	}
}

func TestMemFeedProjectorRestartResumesFromCheckpoint(t *testing.T) {
	feed := memfeed.New()
	sink := newMemSink("mem")
	o := fastOptions(t)
	stop := run(t, projector.New(feed, sink, o))
	first := memPublish(t, feed, 200)
	waitApplied(t, sink, first)
	stop()
	memPublish(t, feed, 200) // while no projector runs
	run(t, projector.New(feed, sink, o))
	last := memPublish(t, feed, 200)
	waitApplied(t, sink, last)
	checkExact(t, sink, 1, last)
}

// A consumer of the same durable that holds deliveries without
// acknowledging them: they come back after AckWait, after newer ones, and
// the projector meets gaps and late duplicates.
func TestMemFeedProjectorRedeliveredAndOutOfOrder(t *testing.T) {
	feed := memfeed.New()
	sink := newMemSink("mem")
	o := fastOptions(t)
	o.AckWait = 200 * time.Millisecond
	o.Lease.Disabled = true
	name := projector.ConsumerName(sink.Name())
	var held atomic.Int64
	thief, err := feed.Consume(context.Background(), events.ConsumerConfig{Durable: name, AckWait: o.AckWait, Batch: 10},
		func(d events.Delivery) {
			if d.Seq%3 == 0 {
				held.Add(1) // never acknowledged: redelivered later
				return
			}
			_ = d.Acker.Ack() // taken from the projector: it reads the gap from the stream
		})
	if err != nil {
		t.Fatal(err)
	}
	// The second consumer alone takes the first messages, and holds some.
	memPublish(t, feed, 300)
	eventually(t, 10*time.Second, func() bool { return held.Load() >= 100 }, func() string { return fmt.Sprint(held.Load(), " held") })
	o.BatchSize = 20
	run(t, projector.New(feed, sink, o))
	last := memPublish(t, feed, 300)
	waitApplied(t, sink, last)
	thief.Stop()
	checkExact(t, sink, 1, last)
	if held.Load() == 0 {
		t.Errorf("the second consumer held no delivery: the test proved nothing")
	}
}

func TestMemFeedProjectorRetriesSinkThatFails(t *testing.T) {
	feed := memfeed.New()
	sink := newMemSink("mem")
	var failures atomic.Int64
	sink.setFailing(func([]events.Recorded) error {
		if failures.Add(1) <= 5 {
			return errDown
		}
		return nil
	})
	o := fastOptions(t)
	var retries atomic.Int64
	o.OnRetry = func(op string, err error) {
		if errors.Is(err, errDown) {
			retries.Add(1)
		}
	}
	run(t, projector.New(feed, sink, o))
	last := memPublish(t, feed, 100)
	waitApplied(t, sink, last)
	checkExact(t, sink, 1, last)
	if retries.Load() == 0 {
		t.Errorf("OnRetry never heard of the failures")
	}
}

func TestMemFeedProjectorRebuildsSinkThatLostData(t *testing.T) {
	feed := memfeed.New()
	sink := newMemSink("mem")
	sink.refuseAfterLoss = true
	run(t, projector.New(feed, sink, fastOptions(t)))
	first := memPublish(t, feed, 100)
	waitApplied(t, sink, first)
	sink.lose()
	last := memPublish(t, feed, 100)
	waitApplied(t, sink, last)
	checkExact(t, sink, 1, last)
}

func TestMemFeedProjectorDeadLettersMalformedMessagesOnce(t *testing.T) {
	feed := memfeed.New()
	sink := newMemSink("mem")
	o := fastOptions(t)
	var dead atomic.Int64
	o.OnDeadLetter = func(events.Recorded) { dead.Add(1) }
	memPublish(t, feed, 10)
	bad := feed.AppendRaw(events.GameSubject(1), []byte("not an event"))
	stop := run(t, projector.New(feed, sink, o))
	last := memPublish(t, feed, 10)
	waitApplied(t, sink, last)
	stop()
	sink.Reset(context.Background())
	// A second projection of the same messages dead-letters nothing again.
	run(t, projector.New(feed, sink, o))
	waitApplied(t, sink, last)
	checkExact(t, sink, 1, last)
	_, _, seen := sink.snapshot()
	if len(seen) != 1 || seen[0] != bad {
		t.Errorf("sink saw undecodable messages %v, want [%d]", seen, bad)
	}
	letters := feed.DeadLetters(projector.DefaultDeadLetterStream)
	if len(letters) != 1 || dead.Load() != 1 {
		t.Fatalf("%d dead letters, OnDeadLetter called %d times; want 1 and 1", len(letters), dead.Load())
	}
	d := letters[0]
	if want := projector.DeadLetterSubject(projector.DefaultDeadLetterPrefix, "mem", bad); d.Subject != want {
		t.Errorf("dead letter subject %q, want %q", d.Subject, want)
	}
	if d.Header[projector.HeaderDeadSequence] != strconv.FormatUint(bad, 10) || d.Header[projector.HeaderDeadProjection] != "mem" ||
		d.Header[projector.HeaderDeadSubject] != events.GameSubject(1) || d.Header[projector.HeaderDeadError] == "" {
		t.Errorf("dead letter headers %v", d.Header)
	}
	if string(d.Data) != "not an event" {
		t.Errorf("dead letter data %q", d.Data)
	}
}

// Two members with a lease: one applies at a time; when it stops, the
// other takes over and nothing is lost.
func TestMemFeedProjectorLeaseOneActiveMember(t *testing.T) {
	feed := memfeed.New()
	sink := newMemSink("mem")
	o := fastOptions(t)
	oa, ob := o, o
	oa.Lease.Holder, ob.Lease.Holder = "a", "b"
	stopA := run(t, projector.New(feed, sink, oa))
	first := memPublish(t, feed, 100)
	waitApplied(t, sink, first)
	run(t, projector.New(feed, sink, ob))
	second := memPublish(t, feed, 100)
	waitApplied(t, sink, second)
	stopA() // releases the lease: b takes it at once
	last := memPublish(t, feed, 100)
	waitApplied(t, sink, last)
	checkExact(t, sink, 1, last)
	if n := sink.concurrent.Load(); n > 0 {
		t.Errorf("two members applied at once %d times", n)
	}
}

func TestMemFeedReplayAndVerify(t *testing.T) {
	feed := memfeed.New()
	sink := newMemSink("mem")
	last := memPublish(t, feed, 250)
	ctx := context.Background()
	res, err := projector.Replay(ctx, feed, sink, projector.ReplayOptions{BatchSize: 40, Lease: projector.LeaseOptions{TTL: 600 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 1 || res.To != last || res.Applied != last {
		t.Errorf("replay result %+v, want 1..%d", res, last)
	}
	checkExact(t, sink, 1, last)
	diffs, err := projector.Verify(ctx, feed, []projector.Sink{sink}, projector.VerifyOptions{Lease: projector.LeaseOptions{TTL: 600 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 0 {
		t.Errorf("verify after replay: %v", diffs)
	}
	more := memPublish(t, feed, 1)
	diffs, err = projector.Verify(ctx, feed, []projector.Sink{sink}, projector.VerifyOptions{Lease: projector.LeaseOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 {
		t.Errorf("verify with message %d not applied: %v, want one difference", more, diffs)
	}
}

// A caught-up projector waits Linger after a message for more, and applies
// what came meanwhile as one batch; a lone message waits the whole Linger.
// (Resync is long here: it catches up without the consumer.)
func TestMemFeedProjectorLingersWhenCaughtUp(t *testing.T) {
	t.Run("batches what comes within it", func(t *testing.T) {
		feed := memfeed.New()
		sink := newMemSink("mem")
		o := fastOptions(t)
		o.BatchSize, o.Linger, o.Resync = 5, time.Second, time.Minute
		var (
			mu    sync.Mutex
			sizes []int
		)
		o.OnApplied = func(n int, _ time.Duration, _ uint64) {
			mu.Lock()
			defer mu.Unlock()
			sizes = append(sizes, n)
		}
		batches := func() []int {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(sizes)
		}
		run(t, projector.New(feed, sink, o))
		waitApplied(t, sink, memPublish(t, feed, 5)) // caught up: now on the consumer
		eventually(t, 10*time.Second, func() bool { return sum(batches()) == 5 },
			func() string { return fmt.Sprintf("batches %v, want 5 messages", batches()) })
		applied := len(batches())
		last := memPublish(t, feed, 5)
		waitApplied(t, sink, last)
		if got := batches()[applied:]; len(got) != 1 {
			t.Errorf("batches of %v messages, want one of the 5 published together (full: no wait)", got)
		}
	})
	t.Run("a lone message waits it out", func(t *testing.T) {
		feed := memfeed.New()
		sink := newMemSink("mem")
		o := fastOptions(t)
		o.Linger, o.Resync = 300*time.Millisecond, time.Minute
		run(t, projector.New(feed, sink, o))
		// Caught up, and through the batch that the consumer's start may
		// hold (messages the catch-up applied, delivered again).
		for range 2 {
			waitApplied(t, sink, memPublish(t, feed, 1))
		}
		began := time.Now()
		last := memPublish(t, feed, 1)
		waitApplied(t, sink, last)
		if d := time.Since(began); d < o.Linger {
			t.Errorf("applied after %v, before the linger of %v", d, o.Linger)
		}
	})
}

func sum(ns []int) (s int) {
	for _, n := range ns {
		s += n
	}
	return s
}

// stuckFeed is a feed whose first consumption never delivers, as a
// JetStream consumption whose pull request was lost.
type stuckFeed struct {
	*memfeed.Feed
	consumes atomic.Int32
}

func (f *stuckFeed) Consume(ctx context.Context, c events.ConsumerConfig, deliver func(events.Delivery)) (events.Consumption, error) {
	if f.consumes.Add(1) == 1 {
		return &stuckConsumption{closed: make(chan struct{})}, nil
	}
	return f.Feed.Consume(ctx, c, deliver)
}

type stuckConsumption struct {
	once   sync.Once
	closed chan struct{}
}

func (c *stuckConsumption) Stop()                   { c.once.Do(func() { close(c.closed) }) }
func (c *stuckConsumption) Closed() <-chan struct{} { return c.closed }

func TestMemFeedProjectorConsumesAgainWhenTheConsumerStalls(t *testing.T) {
	feed := &stuckFeed{Feed: memfeed.New()}
	sink := newMemSink("mem")
	o := fastOptions(t)
	o.Resync = 30 * time.Millisecond
	run(t, projector.New(feed, sink, o))
	// Presses go on; the resyncs apply them meanwhile.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { every(ctx, 5*time.Millisecond, func() { memPublish(t, feed.Feed, 1) }) })
	eventually(t, 10*time.Second, func() bool { return feed.consumes.Load() >= 2 },
		func() string {
			return fmt.Sprintf("%d consumptions, want a second after the first stalled", feed.consumes.Load())
		})
	cancel()
	wg.Wait()
	waitApplied(t, sink, memPublish(t, feed.Feed, 3))
	if n := feed.consumes.Load(); n != 2 {
		t.Errorf("%d consumptions, want 2: the second delivers", n)
	}
}
