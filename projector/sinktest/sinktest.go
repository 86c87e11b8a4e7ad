// Package sinktest is the contract every projection sink passes: one test
// body (Run) run by the tests of each sink — Redis, MySQL, the discord
// effects, the in-memory Memory — so that the promises projector.Sink
// states are checked the same way everywhere: messages apply in order and
// move the checkpoint, messages at or below the checkpoint change nothing,
// a sink restarted after a crash and handed the same messages again ends
// in the same state, undecodable messages only move the checkpoint, and
// Reset sends the checkpoint back to 0.
//
// It imports events, projector and go-cmp; the sinks' tests import it.
package sinktest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector"
)

// Target is a sink under test, on storage of its own.
type Target struct {
	// Sink is the sink, with nothing applied yet.
	Sink projector.Sink
	// Reopen returns a new sink on the same storage, as a process that
	// restarts after a crash opens it: nothing of the old sink's memory
	// is kept. Nil: the contract reuses Sink.
	Reopen func(t *testing.T) projector.Sink
	// State returns what the sink stores (or does), in a form cmp.Diff
	// compares; it is read at the same checkpoint each time. It waits for work the sink does after Apply
	// returned. Reset may keep part of the state (the discord effects
	// keep their done-marks); re-applying the stream after a Reset must
	// give the same state again.
	State func(t *testing.T) any
	// Stream is what the contract applies (nil: Stream()). Sequences
	// start at 1 and follow each other; the last message is undecodable.
	Stream []events.Recorded
	// Lags says that a reopened sink's checkpoint may be below what the
	// old one was handed (the discord effects store theirs once the
	// effects are done); never above it.
	Lags bool
}

// Run checks the contract on targets made by newTarget, one per subtest.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("empty sink is at 0", func(t *testing.T) {
		tg := newTarget(t)
		checkPosition(t, tg.Sink, 0)
		apply(t, tg.Sink, nil) // an empty batch changes nothing
		checkPosition(t, tg.Sink, 0)
	})
	t.Run("applies in order and moves the checkpoint", func(t *testing.T) {
		tg := newTarget(t)
		recs := stream(tg)
		for _, batch := range batches(recs, 7) {
			apply(t, tg.Sink, batch)
			checkPosition(t, tg.Sink, batch[len(batch)-1].Seq) // the last is undecodable
		}
	})
	t.Run("applied messages change nothing", func(t *testing.T) {
		tg := newTarget(t)
		recs := stream(tg)
		empty := tg.State(t)
		applyAll(t, tg.Sink, recs, 5)
		want := tg.State(t)
		if cmp.Equal(empty, want) {
			t.Fatalf("the stream changed nothing in the sink's state: the contract would prove nothing\n%v", want)
		}
		last := recs[len(recs)-1].Seq
		again := []struct {
			name  string
			apply func(t *testing.T)
		}{
			{"the whole stream", func(t *testing.T) { apply(t, tg.Sink, recs) }},
			{"every message alone", func(t *testing.T) { applyAll(t, tg.Sink, recs, 1) }},
			{"older messages after newer ones", func(t *testing.T) {
				for i := len(recs) - 1; i >= 0; i -= 3 {
					apply(t, tg.Sink, recs[i:i+1])
				}
			}},
			{"a prefix", func(t *testing.T) { apply(t, tg.Sink, recs[:len(recs)/2]) }},
		}
		for _, a := range again {
			t.Run(a.name, func(t *testing.T) {
				a.apply(t)
				checkPosition(t, tg.Sink, last)
				sameState(t, want, tg.State(t))
			})
		}
	})
	t.Run("restarted after a crash, the same messages again give the same state", func(t *testing.T) {
		tg := newTarget(t)
		recs := stream(tg)
		applyAll(t, tg.Sink, recs, 4)
		want := tg.State(t)
		reset(t, tg.Sink)
		checkPosition(t, tg.Sink, 0)
		half := len(recs) / 2
		applyAll(t, tg.Sink, recs[:half], 3)
		sink := tg.Sink
		if tg.Reopen != nil {
			sink = tg.Reopen(t)
		}
		if tg.Lags {
			checkPositionAtMost(t, sink, recs[half-1].Seq)
		} else {
			checkPosition(t, sink, recs[half-1].Seq)
		}
		// Redelivered from the start: what the crash left applied, then
		// the rest, one batch overlapping the checkpoint.
		applyAll(t, sink, recs[:half+1], 2)
		applyAll(t, sink, recs[half-2:], 6)
		checkPosition(t, sink, recs[len(recs)-1].Seq)
		sameState(t, want, tg.State(t))
	})
	t.Run("reset sends the checkpoint to 0", func(t *testing.T) {
		tg := newTarget(t)
		recs := stream(tg)
		applyAll(t, tg.Sink, recs, 50)
		reset(t, tg.Sink)
		checkPosition(t, tg.Sink, 0)
		applyAll(t, tg.Sink, recs, 50)
		checkPosition(t, tg.Sink, recs[len(recs)-1].Seq)
	})
}

