// Package projector turns the event stream into read models: it owns the
// consumer loop shared by every projection (durable consumers, ack after
// commit, checkpoints, back-off, dead letters, leases) and the contract a
// projection's sink implements. It reaches the stream only through
// events.Feed, implemented on JetStream by events/natsstore and in memory
// by events/memfeed. Each sink lives in its own subpackage and is the
// only code that knows its storage (projector/redisproj owns every Redis
// key name, projector/mysqlproj the history tables).
//
// It imports events only (a test keeps nats.go out of its dependencies);
// its subpackages import the sinks' clients. Never discordbot, commands or
// imaging.
package projector

import (
	"context"

	"github.com/thebutton-game/thebutton/events"
)

// Sink is one projection's storage. The loop calls it from one goroutine.
//
// The loop keeps its own record of the checkpoint between batches (it
// re-reads Position at start, after a failed Apply and about every
// second). A sink whose storage can lose data behind the loop's back
// (Redis flushed or restarted without persistence) must therefore refuse,
// with an error, a batch that does not follow its checkpoint once it has
// lost it; the loop then reads Position, finds it lower, and applies the
// stream again from there.
type Sink interface {
	// Name is the projection's identity, such as "redis" or "mysql". The
	// durable consumer is named "projector-" + Name(); names are
	// identities and never change.
	Name() string
	// Position returns the highest stream sequence the sink has applied,
	// read from the checkpoint stored with the data (0: nothing yet).
	Position(ctx context.Context) (uint64, error)
	// Apply writes a batch of messages, in stream order, together with the
	// checkpoint: when it returns nil, the data and checkpoint of every
	// message of the batch are durable. Messages at or below the stored
	// checkpoint change nothing (redelivery, replay over applied data). A
	// message with Err set (undecodable, already dead-lettered by the
	// loop) and events the projection does not use only advance the
	// checkpoint. Any error makes the loop retry the batch with back-off;
	// the sink must leave its data consistent when it fails.
	Apply(ctx context.Context, batch []events.Recorded) error
	// Reset deletes the projection's data and checkpoint, for a rebuild
	// from the start of the stream.
	Reset(ctx context.Context) error
}

// Verifier is implemented by sinks that can compare themselves with the
// stream.
type Verifier interface {
	// Verify compares the projection with what all (every message of the
	// stream, in order) must have produced, and returns one human-readable
	// line per difference; none means the projection is exact.
	Verify(ctx context.Context, all []events.Recorded) ([]string, error)
}
