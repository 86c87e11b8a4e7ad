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
