package discordbot

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/bwmarrin/discordgo"
)

// Sharded mode: instead of Open, the caller runs Start once and then
// OpenShard and CloseShard as it gains and loses shards (discordkv
// holds one lease per shard in NATS). Each shard is a gateway session of
// its own carrying its guilds' interactions; REST calls of every shard go
// through the bot's one REST client and budget. Per-guild work follows
// the shards: Config.Guilds says which guilds' game messages this process
// updates and ShardReactor gives each shard's effects their own reactor.

// shardSession is an open gateway shard.
type shardSession struct {
	s      *discordgo.Session
	remove []func()
}

// GatewayBot asks Discord how many shards it recommends for the bot and
// how many may identify at once (per 5 s): GET /gateway/bot.
func (b *Bot) GatewayBot(ctx context.Context) (shards, maxConcurrency int, err error) {
	var g *discordgo.GatewayBotResponse
	err = b.rest.do(ctx, "get gateway", discordgo.EndpointGatewayBot, func(opts ...discordgo.RequestOption) error {
		var err error
		g, err = b.s.GatewayBot(opts...)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return max(g.Shards, 1), max(g.SessionStartLimit.MaxConcurrency, 1), nil
}

// Start starts the bot without a gateway session of its own (sharded
// mode): the updater runs; the slash commands are registered by the first
// shard opened. It may be called more than once.
func (b *Bot) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("discordbot: start: the bot is closed")
	}
	b.startUpdaterLocked()
	return nil
}

// OpenShard opens the gateway session of one shard of count and returns
// once it is ready (READY received). The first shard opened registers the
// slash commands. Opening a shard that is open does nothing. On failure
// nothing is left open. Safe for concurrent use with other shards.
func (b *Bot) OpenShard(ctx context.Context, shard, count int) error {
	if shard < 0 || count < 1 || shard >= count {
		return fmt.Errorf("discordbot: open shard %d of %d: no such shard", shard, count)
	}
	b.shardsMu.Lock()
	if b.shards == nil {
		b.shards = make(map[int]*shardSession)
	}
	if b.shards[shard] != nil {
		b.shardsMu.Unlock()
		return nil
	}
	b.shardsMu.Unlock()
	s, err := newSession(b.cfg)
	if err != nil {
		return err
	}
	s.ShardID, s.ShardCount = shard, count
	name := strconv.Itoa(shard)
	ss := &shardSession{s: s, remove: b.addHandlers(s, name)}
	fail := func(err error) error {
		for _, rm := range ss.remove {
			rm()
		}
		_ = s.Close()
		return err
	}
	if err := s.Open(); err != nil {
		return fail(fmt.Errorf("discordbot: open shard %d of %d: %w", shard, count, err))
	}
	if err := b.registerOnce(ctx, s); err != nil {
		return fail(err)
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	b.shardsMu.Lock()
	defer b.shardsMu.Unlock()
	if closed || b.shards[shard] != nil {
		return fail(fmt.Errorf("discordbot: open shard %d: the bot closed or the shard opened meanwhile", shard))
	}
	b.shards[shard] = ss
	b.log.Info("discord shard open", "shard", shard, "shards", count)
	return nil
}

// registerOnce registers the slash commands unless a shard did already:
// shards opened at once register them once.
func (b *Bot) registerOnce(ctx context.Context, s *discordgo.Session) error {
	b.registerMu.Lock()
	defer b.registerMu.Unlock()
	if b.registered {
		return nil
	}
	app, err := appOf(s)
	if err != nil {
		return err
	}
	if err := b.register(ctx, app); err != nil {
		return err
	}
	b.registered = true
	return nil
}

// CloseShard closes the gateway session of a shard, if open.
func (b *Bot) CloseShard(shard int) error {
	b.shardsMu.Lock()
	ss := b.shards[shard]
	delete(b.shards, shard)
	b.shardsMu.Unlock()
	if ss == nil {
		return nil
	}
	for _, rm := range ss.remove {
		rm()
	}
	if err := ss.s.Close(); err != nil {
		return fmt.Errorf("discordbot: close shard %d: %w", shard, err)
	}
	b.log.Info("discord shard closed", "shard", shard)
	return nil
}

// closeShards closes every open shard.
func (b *Bot) closeShards() {
	b.shardsMu.Lock()
	ids := make([]int, 0, len(b.shards))
	for id := range b.shards {
		ids = append(ids, id)
	}
	b.shardsMu.Unlock()
	for _, id := range ids {
		if err := b.CloseShard(id); err != nil {
			b.log.Warn("shard not closed cleanly", "shard", id, "err", err)
		}
	}
}

// Backlog returns the queued effects by kind of every reactor of the bot
// (the unsharded one and those of the shards).
func (b *Bot) Backlog() map[string]Backlog {
	out := b.reactor.Backlog()
	b.reactorsMu.Lock()
	rs := make([]*Reactor, 0, len(b.reactors))
	for _, r := range b.reactors {
		rs = append(rs, r)
	}
	b.reactorsMu.Unlock()
	for _, r := range rs {
		for k, bl := range r.Backlog() {
			o := out[k]
			o.Effects += bl.Effects
			o.Oldest = max(o.Oldest, bl.Oldest)
			out[k] = o
		}
	}
	return out
}
