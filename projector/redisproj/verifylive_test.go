package redisproj

import (
	"context"
	"strings"
	"testing"

	"github.com/thebutton-game/thebutton/events"
)

// VerifyLive reads the position and every key in one snapshot and
// compares them with the stream up to that position; a snapshot that
// shows a batch half applied (a game's checkpoint beyond the position) is
// never compared.
func TestVerifyLive(t *testing.T) {
	ctx := context.Background()
	s := randomStream(t, 11, 4, 30, 1500)
	sink, _, c := mustSink(t)
	applyInBatches(t, sink, s.recs, 1, 200)
	upTo := func(_ context.Context, seq uint64) ([]events.Recorded, error) {
		var out []events.Recorded
		for _, r := range s.recs {
			if r.Seq <= seq {
				out = append(out, r)
			}
		}
		return out, nil
	}
	// each hands the messages over in two chunks, as the stream is read.
	each := func(ctx context.Context, seq uint64, fn func([]events.Recorded) error) error {
		all, err := upTo(ctx, seq)
		if err != nil {
			return err
		}
		if err := fn(all[:len(all)/2]); err != nil {
			return err
		}
		return fn(all[len(all)/2:])
	}
	last := s.recs[len(s.recs)-1].Seq
	pos, diffs, err := sink.VerifyLive(ctx, last, each)
	if err != nil || pos != last || len(diffs) != 0 {
		t.Fatalf("VerifyLive = %d, %d differences, %v; want %d, none:\n%s", pos, len(diffs), err, last, joinLines(diffs))
	}

	// A changed field is a difference.
	var game string
	for id := range fold(s.recs).games {
		game = sink.k.game(id)
		break
	}
	if err := c.HSet(ctx, game, "tampered", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if _, diffs, err = sink.VerifyLive(ctx, last, each); err != nil || !strings.Contains(joinLines(diffs), "tampered") {
		t.Fatalf("VerifyLive after tampering: %v, differences:\n%s", err, joinLines(diffs))
	}
	c.HDel(ctx, game, "tampered")

	// A game written beyond the position (the projector between a
	// batch's keys and its position, forever here) is never compared.
	if err := c.HSet(ctx, game, "ck", last+1).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sink.VerifyLive(ctx, last, each); err == nil || !strings.Contains(err.Error(), "no settled snapshot") {
		t.Fatalf("VerifyLive with a half-applied batch: %v, want no settled snapshot", err)
	}
}

// A projection behind the stream (its position below the last sequence
// VerifyLive was told of) is compared with the stream up to its position
// only, although the stream was folded further while its snapshot was read.
func TestVerifyLiveBehindTheStream(t *testing.T) {
	ctx := context.Background()
	s := randomStream(t, 12, 3, 20, 800)
	sink, _, _ := mustSink(t)
	applied := s.recs[:len(s.recs)*2/3]
	applyInBatches(t, sink, applied, 2, 100)
	calls := 0
	each := func(_ context.Context, seq uint64, fn func([]events.Recorded) error) error {
		calls++
		var upTo []events.Recorded
		for _, r := range s.recs {
			if r.Seq <= seq {
				upTo = append(upTo, r)
			}
		}
		return fn(upTo)
	}
	want := applied[len(applied)-1].Seq
	pos, diffs, err := sink.VerifyLive(ctx, s.recs[len(s.recs)-1].Seq, each)
	if err != nil || pos != want || len(diffs) != 0 {
		t.Fatalf("VerifyLive = %d, %d differences, %v; want %d, none:\n%s", pos, len(diffs), err, want, joinLines(diffs))
	}
	if calls != 2 {
		t.Errorf("each called %d times, want 2 (up to the stream's end while the snapshot is read, then up to the position)", calls)
	}
}
