package discordbot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
	"github.com/thebutton-game/thebutton/timefmt"
)

// Effect kinds, one lane kind each (metrics label "kind").
const (
	kindGame     = "game"     // a game's start and end, per guild
	kindRole     = "role"     // role grants, per guild
	kindAnnounce = "announce" // click and end announcements, per chat channel
)

// EffectKinds are the kinds of queued effects Backlog reports.
var EffectKinds = []string{kindGame, kindRole, kindAnnounce}

// errMarks marks a failure of the done-marks' store (Redis), as opposed
// to one of Discord.
var errMarks = errors.New("done-marks")

// effect is one queued effect of one event.
type effect struct {
	kind   string
	lane   string
	seq    uint64
	stored time.Time // when the event was stored
	queued time.Time

	start *recorded[events.GameStarted]
	click *recorded[events.ButtonClicked]
	end   *recorded[events.GameEnded]
	game  readmodel.Game // the event's game, as the views show it
	sum   *endSummary    // an end's announcement
}

func (e *effect) key() string { return markKey(e.seq, e.kind) + ":" + e.lane }

// lane is a queue of effects run one after the other by one goroutine,
// started when work arrives and gone when the queue is empty.
type lane struct {
	name    string
	kind    string
	queue   []*effect
	running bool
}

// enqueueLocked queues an effect unless it is queued already (a
// redelivery). Caller holds r.mu.
func (r *Reactor) enqueueLocked(e *effect) {
	k := e.key()
	if r.queued[k] {
		return
	}
	r.queued[k] = true
	r.pending[e.seq]++
	e.queued = time.Now()
	l := r.lanes[e.lane]
	if l == nil {
		l = &lane{name: e.lane, kind: e.kind}
		r.lanes[e.lane] = l
	}
	l.queue = append(l.queue, e)
	if !l.running {
		l.running = true
		go r.runLane(r.lanesCtx, l)
	}
}

// take returns the next effects of a lane: one, or for announcements
// every click waiting (up to what fits in one message), or nil when the
// lane is empty (it then stops).
func (r *Reactor) take(l *lane) []*effect {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(l.queue) == 0 {
		l.running = false
		delete(r.lanes, l.name)
		return nil
	}
	n := 1
	if l.kind == kindAnnounce && l.queue[0].click != nil {
		for n < len(l.queue) && n < maxBatchClicks && l.queue[n].click != nil {
			n++
		}
	}
	out := append([]*effect(nil), l.queue[:n]...)
	return out
}

// finish removes effects that ran from their lane and from the pending
// counts, and wakes the checkpoint writer.
func (r *Reactor) finish(l *lane, done []*effect) {
	r.mu.Lock()
	l.queue = l.queue[len(done):]
	for _, e := range done {
		delete(r.queued, e.key())
		if r.pending[e.seq]--; r.pending[e.seq] <= 0 {
			delete(r.pending, e.seq)
		}
	}
	r.mu.Unlock()
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// Back-off of a lane whose effect failed for a transient reason.
const (
	laneMinBackoff = 100 * time.Millisecond
	laneMaxBackoff = 5 * time.Second
)

// runLane runs a lane's effects until it is empty or ctx ends. A
// transient failure is tried again with back-off: the lane waits, the
// others go on.
func (r *Reactor) runLane(ctx context.Context, l *lane) {
	for {
		if l.kind == kindAnnounce {
			// Discord allows 5 messages per 5 s per channel: one a second
			// keeps the lag of every click within about a second, where
			// five at once would make the next ones wait the window out.
			// The end of a game goes at once (the bucket permitting).
			r.mu.Lock()
			next := r.announceNext[l.name]
			if len(l.queue) > 0 && l.queue[0].end != nil {
				next = time.Time{}
			}
			r.mu.Unlock()
			if sleep(ctx, time.Until(next)) != nil {
				r.mu.Lock()
				l.running = false
				r.mu.Unlock()
				return
			}
		}
		batch := r.take(l)
		if batch == nil {
			return
		}
		delay := laneMinBackoff
		for {
			err := r.run(ctx, l, batch)
			if ctx.Err() != nil {
				r.mu.Lock()
				l.running = false
				r.mu.Unlock()
				return
			}
			if err == nil {
				r.recovered(l.kind)
				break
			}
			r.failed(l.kind, err, delay)
			if sleep(ctx, delay) != nil {
				r.mu.Lock()
				l.running = false
				r.mu.Unlock()
				return
			}
			delay = min(2*delay, laneMaxBackoff)
		}
		r.finish(l, batch)
	}
}

// announceEvery spaces the messages of an announcement lane: Discord's
// 5 messages per 5 s per channel, evenly.
const announceEvery = time.Second

// run runs effects taken from a lane.
func (r *Reactor) run(ctx context.Context, l *lane, batch []*effect) error {
	e := batch[0]
	switch {
	case e.start != nil:
		return r.started(ctx, *e.start)
	case e.end != nil && e.kind == kindGame:
		return r.ended(ctx, *e.end)
	case e.end != nil:
		return r.endAnnounce(ctx, e)
	case e.kind == kindRole:
		return r.grant(ctx, e)
	default:
		return r.announce(ctx, strings.TrimPrefix(l.name, "announce:"), batch)
	}
}

// sent notes that an announcement lane posted a message.
func (r *Reactor) sent(lane string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.announceNext) > 10000 {
		clear(r.announceNext) // forget idle channels now and then
	}
	r.announceNext[lane] = time.Now().Add(announceEvery)
}

