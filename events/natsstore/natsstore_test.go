package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
)

func openStore(t *testing.T) *natsstore.Store {
	t.Helper()
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	s, err := natsstore.Open(context.Background(), js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func started() events.GameStarted {
	return events.GameStarted{Game: 1, Guild: "10", ButtonChannel: "20", ChatChannel: "20", StartedBy: "30", AtMS: 1_000, DurationMS: 3_600_000}
}

func click(n int64) events.ButtonClicked {
	return events.ButtonClicked{Game: 1, Guild: "10", Number: n, User: fmt.Sprint(40 + n), Interaction: fmt.Sprint("i", n),
		AtMS: 1_000 + n, ValueMS: 3_600_000 - 1, Band: 5, ClaimedMS: 1, MMRMilli: 1}
}

// A batch is stored all together after the expected sequence; a stale
// expectation or an id stored before stores nothing and is a conflict.
func TestAppendBatch(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if !s.CanBatch() {
		t.Fatal("the embedded server has atomic batches, CanBatch says no")
	}
	subject := events.GameSubject(1)
	seq0, _, err := s.Append(ctx, subject, started(), 0, "start")
	if err != nil {
		t.Fatal(err)
	}
	evs := []events.Event{click(1), click(2), click(3)}
	ids := []string{"press-i1", "press-i2", "press-i3"}
	last, err := s.AppendBatch(ctx, subject, evs, seq0, ids)
	if err != nil || last != seq0+3 {
		t.Fatalf("batch: last %d err %v; want %d", last, err, seq0+3)
	}
	_, err = s.AppendBatch(ctx, subject, []events.Event{click(4), click(5)}, seq0, []string{"a", "b"})
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("stale expectation: %v, want a conflict", err)
	}
	if got, ok := events.ConflictLast(err); !ok || got != last {
		t.Errorf("batch conflict reports last sequence %d (%v), want %d", got, ok, last)
	}
	_, _, err = s.Append(ctx, subject, click(4), seq0, "press-i4")
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("single append, stale expectation: %v, want a conflict", err)
	}
	if got, ok := events.ConflictLast(err); !ok || got != last {
		t.Errorf("conflict reports last sequence %d (%v), want %d", got, ok, last)
	}
	if _, err := s.AppendBatch(ctx, subject, []events.Event{click(4), click(3)}, last, []string{"press-i4", "press-i3"}); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("an id stored before: %v, want a conflict", err)
	}
	recs, err := s.Load(ctx, subject, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d messages stored, want 4 (start and one batch of 3)", len(recs))
	}
	for i, r := range recs[1:] {
		if c, ok := r.Event.(events.ButtonClicked); !ok || c.Number != int64(i+1) || r.Seq != seq0+uint64(i+1) {
			t.Errorf("message %d: %+v", r.Seq, r.Event)
		}
	}
}

