package natsstore

import (
	"context"
	"testing"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
)

// The batched get itself answers (Lasts would hide its failure behind the
// one-by-one reads): every subject asked for that has messages, once.
func TestMultiLast(t *testing.T) {
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	s, err := Open(ctx, js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for g := events.GameID(1); g <= lastsChunk; g++ {
		subject := events.GameSubject(g)
		subjects = append(subjects, subject)
		if g%2 == 0 {
			continue // empty subject
		}
		st := events.GameStarted{Game: g, Guild: "10", ButtonChannel: "20", ChatChannel: "20", StartedBy: "30", AtMS: 1, DurationMS: 60_000}
		if _, _, err := s.Append(ctx, subject, st, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	if err := s.multiLast(ctx, subjects, func(r events.Recorded) {
		if st, ok := r.Event.(events.GameStarted); !ok || events.GameSubject(st.Game) != r.Subject || r.Seq == 0 {
			t.Errorf("%s: %+v (seq %d)", r.Subject, r.Event, r.Seq)
		}
		got[r.Subject]++
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != lastsChunk/2 {
		t.Errorf("%d subjects answered, want %d", len(got), lastsChunk/2)
	}
	for subj, n := range got {
		if n != 1 {
			t.Errorf("%s answered %d times", subj, n)
		}
	}
}

// Load reads a long subject whole, in order, with batched direct gets
// (more than one batch, no consumer) among messages of other subjects.
func TestLoadLongSubject(t *testing.T) {
	srv := natstest.Server(t, "")
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	s, err := Open(ctx, js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	const n = directBatchMax + 2500
	subject, other := events.GameSubject(1), events.GameSubject(2)
	for i := range n {
		for _, subj := range []string{subject, other} {
			if _, err := js.PublishAsync(subj, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		if i%1000 == 999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	recs, err := s.Load(ctx, subject, 19) // after its 10th message
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n-10 {
		t.Fatalf("%d messages, want %d", len(recs), n-10)
	}
	for i, r := range recs {
		if r.Subject != subject || r.Seq != uint64(2*(i+10)+1) {
			t.Fatalf("message %d: %s at %d", i, r.Subject, r.Seq)
		}
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Errorf("%d consumers after the load, want 0", info.State.Consumers)
	}
}