// source says whose failure err is: "redis" (the done-marks or the
// checkpoint) or "discord".
func source(err error) string {
	if errors.Is(err, errMarks) {
		return "redis"
	}
	return "discord"
}

// failed logs a lane's failure once per streak and source: a real outage
// is told once, with what failed; the retries are quiet until it is over.
func (r *Reactor) failed(kind string, err error, next time.Duration) {
	src := source(err)
	r.mu.Lock()
	_, known := r.trouble[src]
	if !known {
		r.trouble[src] = time.Now()
	}
	r.mu.Unlock()
	if known {
		r.b.log.Debug("discord effect still failing", "kind", kind, "source", src, "err", err)
		return
	}
	r.b.log.Error("discord effects failing: retrying with back-off", "source", src, "kind", kind, "next_in", next, "err", err)
}

// recovered logs the end of failure streaks.
func (r *Reactor) recovered(kind string) {
	r.mu.Lock()
	if len(r.trouble) == 0 {
		r.mu.Unlock()
		return
	}
	over := r.trouble
	r.trouble = make(map[string]time.Time)
	r.mu.Unlock()
	for src, since := range over {
		r.b.log.Info("discord effects running again", "source", src, "kind", kind, "after", time.Since(since).Round(time.Millisecond))
	}
}

// lowWater is the highest sequence whose events, and every one before,
// have all their effects done. Caller holds r.mu.
func (r *Reactor) lowWaterLocked() uint64 {
	low := r.accepted
	for seq := range r.pending {
		if seq <= low {
			low = seq - 1
		}
	}
	return low
}

// flush stores the low-water mark as the checkpoint when it moved.
func (r *Reactor) flush(ctx context.Context) error {
	select {
	case r.flushing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.flushing }()
	r.mu.Lock()
	low, stored := r.lowWaterLocked(), r.stored
	r.mu.Unlock()
	if low <= stored {
		return nil
	}
	if err := r.marks.SetPosition(ctx, low); err != nil {
		return fmt.Errorf("%w: %w", errMarks, err)
	}
	r.mu.Lock()
	r.stored = max(r.stored, low)
	r.mu.Unlock()
	return nil
}

// checkpointer stores the checkpoint as effects finish, at most a few
// times a second, until ctx ends.
func (r *Reactor) checkpointer(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.poke:
			dirty = true
		case <-tick.C:
			if !dirty {
				continue
			}
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := r.flush(fctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				r.failed("checkpoint", err, time.Second)
				continue
			}
			dirty = false
		}
	}
}

// Backlog is the queued effects of one kind.
type Backlog struct {
	// Effects queued or running.
	Effects int
	// Oldest is how long the oldest of them has been queued (0: none).
	Oldest time.Duration
}

