package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordkv"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/metrics"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redismarks"
)

// maxShards bounds DISCORD_SHARDS.
const maxShards = 1024

// registerShards adds DISCORD_SHARDS.
func (b *botSettings) registerShards(fs *flag.FlagSet) {
	fs.StringVar(&b.shards, "discord-shards", "",
		`gateway shards spread over every instance by leases in NATS: a count, or "auto" for Discord's recommendation; empty: one session per instance, no sharding [DISCORD_SHARDS]`)
}

func (b botSettings) checkShards() error {
	if b.shards == "" || b.shards == "auto" {
		return nil
	}
	n, err := strconv.Atoi(b.shards)
	if err != nil || n < 1 || n > maxShards {
		return fmt.Errorf(`DISCORD_SHARDS: %q is neither "auto" nor a count from 1 to %d`, b.shards, maxShards)
	}
	return nil
}

// lateGuilds is the bot's guild ownership, known once the shard leases
// run (the bot is created first: the shard count may come from Discord).
type lateGuilds struct {
	s atomic.Pointer[discordkv.Shards]
}

// Owns is false until the leases run.
func (g *lateGuilds) Owns(guild string) bool {
	s := g.s.Load()
	return s != nil && s.Owns(guild)
}

// orAll returns g, or nil (every guild) for a bot that is not sharded.
func (g *lateGuilds) orAll(all bool) discordbot.Guilds {
	if all {
		return nil
	}
	return g
}

// sharded runs the bot in sharded mode: the shard count (DISCORD_SHARDS,
// or Discord's recommendation), the shard leases in NATS KV, and for each
// shard held its gateway session and its discord-effects reactor (the
// durable consumer "projector-discord-shard-K-of-N").
type sharded struct {
	bot     *discordbot.Bot
	kv      jetstream.KeyValue
	setting string
	guilds  *lateGuilds
	js      jetstream.JetStream
	stream  string
	rdb     redis.UniversalClient
	prefix  string // of the shards' done-marks
	lease   projector.LeaseOptions
	m       *metrics.Metrics
	state   *discordState
	log     *slog.Logger
}

// run resolves the shard count (retrying while Discord cannot be reached)
// and runs the leases until ctx ends.
func (s sharded) run(ctx context.Context) {
	count, conc, err := s.count(ctx)
	if err != nil {
		return // ctx ended
	}
	if err := s.bot.Start(); err != nil {
		s.log.Error("discord bot not started", "err", err)
		return
	}
	sh, err := discordkv.NewShards(s.kv, func(ctx context.Context, k int) error { return s.serve(ctx, k, count) },
		discordkv.ShardOptions{Count: count, MaxConcurrency: conc, TTL: max(s.lease.TTL, reactorLeaseTTL),
			Holder: s.lease.Holder, Log: s.log, OnChange: s.m.SetShardsHeld, OnTakeover: s.m.ShardTakeover})
	if err != nil {
		s.log.Error("discord shards not started", "err", err)
		return
	}
	s.guilds.s.Store(sh)
	s.state.set(true, "")
	s.log.Info("discord bot sharded", "shards", count, "max_concurrency", conc)
	for delay := discordRetryMin; ; delay = min(2*delay, discordRetryMax) {
		err := sh.Run(ctx) // fails only when NATS cannot watch the leases
		if ctx.Err() != nil {
			return
		}
		s.log.Error("discord shard leases stopped: retrying", "next_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// count is DISCORD_SHARDS, or with "auto" Discord's recommendation, and
// the identify concurrency Discord allows (1 if it cannot be asked).
func (s sharded) count(ctx context.Context) (count, conc int, err error) {
	fixed, _ := strconv.Atoi(s.setting) // checked: "auto" or a count
	delay := discordRetryMin
	for {
		rec, conc, err := s.bot.GatewayBot(ctx)
		switch {
		case err == nil && fixed > 0:
			return fixed, conc, nil
		case err == nil:
			return rec, conc, nil
		case fixed > 0:
			s.log.Warn("discord gateway limits unknown: identifying one shard per 5 s", "err", err)
			return fixed, 1, nil
		}
		s.state.set(false, fmt.Sprintf("cannot ask Discord for the shard count (next try in %s): %v", delay, err))
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, discordRetryMax)
	}
}

// serve runs shard k while it is held: its gateway session and reactor.
func (s sharded) serve(ctx context.Context, k, count int) error {
	// The reactor first: what the session brings in is its to handle.
	marks := redismarks.New(s.rdb, redismarks.Options{Prefix: fmt.Sprintf("%sshard-%d-of-%d:", s.prefix, k, count)})
	r := s.bot.ShardReactor(k, count, marks)
	defer r.Stop()
	if err := s.bot.OpenShard(ctx, k, count); err != nil {
		return err
	}
	defer func() {
		if err := s.bot.CloseShard(k); err != nil {
			s.log.Warn("shard session not closed cleanly", "shard", k, "err", err)
		}
	}()
	return projector.New(natsstore.NewFeed(s.js, s.stream), r, reactorOptions(s.log.With("shard", k), s.m, s.lease)).Run(ctx)
}
