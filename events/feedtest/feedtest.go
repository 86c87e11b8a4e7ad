// Package feedtest is the contract of events.Feed: one test body (Run)
// that events/natsstore's feed on a real JetStream and events/memfeed both
// pass, so that a test of the projector on the in-memory feed means what
// it would mean on JetStream.
//
// It imports events and the standard library only.
package feedtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// Target is an empty feed under test.
type Target struct {
	Feed events.Feed
	// Append stores data as it is on subject (under events.SubjectRoot)
	// and returns its sequence.
	Append func(t *testing.T, subject string, data []byte) uint64
}

// Run checks the contract on feeds made by newTarget, one per subtest.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	ctx := context.Background()
	appendN := func(t *testing.T, tg Target, n int) uint64 {
		var last uint64
		for i := range n {
			data, err := events.Encode(events.ButtonClicked{Game: 1, Guild: "1", Number: int64(i + 1), User: "2",
				Interaction: fmt.Sprint("i", i), AtMS: 1_700_000_000_000, ValueMS: 1000, MMRMilli: 1})
			if err != nil {
				t.Fatal(err)
			}
			last = tg.Append(t, events.GameSubject(1), data)
		}
		return last
	}
	t.Run("range reads", func(t *testing.T) {
		tg := newTarget(t)
		if last, err := tg.Feed.LastSeq(ctx); err != nil || last != 0 {
			t.Fatalf("LastSeq() of an empty feed = %d, %v", last, err)
		}
		appendN(t, tg, 30)
		bad := tg.Append(t, events.GameSubject(1), []byte("not an event"))
		if last, err := tg.Feed.LastSeq(ctx); err != nil || last != bad {
			t.Fatalf("LastSeq() = %d, %v; want %d", last, err, bad)
		}
		for _, r := range [][3]uint64{{1, 31, 4}, {5, 9, 2}, {3, 3, 10}, {29, 40, 5}, {7, 6, 1}} {
			var got []uint64
			var sizes []int
			err := tg.Feed.ReadRange(ctx, r[0], min(r[1], bad), int(r[2]), func(chunk []events.Recorded) error {
				sizes = append(sizes, len(chunk))
				for _, rec := range chunk {
					got = append(got, rec.Seq)
					if (rec.Err != nil) != (rec.Seq == bad) || rec.Subject != events.GameSubject(1) || len(rec.Data) == 0 {
						t.Errorf("message %d: err %v, subject %q, %d bytes", rec.Seq, rec.Err, rec.Subject, len(rec.Data))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("ReadRange%v: %v", r, err)
			}
			var want []uint64
			for s := r[0]; s <= min(r[1], bad); s++ {
				want = append(want, s)
			}
			if !slices.Equal(got, want) || slices.Max(append(sizes, 0)) > int(r[2]) {
				t.Errorf("ReadRange%v read %v in chunks %v", r, got, sizes)
			}
		}
		stop := errors.New("stop")
		if err := tg.Feed.ReadRange(ctx, 1, bad, 4, func([]events.Recorded) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("ReadRange returned %v, want fn's error", err)
		}
	})
	t.Run("durable consumer", func(t *testing.T) {
		tg := newTarget(t)
		appendN(t, tg, 10)
		var (
			mu   sync.Mutex
			seen = map[uint64]int{}
			got  = make(chan struct{}, 100)
		)
		cfg := events.ConsumerConfig{Durable: "feedtest", StartAfter: 4, AckWait: 300 * time.Millisecond, MaxAckPending: 100, Batch: 3}
		c, err := tg.Feed.Consume(ctx, cfg, func(d events.Delivery) {
			mu.Lock()
			seen[d.Seq]++
			n := seen[d.Seq]
			mu.Unlock()
			if d.Seq != 7 || n > 1 { // 7 is not acknowledged the first time: delivered again
				if err := d.Acker.Ack(); err != nil {
					t.Errorf("ack %d: %v", d.Seq, err)
				}
			}
			select {
			case got <- struct{}{}:
			default:
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		last := appendN(t, tg, 5)
		complete := func() bool {
			mu.Lock()
			defer mu.Unlock()
			for s := uint64(5); s <= last; s++ {
				if seen[s] == 0 {
					return false
				}
			}
			return seen[7] >= 2
		}
		deadline := time.After(20 * time.Second)
		for !complete() {
			select {
			case <-got:
			case <-deadline:
				mu.Lock()
				t.Fatalf("deliveries after 20s: %v; want 5..%d, 7 twice", seen, last)
				mu.Unlock()
			}
		}
		c.Stop()
		select {
		case <-c.Closed():
		default:
			t.Errorf("Closed() not closed after Stop")
		}
		mu.Lock()
		if seen[4] != 0 {
			t.Errorf("delivered %d, at or before StartAfter", 4)
		}
		mu.Unlock()
		// The consumer keeps its place: a new consumption starts after
		// what was acknowledged, whatever StartAfter says now.
		appendN(t, tg, 1)
		first := make(chan uint64, 100)
		cfg.StartAfter = 0
		c, err = tg.Feed.Consume(ctx, cfg, func(d events.Delivery) {
			_ = d.Acker.Ack()
			first <- d.Seq
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		select {
		case s := <-first:
			if s != last+1 {
				t.Errorf("the consumer resumed at %d, want %d", s, last+1)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no delivery of %d", last+1)
		}
	})
	t.Run("dead letters are stored once", func(t *testing.T) {
		tg := newTarget(t)
		dl := events.DeadLetterConfig{Stream: "FEEDTEST_DEAD", Prefix: "feedtest_dead", Replicas: 1}
		if err := tg.Feed.OpenDeadLetters(ctx, dl); err != nil {
			t.Fatal(err)
		}
		d := events.DeadLetter{Subject: "feedtest_dead.x.1", Data: []byte("junk"), Header: map[string]string{"Why": "test"}}
		for i, want := range []bool{true, false} {
			stored, err := tg.Feed.PublishDeadLetter(ctx, dl.Stream, d)
			if err != nil || stored != want {
				t.Errorf("publish %d: stored %v, %v; want %v", i+1, stored, err, want)
			}
		}
	})
	t.Run("bucket compare and set", func(t *testing.T) {
		tg := newTarget(t)
		b, err := tg.Feed.Bucket(ctx, events.BucketConfig{Name: "FEEDTEST", Replicas: 1})
		if err != nil {
			t.Fatal(err)
		}
		is := func(what string, err, want error) {
			t.Helper()
			if !errors.Is(err, want) {
				t.Errorf("%s: %v, want %v", what, err, want)
			}
		}
		_, _, err = b.Get(ctx, "k")
		is("get a missing key", err, events.ErrNotFound)
		r1, err := b.Create(ctx, "k", []byte("a"))
		is("create", err, nil)
		_, err = b.Create(ctx, "k", []byte("b"))
		is("create an existing key", err, events.ErrConflict)
		v, rev, err := b.Get(ctx, "k")
		if err != nil || string(v) != "a" || rev != r1 {
			t.Errorf("get = %q, %d, %v; want a, %d", v, rev, err, r1)
		}
		_, err = b.Update(ctx, "k", []byte("c"), r1+100)
		is("update at a wrong revision", err, events.ErrConflict)
		r2, err := b.Update(ctx, "k", []byte("c"), r1)
		is("update", err, nil)
		if r2 <= r1 {
			t.Errorf("revision %d after %d", r2, r1)
		}
		is("delete at a wrong revision", b.Delete(ctx, "k", r1), events.ErrConflict)
		is("delete", b.Delete(ctx, "k", r2), nil)
		_, _, err = b.Get(ctx, "k")
		is("get a deleted key", err, events.ErrNotFound)
		_, err = b.Create(ctx, "k", []byte("d"))
		is("create a deleted key", err, nil)
		_, err = b.Put(ctx, "k", []byte("e"))
		is("put", err, nil)
		if v, _, err := b.Get(ctx, "k"); err != nil || string(v) != "e" {
			t.Errorf("get after put = %q, %v", v, err)
		}
		is("delete whatever the revision", b.Delete(ctx, "k", 0), nil)
	})
}