// A long read leaves no consumer behind, and a read with an ended
// context ends at once.
func TestLoadLeavesNoConsumer(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	subject := events.GameSubject(1)
	seq, _, err := s.Append(ctx, subject, started(), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for n := int64(1); n <= 100; n++ {
		if seq, _, err = s.Append(ctx, subject, click(n), seq, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, after := range []uint64{0, 50, 90} {
		recs, err := s.Load(ctx, subject, after)
		if err != nil || len(recs) == 0 || recs[len(recs)-1].Seq != seq {
			t.Fatalf("load after %d: %d messages, %v", after, len(recs), err)
		}
	}
	st, err := s.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ConsumerCount != 0 {
		t.Errorf("%d consumers left after the reads", st.ConsumerCount)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Load(ended, subject, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("load with an ended context: %v", err)
	}
}

// A stream created before atomic batches (no allow_atomic) is updated by
// Open to take them.
func TestOpenUpdatesAnOlderStream(t *testing.T) {
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, natsstore.StreamConfig(natsstore.Config{})); err != nil {
		t.Fatal(err)
	}
	s, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, s.Name())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.CanBatch() || !info.Config.AllowAtomicPublish {
		t.Errorf("CanBatch %v, allow_atomic %v after Open on an older stream", s.CanBatch(), info.Config.AllowAtomicPublish)
	}
}

// Lasts gives the last message of every subject that has one, with one
// batched get per thousand subjects where the server has them (2.11 or
// later) and one leader read per subject where not (Debian's 2.9).
func TestLasts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) *natsstore.Store
		batch bool
	}{
		{"embedded", openStore, true},
		{"legacy 2.9", func(t *testing.T) *natsstore.Store {
			nc, err := nats.Connect(natstest.LegacyServer(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			s, err := natsstore.Open(context.Background(), js, natsstore.Config{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.store(t)
			if s.CanGetLasts() != tc.batch {
				t.Fatalf("CanGetLasts %v, want %v", s.CanGetLasts(), tc.batch)
			}
			ctx := context.Background()
			const games = 1500 // more than one batched get
			want := map[string]uint64{}
			var subjects []string
			for g := events.GameID(1); g <= games; g++ {
				subject := events.GameSubject(g)
				subjects = append(subjects, subject)
				st := started()
				st.Game = g
				seq, _, err := s.Append(ctx, subject, st, 0, "")
				if err != nil {
					t.Fatal(err)
				}
				if g%3 == 0 {
					c := click(1)
					c.Game = g
					if seq, _, err = s.Append(ctx, subject, c, seq, ""); err != nil {
						t.Fatal(err)
					}
				}
				want[subject] = seq
			}
			subjects = append(subjects, events.GameSubject(games+1)) // empty
			got := map[string]uint64{}
			err := s.Lasts(ctx, subjects, func(r events.Recorded) {
				if r.Err != nil {
					t.Errorf("%s: %v", r.Subject, r.Err)
				}
				if _, twice := got[r.Subject]; twice {
					t.Errorf("%s given twice", r.Subject)
				}
				got[r.Subject] = r.Seq
				if c, ok := r.Event.(events.ButtonClicked); ok && c.Game != mustParse(t, r.Subject) {
					t.Errorf("%s: a click of game %d", r.Subject, c.Game)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("last sequences (-want +got):\n%s", diff)
			}
		})
	}
}

func mustParse(t *testing.T, subject string) events.GameID {
	t.Helper()
	id, ok := events.ParseGameSubject(subject)
	if !ok {
		t.Fatalf("not a game subject: %s", subject)
	}
	return id
}

// The stream's state, its last message id and a subject's first message
// read back what was appended; an empty stream or subject says so.
func TestStateLastMsgIDFirst(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	seq, id, err := s.LastMsgID(ctx)
	if err != nil || seq != 0 || id != "" {
		t.Errorf("empty stream: last %d, id %q, %v; want 0, \"\", nil", seq, id, err)
	}
	one, two := events.GameSubject(1), events.GameSubject(2)
	first, _, err := s.Append(ctx, one, started(), 0, "start-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, one, click(1), first, "press-1"); err != nil {
		t.Fatal(err)
	}
	last, _, err := s.Append(ctx, two, events.GameStarted{Game: 2, Guild: "10", ButtonChannel: "21", ChatChannel: "21",
		StartedBy: "30", AtMS: 2_000, DurationMS: 3_600_000}, 0, "start-2")
	if err != nil {
		t.Fatal(err)
	}
	if seq, id, err := s.LastMsgID(ctx); err != nil || seq != last || id != "start-2" {
		t.Errorf("last message: %d, id %q, %v; want %d, \"start-2\"", seq, id, err, last)
	}
	st, err := s.State(ctx)
	if err != nil || st.LastSeq != last || st.Messages != 3 || st.Subjects != 2 || st.ConsumerCount != 0 {
		t.Errorf("state %+v, %v; want last %d, 3 messages, 2 subjects, no consumer", st, err, last)
	}
	if n, err := s.LastSeq(ctx); err != nil || n != last {
		t.Errorf("last sequence %d, %v; want %d", n, err, last)
	}
	r, err := s.First(ctx, one)
	if err != nil || r.Seq != first || r.Subject != one || r.Event != events.Event(started()) {
		t.Errorf("first of %s: %+v, %v; want the start at %d", one, r, err, first)
	}
	if _, err := s.First(ctx, events.GameSubject(3)); !errors.Is(err, events.ErrNotFound) {
		t.Errorf("first of an empty subject: %v, want events.ErrNotFound", err)
	}
	if _, err := s.Leader(ctx); err != nil {
		t.Errorf("leader: %v", err)
	}
}
