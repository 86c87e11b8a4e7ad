// Package redismarks keeps the discord-effects reactor's done-marks in
// Redis: one key per effect of an event (claimed with SET NX and a long
// TTL, so an effect runs at most once across restarts, redeliveries and
// several bot processes), the reactor's checkpoint, and the moment the
// checkpoint was first found missing. It implements the discordbot.Marks
// interface structurally.
//
// It imports go-redis only; never discordbot, commands, NATS or the other
// projections. Keys are <prefix>mark:<key>, <prefix>pos and <prefix>zero;
// the prefix isolates a deployment (and a test).
package redismarks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable means Redis could not be reached or did not answer in
// time; the caller should retry later.
var ErrUnavailable = errors.New("redismarks: redis unavailable")

// DefaultTTL is how long a done-mark lives: far longer than any
// redelivery or restart, short enough that marks do not pile up forever.
const DefaultTTL = 30 * 24 * time.Hour

// Options configures Marks.
type Options struct {
	// Prefix starts every key (default "thebutton:discord:").
	Prefix string
	// TTL is the lifetime of a mark (default DefaultTTL).
	TTL time.Duration
}

// Marks are done-marks and a checkpoint in Redis. They are safe for
// concurrent use.
type Marks struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// New returns marks stored through rdb. It does not contact Redis.
func New(rdb redis.UniversalClient, opts Options) *Marks {
	if opts.Prefix == "" {
		opts.Prefix = "thebutton:discord:"
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	return &Marks{rdb: rdb, prefix: opts.Prefix, ttl: opts.TTL}
}

func (m *Marks) markKey(key string) string { return m.prefix + "mark:" + key }
func (m *Marks) posKey() string            { return m.prefix + "pos" }
func (m *Marks) zeroKey() string           { return m.prefix + "zero" }

// translate wraps a go-redis error saying what was attempted; anything but
// a reply error or a cancelled context also wraps ErrUnavailable.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var reply redis.Error
	if errors.As(err, &reply) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// Claim marks the effect key as done and reports whether this call did it
// (false: it was claimed before). An error means nothing is known: the
// caller must not run the effect.
func (m *Marks) Claim(ctx context.Context, key string) (bool, error) {
	ok, err := m.rdb.SetNX(ctx, m.markKey(key), "1", m.ttl).Result()
	if err != nil {
		return false, translate("claim mark "+key, err)
	}
	return ok, nil
}

// Release forgets a claim whose effect failed in a way worth retrying.
func (m *Marks) Release(ctx context.Context, key string) error {
	return translate("release mark "+key, m.rdb.Del(ctx, m.markKey(key)).Err())
}

// Position returns the checkpoint (0 if none).
func (m *Marks) Position(ctx context.Context) (uint64, error) {
	v, err := m.rdb.Get(ctx, m.posKey()).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, translate("read reactor position", err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read reactor position %q: %w", v, err)
	}
	return n, nil
}

// raisePos sets the position only if it grows: two members can never move
// it backwards.
var raisePos = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 0`)

// SetPosition raises the checkpoint to seq (never lowers it).
func (m *Marks) SetPosition(ctx context.Context, seq uint64) error {
	err := raisePos.Run(ctx, m.rdb, []string{m.posKey()}, strconv.FormatUint(seq, 10)).Err()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	return translate("write reactor position", err)
}

// ResetPosition deletes the checkpoint and the moment it was first found
// missing. The marks stay, so effects that ran are not run again.
func (m *Marks) ResetPosition(ctx context.Context) error {
	// One key at a time: on a Redis Cluster they live in different slots.
	if err := m.rdb.Del(ctx, m.zeroKey()).Err(); err != nil {
		return translate("reset reactor position", err)
	}
	return translate("reset reactor position", m.rdb.Del(ctx, m.posKey()).Err())
}

// ZeroSince returns the moment the checkpoint was first found missing,
// recording at if no moment is recorded: one moment for every process
// running the reactor, so that one taking it over (a shard that moved)
// finds the moment its predecessor found. It expires like a mark, so it
// never outlives the marks of the events after it, and a Redis that loses
// the marks loses it too.
func (m *Marks) ZeroSince(ctx context.Context, at time.Time) (time.Time, error) {
	key := m.zeroKey()
	if err := m.rdb.SetNX(ctx, key, strconv.FormatInt(at.UnixNano(), 10), m.ttl).Err(); err != nil {
		return time.Time{}, translate("record reactor zero moment", err)
	}
	v, err := m.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return at, nil // expired in between
	}
	if err != nil {
		return time.Time{}, translate("read reactor zero moment", err)
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("read reactor zero moment %q: %w", v, err)
	}
	return time.Unix(0, ns), nil
}
