// Package redisproj is the Redis projection of The Button: the hot state
// the Discord bot and the web pages show (GAME-RULES §8–10). It owns every
// Redis key name: the Sink writes the views from the event stream, the
// Reader is the only API that reads them, and Verify compares them with a
// fold of the stream.
//
// Keys of one game share the hash tag {g:<id>} and everything across games
// the tag {btn}, so the layout works on Redis Cluster: each Lua script
// touches one slot and writes its data together with that slot's
// checkpoint (a compare-and-set), so a replayed or redelivered event never
// counts twice.
//
// It imports events and go-redis; never commands, discordbot, imaging, the
// MySQL projection or NATS.
package redisproj

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/events"
)

// ErrFlushed means the projection has lost its data (Redis was flushed or
// restarted without persistence) while the batch given to Apply does not
// start at the beginning of the stream: nothing was written, Position
// reports 0, and the caller must apply the stream again from its first
// message (or call Reset first to accept a batch starting anywhere).
var ErrFlushed = errors.New("redis projection: data lost, rebuild from the start of the stream")

// Options configures a Sink.
type Options struct {
	// Prefix starts every key of the projection ("" in production; tests
	// use a unique one).
	Prefix string
	// Log receives warnings about events the projection ignores.
	Log *slog.Logger
}

// Sink writes the Redis views. It implements projector.Sink and
// projector.Verifier. Apply, Position and Reset may be called from one
// goroutine at a time; Verify may run beside them but then sees a moving
// projection.
type Sink struct {
	rdb      redis.UniversalClient
	k        keys
	log      *slog.Logger
	apply    *luaScript
	position *luaScript

	conflicts atomic.Int64 // reads again after a checkpoint moved
}

//go:embed apply.lua
var applyLua string

//go:embed position.lua
var positionLua string

// New returns a sink writing through rdb. It does not contact Redis.
func New(rdb redis.UniversalClient, opts Options) *Sink {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{
		rdb:      rdb,
		k:        keys{prefix: opts.Prefix},
		log:      log.With("projection", "redis"),
		apply:    newLuaScript(applyLua),
		position: newLuaScript(positionLua),
	}
}

// Name is the projection's identity.
func (s *Sink) Name() string { return "redis" }

// Position returns the stream sequence up to which every message has been
// applied, read from Redis (0 when the projection is empty).
func (s *Sink) Position(ctx context.Context) (uint64, error) {
	v, err := s.rdb.Get(ctx, s.k.pos()).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, translate("read redis projection position", err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read redis projection position %q: %w", v, err)
	}
	return n, nil
}

// Reset deletes every key of the projection and sets its position to 0,
// which also lets the next Apply start at any sequence.
func (s *Sink) Reset(ctx context.Context) error {
	if err := s.scan(ctx, func(c redis.UniversalClient, batch []string) error {
		pipe := c.Pipeline()
		for _, key := range batch {
			pipe.Unlink(ctx, key) // one key per command: keys of several slots
		}
		_, err := pipe.Exec(ctx)
		return err
	}); err != nil {
		return translate("reset redis projection", err)
	}
	if err := s.rdb.Set(ctx, s.k.pos(), "0", 0).Err(); err != nil {
		return translate("reset redis projection", err)
	}
	return nil
}

// scan calls fn with the projection's keys, a few hundred at a time, on
// every master that holds some. The masters of a cluster are scanned at
// once, but fn is called by one of them at a time.
func (s *Sink) scan(ctx context.Context, fn func(c redis.UniversalClient, keys []string) error) error {
	var mu sync.Mutex
	call := func(c redis.UniversalClient, batch []string) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(c, batch)
	}
	each := func(ctx context.Context, c redis.UniversalClient) error {
		for _, pattern := range s.k.patterns() {
			// COUNT 5,000: a Redis shared with a million other keys is
			// walked in a few hundred calls, so a reset fits in one
			// attempt (at 500 it took minutes under load and retried).
			it := c.Scan(ctx, 0, pattern, 5000).Iterator()
			batch := make([]string, 0, 500)
			for it.Next(ctx) {
				batch = append(batch, it.Val())
				if len(batch) == cap(batch) {
					if err := call(c, batch); err != nil {
						return err
					}
					batch = batch[:0]
				}
			}
			if err := it.Err(); err != nil {
				return err
			}
			if len(batch) > 0 {
				if err := call(c, batch); err != nil {
					return err
				}
			}
		}
		return nil
	}
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return each(ctx, m) })
	case *redis.Ring:
		return c.ForEachShard(ctx, func(ctx context.Context, m *redis.Client) error { return each(ctx, m) })
	default:
		return each(ctx, s.rdb)
	}
}

// inOrder returns batch sorted by sequence without repeated sequences,
// copying only if it must.
func inOrder(batch []events.Recorded) []events.Recorded {
	ok := true
	for i := 1; i < len(batch); i++ {
		if batch[i].Seq <= batch[i-1].Seq {
			ok = false
			break
		}
	}
	if ok {
		return batch
	}
	recs := slices.Clone(batch)
	slices.SortStableFunc(recs, func(a, b events.Recorded) int { return cmp.Compare(a.Seq, b.Seq) })
	return slices.CompactFunc(recs, func(a, b events.Recorded) bool { return a.Seq == b.Seq })
}

// crossGameEvent reports whether a message is a channel or guild event on
// its own subject.
func crossGameEvent(r events.Recorded) bool {
	if r.Err != nil || r.Event == nil {
		return false
	}
	switch e := r.Event.(type) {
	case events.ChannelClaimed:
		ch, ok := parseChannelSubject(r.Subject)
		return ok && ch == e.Channel
	case events.GuildIconSet:
		g, ok := events.ParseGuildSubject(r.Subject)
		return ok && g == e.Guild
	case events.PlayerBanned:
		g, ok := events.ParseGuildSubject(r.Subject)
		return ok && g == e.Guild
	case events.PlayerUnbanned:
		g, ok := events.ParseGuildSubject(r.Subject)
		return ok && g == e.Guild
	}
	return false
}

// parseChannelSubject returns the channel of a channel subject.
func parseChannelSubject(subject string) (string, bool) {
	const prefix = "button.channel."
	if len(subject) <= len(prefix) || subject[:len(prefix)] != prefix {
		return "", false
	}
	ch := subject[len(prefix):]
	return ch, events.ValidID(ch)
}

// encodeBan is a ban record: <by>:<at ms>:<reason>.
func encodeBan(e events.PlayerBanned) string {
	return e.By + ":" + strconv.FormatInt(e.AtMS, 10) + ":" + e.Reason
}