// Backlog returns the queued effects by kind (every kind of EffectKinds
// is present).
func (r *Reactor) Backlog() map[string]Backlog {
	now := time.Now()
	out := make(map[string]Backlog, len(EffectKinds))
	for _, k := range EffectKinds {
		out[k] = Backlog{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lanes {
		b := out[l.kind]
		b.Effects += len(l.queue)
		if len(l.queue) > 0 {
			b.Oldest = max(b.Oldest, now.Sub(l.queue[0].queued))
		}
		out[l.kind] = b
	}
	return out
}

// maxBatchClicks bounds the clicks of one announcement message: Discord
// allows 10 embeds and 6,000 characters of embed text per message.
const maxBatchClicks = 40

// maxEmbeds is Discord's limit of embeds per message.
const maxEmbeds = 10

// maxEmbedText is what one message's embeds may hold in all (Discord:
// 6,000 characters), with room to spare.
const maxEmbedText = 5600

// announce posts the announcements of clicks waiting in one chat channel
// in one message, each claimed on its own: up to ten clicks with one
// embed each, more as lines of up to ten embeds. Clicks that do not fit
// stay for the next message.
func (r *Reactor) announce(ctx context.Context, channel string, batch []*effect) error {
	if err := r.b.rest.ready(ctx, bucketMessages(channel)); err != nil {
		return err
	}
	var (
		claimed []string
		clicks  []*effect
	)
	for _, e := range batch {
		key := markKey(e.seq, "announce")
		ok, err := r.marks.Claim(ctx, key)
		if err != nil {
			r.release(ctx, claimed)
			return fmt.Errorf("%w: %w", errMarks, err)
		}
		if ok {
			claimed = append(claimed, key)
			clicks = append(clicks, e)
		}
	}
	if len(clicks) == 0 {
		return nil
	}
	r.b.log.Debug("announcing", "channel", channel, "clicks", len(clicks), "waited", time.Since(clicks[0].queued))
	embeds := clickEmbeds(clicks)
	r.sent(batch[0].lane) // spaced from the start of one send to the next
	_, err := r.b.rest.send(ctx, channel, &discordgo.MessageSend{Embeds: embeds,
		AllowedMentions: &discordgo.MessageAllowedMentions{}})
	switch {
	case err == nil:
		return nil
	case permanent(err):
		g := clicks[0].game
		r.b.log.Warn("announcement refused for good", "channel", channel, "clicks", len(clicks), "err", err)
		r.channelProblem(ctx, g.Guild, g.ButtonChannel, channel, g.StartedBy, err)
		return nil
	case !notSent(err):
		r.b.log.Error("announcements given up: unknown whether Discord posted them", "channel", channel, "clicks", len(clicks), "err", err)
		return nil
	}
	r.release(ctx, claimed)
	return fmt.Errorf("announce %d clicks in %s: %w", len(clicks), channel, err)
}

// clickEmbeds lays out the announcements of clicks: one embed each when
// they fit, else one line each in up to ten embeds (each in the colour of
// its first click).
func clickEmbeds(clicks []*effect) []*discordgo.MessageEmbed {
	if len(clicks) <= maxEmbeds {
		out := make([]*discordgo.MessageEmbed, 0, len(clicks))
		for _, c := range clicks {
			out = append(out, clickAnnouncement(c.click.e, c.game.Duration.Milliseconds()))
		}
		return out
	}
	per := (len(clicks) + maxEmbeds - 1) / maxEmbeds
	var out []*discordgo.MessageEmbed
	for i := 0; i < len(clicks); i += per {
		chunk := clicks[i:min(i+per, len(clicks))]
		var lines []string
		for _, c := range chunk {
			lines = append(lines, clickLine(c.click.e))
		}
		out = append(out, &discordgo.MessageEmbed{Color: events.Band(chunk[0].click.e.Band).RGB(),
			Description: strings.Join(lines, "\n")})
	}
	return out
}

// clickLine is a click's announcement in one line.
func clickLine(c events.ButtonClicked) string {
	band := events.Band(c.Band)
	return fmt.Sprintf("%s **%s** (%s) pressed game #%d: **%s** click with **%s** left, claimed **%s**. Click #%d",
		band.Emoji(), safeName(c.UserName), mention(c.User), c.Game, band, timefmt.Value(c.ValueMS), timefmt.Value(c.ClaimedMS), c.Number)
}

// endAnnounce posts a game's end in its chat channel.
func (r *Reactor) endAnnounce(ctx context.Context, e *effect) error {
	g := e.game
	return r.once(ctx, e.seq, "endannounce", false, func() error {
		r.sent(e.lane)
		_, err := r.b.rest.send(ctx, g.ChatChannel, &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{endAnnouncement(*e.sum)},
			AllowedMentions: &discordgo.MessageAllowedMentions{}})
		r.channelProblem(ctx, g.Guild, g.ButtonChannel, g.ChatChannel, g.StartedBy, err)
		return err
	})
}

// release forgets claims whose effect is worth a retry.
func (r *Reactor) release(ctx context.Context, keys []string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, k := range keys {
		if err := r.marks.Release(rctx, k); err != nil {
			r.b.log.Error("done-mark not released: the effect will not be retried", "key", k, "err", err)
		}
	}
}

// grant gives a click's member the colour role of its band unless the
// member holds it (as its interactions showed, or given before): one
// request per guild, member and colour ever, claimed by a done-mark.
func (r *Reactor) grant(ctx context.Context, e *effect) error {
	b, c := r.b, e.click.e
	band := events.Band(c.Band)
	ids, err := b.roleIDs(ctx, c.Guild, band)
	if err != nil {
		if fixable(err) {
			b.notices.tell(ctx, c.Guild, e.game.ButtonChannel, e.game.StartedBy, noticeRoles, "%s", rolesHelp(err))
		}
		if permanent(err) {
			return nil
		}
		return err
	}
	role := ids[band]
	if r.b.roles.holds(c.Guild, c.User, role) {
		return nil
	}
	if until, blocked := r.b.roles.blocked(c.Guild); blocked {
		b.log.Debug("role grant skipped: the admin has been told why grants fail", "guild", c.Guild, "until", until)
		return nil
	}
	key := "grant:" + c.Guild + ":" + c.User + ":" + role
	low := lowPriority(ctx)
	if err := b.rest.ready(low, bucketMemberRole(c.Guild)); err != nil {
		return err
	}
	return r.onceKey(ctx, key, true, func() error {
		err := b.rest.grantRole(low, c.Guild, c.User, role)
		switch {
		case err == nil:
			r.b.roles.granted(c.Guild, c.User, role)
		case codeOf(err) == CodeUnknownRole:
			r.b.roles.forget(c.Guild) // deleted by someone: set up again, then retried
			return fmt.Errorf("discord grant role: role %s was deleted: %w", role, errNotSent)
		case fixable(err):
			r.b.roles.block(c.Guild, err)
			b.notices.tell(ctx, c.Guild, e.game.ButtonChannel, e.game.StartedBy, noticeRoles, "%s", rolesHelp(err))
		}
		return err
	})
}