func stream(tg Target) []events.Recorded {
	if tg.Stream != nil {
		return tg.Stream
	}
	return Stream()
}

func batches(recs []events.Recorded, size int) [][]events.Recorded {
	var out [][]events.Recorded
	for len(recs) > 0 {
		n := min(size, len(recs))
		out = append(out, recs[:n:n])
		recs = recs[n:]
	}
	return out
}

func timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

func apply(t *testing.T, s projector.Sink, batch []events.Recorded) {
	t.Helper()
	ctx, cancel := timeout()
	defer cancel()
	if err := s.Apply(ctx, batch); err != nil {
		t.Fatalf("Apply(%d messages): %v", len(batch), err)
	}
}

func applyAll(t *testing.T, s projector.Sink, recs []events.Recorded, size int) {
	t.Helper()
	for _, b := range batches(recs, size) {
		apply(t, s, b)
	}
}

func reset(t *testing.T, s projector.Sink) {
	t.Helper()
	ctx, cancel := timeout()
	defer cancel()
	if err := s.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
}

func checkPosition(t *testing.T, s projector.Sink, want uint64) {
	t.Helper()
	ctx, cancel := timeout()
	defer cancel()
	got, err := s.Position(ctx)
	if err != nil {
		t.Fatalf("Position: %v", err)
	}
	if got != want {
		t.Errorf("Position() = %d, want %d", got, want)
	}
}

func checkPositionAtMost(t *testing.T, s projector.Sink, most uint64) {
	t.Helper()
	ctx, cancel := timeout()
	defer cancel()
	got, err := s.Position(ctx)
	if err != nil {
		t.Fatalf("Position: %v", err)
	}
	if got > most {
		t.Errorf("Position() = %d, want at most %d", got, most)
	}
}

func sameState(t *testing.T, want, got any) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}

// T0 is the time the events of Stream start at.
const T0 = int64(1_760_000_000_123)

