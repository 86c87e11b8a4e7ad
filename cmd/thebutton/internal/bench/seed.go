package bench

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
)

// seedSpec is a stream of active games for the start-up benchmarks: games
// games of perGame events each (a start, then clicks), every click one
// millisecond after the one before, by seedPlayers players in turn, so
// that every rule holds: cooldown seedCooldownMS, sequential requirement
// seedSequential, each figure as the rules compute it.
type seedSpec struct {
	games, perGame int
	base           events.GameID // id of the first game
	atMS           int64         // start time of every game
}

const (
	seedPlayers    = 200
	seedDurationMS = 12 * 3_600_000
	seedCooldownMS = 100
	seedSequential = 2
	// seedInFlight is how many publishes wait for their acks at most.
	seedInFlight = 2000
)

// event is the k-th event (0: the start) of the g-th game.
func (s seedSpec) event(g, k int) events.Event {
	id := s.base + events.GameID(g)
	if k == 0 {
		return events.GameStarted{Game: id, Guild: "1", ButtonChannel: fmt.Sprint(1<<40 + g),
			ChatChannel: fmt.Sprint(1<<40 + g), DurationMS: seedDurationMS, CooldownMS: seedCooldownMS,
			Sequential: seedSequential, StartedBy: "2", AtMS: s.atMS}
	}
	// Click k comes 1 ms after click k−1 (or the start), whose deadline
	// was its time plus the duration.
	at := s.atMS + int64(k)
	value := events.Remaining(at-1+seedDurationMS, at)
	user := 1000 + k%seedPlayers
	return events.ButtonClicked{Game: id, Guild: "1", Number: int64(k), User: fmt.Sprint(user),
		UserName: fmt.Sprintf("seed player %d", user), Interaction: fmt.Sprint(1<<60 + g<<24 + k),
		AtMS: at, ValueMS: value, Band: int(events.BandOf(value, seedDurationMS)),
		ClaimedMS: events.Claimed(value, seedDurationMS), MMRMilli: events.MMRMilli(value, seedDurationMS)}
}

// seed publishes the spec's games in rounds: round k holds the k-th event
// of every game, each expecting its game's previous event (the ack of
// round k−1) as the subject's last, so a game's events are stored in order
// or not at all. Any publish that fails stops the seed with its error.
func seed(ctx context.Context, js jetstream.JetStream, s seedSpec) (int, error) {
	last := make([]uint64, s.games)
	stored := 0
	for k := range s.perGame {
		type sent struct {
			g   int
			ack jetstream.PubAckFuture
		}
		var inFlight []sent
		wait := func() error {
			for _, p := range inFlight {
				select {
				case ack := <-p.ack.Ok():
					last[p.g] = ack.Sequence
					stored++
				case err := <-p.ack.Err():
					return fmt.Errorf("seed event %d of game %d: %w", k, s.base+events.GameID(p.g), err)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			inFlight = inFlight[:0]
			return nil
		}
		for g := range s.games {
			e := s.event(g, k)
			data, err := events.Encode(e)
			if err != nil {
				return stored, err
			}
			msg := &nats.Msg{Subject: events.GameSubject(s.base + events.GameID(g)), Data: data, Header: nats.Header{}}
			msg.Header.Set(natsstore.HeaderType, e.EventType())
			msg.Header.Set(natsstore.HeaderVersion, fmt.Sprint(events.Version))
			ack, err := js.PublishMsgAsync(msg, jetstream.WithExpectLastSequencePerSubject(last[g]))
			if err != nil {
				return stored, fmt.Errorf("seed event %d of game %d: %w", k, s.base+events.GameID(g), err)
			}
			if inFlight = append(inFlight, sent{g, ack}); len(inFlight) == seedInFlight {
				if err := wait(); err != nil {
					return stored, err
				}
			}
		}
		if err := wait(); err != nil {
			return stored, err
		}
	}
	return stored, nil
}