// Stream is a small consistent stream: two games in two guilds with
// clicks, their game messages and ends, guild settings, and messages a
// projection must leave alone: events the fold refuses (a second start, a
// click out of order) and undecodable payloads, the last message among
// them.
func Stream() []events.Recorded {
	var recs []events.Recorded
	add := func(subject string, e events.Event) {
		seq := uint64(len(recs)) + 1
		data, err := events.Encode(e)
		if err != nil {
			panic(fmt.Sprintf("sinktest: encode %T: %v", e, err)) // a bug of this file
		}
		recs = append(recs, events.Recorded{Seq: seq, Subject: subject, Event: e, Stored: time.UnixMilli(T0 + int64(seq)), Data: data})
	}
	junk := func(subject, data string) {
		_, err := events.Decode([]byte(data))
		recs = append(recs, events.Recorded{Seq: uint64(len(recs)) + 1, Subject: subject, Err: err, Data: []byte(data),
			Stored: time.UnixMilli(T0 + int64(len(recs)) + 1)})
	}
	type game struct {
		guild        string
		duration     int64
		last, n      int64
		chat, button string
	}
	games := map[events.GameID]*game{}
	start := func(id events.GameID, guild string, atMS, duration int64) {
		g := &game{guild: guild, duration: duration, last: atMS, chat: fmt.Sprint(9100 + id), button: fmt.Sprint(9000 + id)}
		games[id] = g
		add(events.GameSubject(id), events.GameStarted{Game: id, Guild: guild, ButtonChannel: g.button, ChatChannel: g.chat,
			DurationMS: duration, StartedBy: "42", StarterName: "Admin", AtMS: atMS})
	}
	click := func(id events.GameID, user, name string, atMS int64) {
		g := games[id]
		value := events.Remaining(g.last+g.duration, atMS)
		g.last = atMS
		g.n++
		add(events.GameSubject(id), events.ButtonClicked{
			Game: id, Guild: g.guild, Number: g.n, User: user, UserName: name,
			Interaction: fmt.Sprintf("i-%d-%d", id, g.n), AtMS: atMS, ValueMS: value,
			Band: int(events.BandOf(value, g.duration)), ClaimedMS: events.Claimed(value, g.duration),
			MMRMilli: events.MMRMilli(value, g.duration),
		})
	}
	const minute = 60_000
	start(1, "111", T0, minute)
	add(events.ChannelSubject("9001"), events.ChannelClaimed{Channel: "9001", Guild: "111", Game: 1, AtMS: T0})
	add(events.GameSubject(1), events.GameMessagePosted{Game: 1, Channel: "9001", MessageID: "71", AtMS: T0 + 1})
	click(1, "501", "Alice", T0+10_000)
	click(1, "502", "Bob", T0+45_000)
	junk(events.GameSubject(1), `{"type":"game.button_clicked"`)
	click(1, "501", "Alice", T0+100_000)
	click(1, "503", "Carol", T0+100_001)
	// Refused by the fold: a second start, a click out of order.
	add(events.GameSubject(1), events.GameStarted{Game: 1, Guild: "111", ButtonChannel: "1", ChatChannel: "1",
		DurationMS: 5, StartedBy: "1", AtMS: T0})
	add(events.GameSubject(1), events.ButtonClicked{Game: 1, Guild: "111", Number: 9, User: "504", AtMS: T0 + 200_000,
		ValueMS: 1, ClaimedMS: minute - 1})
	add(events.GameSubject(1), events.GameEnded{Game: 1, Reason: events.EndExpired, AtMS: T0 + 100_001 + minute})

	start(2, "222", T0+1_000, 12*3600_000)
	add(events.GameSubject(2), events.GameMessagePosted{Game: 2, Channel: "9002", MessageID: "77", AtMS: T0 + 1_001})
	for i := range int64(12) {
		u := fmt.Sprint(600 + i%4)
		click(2, u, "player "+u, T0+2_000+i*1_500)
	}
	add(events.GuildSubject("111"), events.GuildIconSet{Guild: "111", Icon: "🐉", By: "42", AtMS: T0 + 5})
	add(events.GuildSubject("111"), events.PlayerBanned{Guild: "111", User: "777", By: "42", Reason: "spam", AtMS: T0 + 6})
	add(events.GuildSubject("111"), events.PlayerUnbanned{Guild: "111", User: "777", By: "42", AtMS: T0 + 8})
	add(events.GameSubject(2), events.GameEnded{Game: 2, Reason: events.EndAborted, By: "42", Why: "testing", AtMS: T0 + 40_000})
	junk("button.guild.111", "not json")
	return recs
}

// Memory is an in-memory projection: for each subject, the events applied
// to it, in order, with the checkpoint beside them. It is safe for
// concurrent use.
type Memory struct {
	name string

	mu      sync.Mutex
	pos     uint64
	applied map[string][]string // subject → "seq type" of each event applied
}

// NewMemory returns an empty in-memory projection named name.
func NewMemory(name string) *Memory { return &Memory{name: name, applied: map[string][]string{}} }

// Name is the projection's name.
func (m *Memory) Name() string { return m.name }

// Position returns the checkpoint.
func (m *Memory) Position(context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos, nil
}

// Apply records the events of batch above the checkpoint. A batch that
// does not start right after the checkpoint (or at or below it) is refused.
func (m *Memory) Apply(ctx context.Context, batch []events.Recorded) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range batch {
		if i > 0 && r.Seq <= batch[i-1].Seq {
			return fmt.Errorf("memory sink: batch out of order: %d after %d", r.Seq, batch[i-1].Seq)
		}
	}
	if len(batch) > 0 && batch[0].Seq > m.pos+1 {
		return fmt.Errorf("memory sink: batch starts at %d after checkpoint %d", batch[0].Seq, m.pos)
	}
	for _, r := range batch {
		if r.Seq <= m.pos {
			continue
		}
		if r.Err == nil {
			m.applied[r.Subject] = append(m.applied[r.Subject], fmt.Sprintf("%d %s", r.Seq, r.Event.EventType()))
		}
		m.pos = r.Seq
	}
	return nil
}

// Reset deletes everything.
func (m *Memory) Reset(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos, m.applied = 0, map[string][]string{}
	return nil
}

// State returns a copy of what was applied, by subject.
func (m *Memory) State() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string, len(m.applied))
	for k, v := range m.applied {
		out[k] = append([]string(nil), v...)
	}
	return out
}
