package discordbot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/imaging"
	"github.com/thebutton-game/thebutton/readmodel"
)

// Marks are the reactor's done-marks and checkpoint. projector/redismarks
// implements them. They are safe for concurrent use; an error means
// nothing is known (the reactor then retries the batch).
type Marks interface {
	// Claim marks an effect as done and reports whether this call did.
	Claim(ctx context.Context, key string) (bool, error)
	// Release forgets a claim whose effect failed in a way worth retrying.
	Release(ctx context.Context, key string) error
	// Position is the checkpoint: every event up to it was handled.
	Position(ctx context.Context) (uint64, error)
	// SetPosition raises the checkpoint.
	SetPosition(ctx context.Context, seq uint64) error
	// ResetPosition deletes the checkpoint (and its zero moment); the
	// marks stay.
	ResetPosition(ctx context.Context) error
	// ZeroSince returns when the checkpoint was first found missing, by
	// any process running the reactor, recording at if no moment is.
	ZeroSince(ctx context.Context, at time.Time) (time.Time, error)
}

// Reactor is the discord-effects reactor: it implements projector.Sink
// (named "discord") and turns events into what Discord shows.
//
//   - game started: the six colour roles created or recoloured, the
//     explanation and the game message posted, the message id recorded;
//   - click: the click's colour role given when the member lacks it, the
//     click announced in the chat channel (the clicks waiting in one
//     channel share a message), the game message marked for refresh;
//   - game ended: the game message turned into the end summary with the
//     button disabled, and an announcement in the chat channel.
//
// Apply does not wait for Discord: it queues each effect in its lane and
// returns. Lanes are independent and run in parallel: per guild one for
// the games' starts and ends and one for role grants (Discord allows about
// one role change per second per guild), per chat channel one for
// announcements (batched: whatever waits goes out in the next message).
// So a queue of role grants never delays the end of a game, its
// announcements or another guild. Game-message edits have their own
// scheduler, the Updater.
//
// Each effect runs at most once per event, across restarts, redeliveries
// and several bot processes: it is claimed with a done-mark keyed by the
// event's stream sequence before it runs (a role grant by the guild,
// member and colour: one request per member and colour ever); a transient
// failure releases the mark and the lane tries again with back-off, a
// refusal Discord will repeat (a missing permission, a deleted channel)
// keeps it, is logged and, when an admin can fix it, told to the admin.
// The checkpoint the reactor stores is the low-water mark of its lanes:
// every event up to it has all its effects done, so after a crash the
// events whose effects were still queued are delivered again, and the
// done-marks skip what had run. Announcements of events older than
// Config.MaxEffectAge are skipped, so catching up over old history never
// floods a channel.
//
// When the checkpoint reads 0 — a first run over an existing stream, a
// Reset, or a Redis that lost its data and with it the done-marks — the
// events stored before that moment only get the effects that are harmless
// to repeat (roles, the game message's refresh, the end summary's edit):
// nothing is posted a second time. The moment is the one the first
// process to find the checkpoint at 0 recorded beside the marks, so a
// process taking the reactor over (a shard that moved before any of its
// events was handled) still does every effect of the events since. The
// game message of an active game that has none is posted by the updater.
type Reactor struct {
	b     *Bot
	marks Marks
	name  string
	// shard and shards: the reactor does the effects of the guilds of
	// this shard only (shards 0: every guild).
	shard, shards int

	created time.Time
	mu      sync.Mutex
	read    bool // the checkpoint was read at least once
	// zeroSince is when the checkpoint was first found at 0 (zero: it is
	// not 0), as Marks.ZeroSince recorded it: this reactor's creation if it
	// was the first to find it so, on its first read.
	zeroSince time.Time

	// Lanes (guarded by mu); lanesCtx ends with the bot or Stop.
	lanesCtx    context.Context
	cancelLanes context.CancelFunc
	lanes       map[string]*lane
	pending     map[uint64]int  // effects queued or running, by sequence
	queued      map[string]bool // markKey of every effect queued or running
	accepted    uint64          // the last sequence queued by Apply
	stored      uint64          // the checkpoint as last read or written
	flushing    chan struct{}   // a token: one checkpoint write at a time
	poke        chan struct{}
	trouble     map[string]time.Time // source → start of a failure streak
	// announceNext is when each announcement lane may post next.
	announceNext map[string]time.Time
}

func newReactor(b *Bot, marks Marks, name string, shard, shards int) *Reactor {
	r := &Reactor{b: b, marks: marks, name: name, shard: shard, shards: shards, created: time.Now(),
		lanes: make(map[string]*lane), pending: make(map[uint64]int), queued: make(map[string]bool),
		flushing: make(chan struct{}, 1), poke: make(chan struct{}, 1), trouble: make(map[string]time.Time),
		announceNext: make(map[string]time.Time)}
	r.lanesCtx, r.cancelLanes = context.WithCancel(b.ctx)
	go r.checkpointer(b.ctx)
	return r
}

// Stop abandons the effects queued: the lanes stop after the call each is
// making, and what they had not done is forgotten (the checkpoint stays
// below it, so the next member of the reactor's consumer does it). A
// shard's reactor is stopped when this process gives the shard up; Apply
// may be called again afterwards.
func (r *Reactor) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancelLanes()
	r.lanesCtx, r.cancelLanes = context.WithCancel(r.b.ctx)
	clear(r.lanes)
	clear(r.pending)
	clear(r.queued)
	r.accepted = r.stored
}

// Name is the reactor's identity: "discord" (its consumer is
// "projector-discord"), or for the reactor of one shard
// "discord-shard-K-of-N".
func (r *Reactor) Name() string { return r.name }

// mine reports whether the reactor does the effects of a guild.
func (r *Reactor) mine(guild string) bool {
	return r.shards == 0 || ShardOf(guild, r.shards) == r.shard
}

// Position returns the reactor's checkpoint: the stored low-water mark,
// or, while this process has effects of later events queued, the last
// event it queued (so the loop does not deliver them again). A stored
// checkpoint lower than the one last seen means Redis lost it: the queued
// position is forgotten and the loop starts over from the stored one.
func (r *Reactor) Position(ctx context.Context) (uint64, error) {
	// Not while the checkpoint is being written: a read overtaken by a
	// write would look like a checkpoint that fell back.
	select {
	case r.flushing <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-r.flushing }()
	pos, err := r.marks.Position(ctx)
	if err != nil {
		return 0, fmt.Errorf("discord reactor: %w: %w", errMarks, err)
	}
	if err := r.sawPosition(ctx, pos); err != nil {
		return 0, fmt.Errorf("discord reactor: %w: %w", errMarks, err)
	}
	return r.position(pos), nil
}

// position folds a stored checkpoint into what this process queued.
func (r *Reactor) position(stored uint64) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if stored < r.stored {
		r.b.log.Warn("reactor checkpoint fell back: Redis lost it", "checkpoint", stored, "was", r.stored)
		r.accepted = stored
	}
	r.stored = stored
	return max(stored, r.accepted)
}

// sawPosition notes when the checkpoint was first seen at 0.
func (r *Reactor) sawPosition(ctx context.Context, pos uint64) error {
	r.mu.Lock()
	first, known := !r.read, !r.zeroSince.IsZero()
	if pos > 0 {
		r.zeroSince, r.read = time.Time{}, true
	}
	r.mu.Unlock()
	if pos > 0 || known {
		return nil
	}
	at := time.Now()
	if first {
		at = r.created
	}
	since, err := r.marks.ZeroSince(ctx, at)
	if err != nil {
		return err // not read yet: the next read proposes the same moment
	}
	r.mu.Lock()
	r.zeroSince, r.read = since, true
	r.mu.Unlock()
	r.b.log.Info("reactor checkpoint is 0: older events get only their repeatable effects", "before", since)
	return nil
}

// Reset deletes the checkpoint but keeps the done-marks: a rebuild never
// repeats an effect that ran.
func (r *Reactor) Reset(ctx context.Context) error {
	if err := r.marks.ResetPosition(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	r.accepted, r.stored = 0, 0
	r.mu.Unlock()
	return nil
}

// maxRoleAge is how old a click may be and still have its role given.
const maxRoleAge = 24 * time.Hour

// Apply queues the effects of a batch in their lanes, in stream order
// within each lane, and raises the checkpoint as far as every effect
// before it is done. It returns once the effects are queued; it fails
// only when the game state or the checkpoint cannot be read or written.
func (r *Reactor) Apply(ctx context.Context, batch []events.Recorded) error {
	if len(batch) == 0 {
		return nil
	}
	pos, err := r.Position(ctx)
	if err != nil {
		return err
	}
	// What the effects need of a game (its guild, channels, starter,
	// duration) never changes once it started: the views have it as soon
	// as they have applied the start, which comes before any of the
	// game's other events.
	games := map[events.GameID]readmodel.Game{}
	game := func(id events.GameID, seq uint64) (readmodel.Game, bool, error) {
		if g, ok := games[id]; ok {
			return g, true, nil
		}
		g, err := r.b.views.Game(ctx, id)
		if errors.Is(err, readmodel.ErrNotFound) {
			if err = r.b.waitViews(ctx, seq); err == nil {
				g, err = r.b.views.Game(ctx, id)
			}
		}
		switch {
		case errors.Is(err, readmodel.ErrNotFound):
			return readmodel.Game{}, false, nil
		case err != nil:
			return readmodel.Game{}, false, err
		}
		games[id] = g
		return g, true, nil
	}
	var effects []*effect
	for _, rec := range batch {
		if rec.Seq <= pos || rec.Err != nil {
			continue
		}
		switch e := rec.Event.(type) {
		case events.GameStarted:
			if !r.mine(e.Guild) {
				continue
			}
			effects = append(effects, &effect{kind: kindGame, lane: "game:" + e.Guild, seq: rec.Seq, stored: rec.Stored,
				start: &recorded[events.GameStarted]{rec, e}})
		case events.ButtonClicked:
			if !r.mine(e.Guild) {
				continue
			}
			r.b.updater.Touch(e.Game, e.Guild, time.UnixMilli(e.AtMS))
			g, ok, err := game(e.Game, rec.Seq)
			if err != nil {
				return fmt.Errorf("discord reactor: %w", err)
			}
			if !ok {
				continue
			}
			c := &recorded[events.ButtonClicked]{rec, e}
			if age(rec) <= maxRoleAge && e.Imported.IsZero() { // the original gave imported clicks' roles
				effects = append(effects, &effect{kind: kindRole, lane: "role:" + e.Guild, seq: rec.Seq, stored: rec.Stored,
					click: c, game: g})
			}
			if age(rec) <= r.b.cfg.MaxEffectAge && !r.replayed(rec) {
				effects = append(effects, &effect{kind: kindAnnounce, lane: "announce:" + g.ChatChannel, seq: rec.Seq,
					stored: rec.Stored, click: c, game: g})
			}
		case events.GameEnded:
			g, ok, err := game(e.Game, rec.Seq)
			if err != nil {
				return fmt.Errorf("discord reactor: %w", err)
			}
			if !r.mine(g.Guild) { // unknown game: guild "", one shard
				continue
			}
			lane := "game:" + g.Guild
			if !ok {
				lane = fmt.Sprintf("game:#%d", e.Game)
			}
			effects = append(effects, &effect{kind: kindGame, lane: lane, seq: rec.Seq, stored: rec.Stored,
				end: &recorded[events.GameEnded]{rec, e}})
		case events.GameMessagePosted:
			g, ok, err := game(e.Game, rec.Seq)
			if err != nil {
				return fmt.Errorf("discord reactor: %w", err)
			}
			if ok && r.mine(g.Guild) {
				r.b.updater.Track(e.Game, g.Guild)
			}
		}
	}
	r.mu.Lock()
	for _, ef := range effects {
		r.enqueueLocked(ef)
	}
	r.accepted = max(r.accepted, batch[len(batch)-1].Seq)
	r.mu.Unlock()
	r.b.log.Debug("reactor batch queued", "events", len(batch), "effects", len(effects), "age", age(batch[0]))
	if err := r.flush(ctx); err != nil {
		return fmt.Errorf("discord reactor: %w", err)
	}
	return nil
}

// recorded is an event beside its stored message.
type recorded[E events.Event] struct {
	rec events.Recorded
	e   E
}

func markKey(seq uint64, effect string) string {
	return strconv.FormatUint(seq, 10) + ":" + effect
}

// once runs an effect at most once: claim, run, and keep the claim unless
// the effect failed in a way worth a retry that cannot repeat it: a failure
// that certainly did not reach Discord, or any transient failure of an
// idempotent effect (giving a role twice changes nothing). When it is
// unknown whether Discord acted, the claim stays and the effect is given up
// (logged): at most once beats twice.
func (r *Reactor) once(ctx context.Context, seq uint64, effect string, idempotent bool, fn func() error) error {
	return r.onceKey(ctx, markKey(seq, effect), idempotent, fn)
}

// onceKey is once with the done-mark's key given.
func (r *Reactor) onceKey(ctx context.Context, key string, idempotent bool, fn func() error) error {
	ok, err := r.marks.Claim(ctx, key)
	if err != nil {
		return fmt.Errorf("%w: %w", errMarks, err)
	}
	if !ok {
		return nil
	}
	err = fn()
	switch {
	case err == nil:
		return nil
	case permanent(err):
		r.b.log.Warn("discord effect refused for good", "effect", key, "err", err)
		return nil
	case !idempotent && !notSent(err):
		r.b.log.Error("discord effect given up: unknown whether Discord acted", "effect", key, "err", err)
		return nil
	}
	r.release(ctx, []string{key})
	return fmt.Errorf("%s: %w", key, err)
}

// replayed reports whether an event was stored before the checkpoint was
// found at 0 (its done-marks may be lost) or was imported from the
// original bot (it was announced there): it gets no effect that posts.
func (r *Reactor) replayed(rec events.Recorded) bool {
	if _, imported := events.ImportedFrom(rec.Event); imported {
		return true // the original bot's history (import-legacy): announced there already
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.zeroSince.IsZero() && !rec.Stored.IsZero() && rec.Stored.Before(r.zeroSince)
}

func age(rec events.Recorded) time.Duration {
	if rec.Stored.IsZero() {
		return 0
	}
	return time.Since(rec.Stored)
}

// started sets a game up on Discord.
func (r *Reactor) started(ctx context.Context, s recorded[events.GameStarted]) error {
	b, e := r.b, s.e
	// The views, once they have the game's latest event, say whether it
	// still runs and whether its message exists (posted by another
	// process, or before a restart).
	last, _, err := b.cmds.LastSeq(ctx, e.Game)
	if err != nil {
		return err
	}
	if err := b.waitViews(ctx, max(last, s.rec.Seq)); err != nil {
		return err
	}
	g, err := b.views.Game(ctx, e.Game)
	ok := err == nil
	if err != nil && !errors.Is(err, readmodel.ErrNotFound) {
		return err
	}
	active := ok && g.Status == events.StatusActive
	if err := r.once(ctx, s.rec.Seq, "roles", true, func() error {
		if !active {
			return nil
		}
		_, err := b.ensureRoles(ctx, e.Guild, true)
		if err != nil && fixable(err) {
			b.notices.tell(ctx, e.Guild, e.ButtonChannel, e.StartedBy, noticeRoles, "%s", rolesHelp(err))
		}
		return err
	}); err != nil {
		return err
	}
	if !active || g.MessageID != "" || r.replayed(s.rec) {
		return nil // over already, its message exists, or the marks may be lost
	}
	if err := r.once(ctx, s.rec.Seq, "explain", false, func() error {
		_, err := b.rest.send(ctx, e.ButtonChannel, &discordgo.MessageSend{Content: explanation(e),
			AllowedMentions: &discordgo.MessageAllowedMentions{}})
		r.channelProblem(ctx, e.Guild, e.ChatChannel, e.ButtonChannel, e.StartedBy, err)
		return err
	}); err != nil {
		return err
	}
	return r.once(ctx, s.rec.Seq, "message", false, func() error {
		_, err := b.postGameMessage(ctx, e.ButtonChannel, b.liveFromStart(e, time.Now()))
		r.channelProblem(ctx, e.Guild, e.ChatChannel, e.ButtonChannel, e.StartedBy, err)
		if err == nil {
			b.updater.Track(e.Game, e.Guild)
		}
		return err
	})
}

// channelProblem tells the admin when the bot cannot post in a channel,
// in the other channel of the game if there is one.
func (r *Reactor) channelProblem(ctx context.Context, guild, chat, channel, admin string, err error) {
	if err == nil || !fixable(err) {
		return
	}
	where := chat
	if where == channel {
		where = ""
	}
	r.b.notices.tell(ctx, guild, where, admin, noticeChannel,
		"I cannot post in <#%s> (%s). Give The Button the View Channel, Send Messages, Embed Links and Attach Files permissions there.",
		channel, describe(err))
}

// viewsWait bounds how long the bot waits for the views to reach an
// event before it gives up (the reactor then retries the batch, the
// updater the edit).
const viewsWait = 3 * time.Second

// waitViews waits (at most viewsWait, and without polling) until the
// views have applied the event at stream sequence seq, so that what is
// shown includes it. seq 0 returns at once.
func (b *Bot) waitViews(ctx context.Context, seq uint64) error {
	wctx, cancel := context.WithTimeout(ctx, viewsWait)
	defer cancel()
	if err := b.views.WaitApplied(wctx, seq); err != nil {
		return fmt.Errorf("views behind message %d: %w", seq, err)
	}
	return nil
}

// maxSummaryAge is how old an end may be and still turn the game message
// into its summary.
const maxSummaryAge = 24 * time.Hour

// ended turns a game's message into its summary and queues the end's
// announcement in the chat channel's lane, after the clicks queued there.
func (r *Reactor) ended(ctx context.Context, e recorded[events.GameEnded]) error {
	b := r.b
	t0 := time.Now()
	if err := b.updater.Finish(ctx, e.e.Game); err != nil {
		return err
	}
	if age(e.rec) > maxSummaryAge || !e.e.Imported.IsZero() { // an imported end: the original showed it
		return nil
	}
	t1 := time.Now()
	if err := r.b.waitViews(ctx, e.rec.Seq); err != nil {
		return err
	}
	t2 := time.Now()
	sum, g, err := r.summary(ctx, e.e)
	if err != nil {
		return err
	}
	t3 := time.Now()
	// The announcement and the summary at once, the summary's picture
	// (rendering takes a while) after.
	if age(e.rec) <= b.cfg.MaxEffectAge && !r.replayed(e.rec) {
		r.mu.Lock()
		r.enqueueLocked(&effect{kind: kindAnnounce, lane: "announce:" + g.ChatChannel, seq: e.rec.Seq, stored: e.rec.Stored,
			end: &e, sum: &sum, game: g})
		r.mu.Unlock()
	}
	var at summaryAt
	if err := r.once(ctx, e.rec.Seq, "summary", true, func() error {
		return r.postSummary(ctx, g, sum, !r.replayed(e.rec), false, &at)
	}); err != nil {
		return err
	}
	b.log.Debug("end summary", "game", e.e.Game, "since_stored", t0.Sub(e.rec.Stored), "finish", t1.Sub(t0), "views", t2.Sub(t1),
		"read", t3.Sub(t2), "post", time.Since(t3))
	// The picture yields the global budget: twenty games ending at once
	// must not wait for each other's pictures.
	return r.once(ctx, e.rec.Seq, "summarypicture", true, func() error {
		return r.postSummary(lowPriority(ctx), g, sum, false, true, &at)
	})
}

// summary reads what the end summary shows.
func (r *Reactor) summary(ctx context.Context, e events.GameEnded) (endSummary, readmodel.Game, error) {
	v := r.b.views
	g, err := v.Game(ctx, e.Game)
	if err != nil {
		return endSummary{}, readmodel.Game{}, err
	}
	s := endSummary{Game: e.Game, Aborted: e.Reason == events.EndAborted, By: e.By, Why: e.Why,
		StartMS: msOf(g.Start), EndMS: e.AtMS, LeftMS: events.Remaining(msOf(g.Deadline), e.AtMS), Clicks: g.Clicks, Players: g.Players}
	teams, err := v.Teams(ctx, e.Game)
	if err != nil {
		return endSummary{}, readmodel.Game{}, err
	}
	for i, bs := range teams.Bands {
		s.PerBand[i] = bs.Clicks
	}
	active, err := v.Leaderboard(ctx, e.Game, readmodel.ByClicks, 5)
	if err != nil {
		return endSummary{}, readmodel.Game{}, err
	}
	for _, p := range active {
		s.MostActive = append(s.MostActive, rankEntry{User: p.User, Name: p.Name, N: p.Clicks})
	}
	best, err := v.Leaderboard(ctx, e.Game, readmodel.ByBest, 5)
	if err != nil {
		return endSummary{}, readmodel.Game{}, err
	}
	for _, p := range best {
		s.Lowest = append(s.Lowest, rankEntry{User: p.User, Name: p.Name, Band: p.BestBand, ValueMS: p.Best.Milliseconds()})
	}
	claimed, err := v.Leaderboard(ctx, e.Game, readmodel.ByClaimed, 5)
	if err != nil {
		return endSummary{}, readmodel.Game{}, err
	}
	for _, p := range claimed {
		s.Claimed = append(s.Claimed, rankEntry{User: p.User, Name: p.Name, N: p.Claimed.Milliseconds()})
	}
	return s, g, nil
}

// summaryAt is where a game's end summary was put.
type summaryAt struct{ channel, message string }

// postSummary edits the game message into the summary (button disabled)
// or, when mayPost is set, posts the summary when the message is gone.
// Without picture the summary goes out at once; with it, the end picture
// is rendered and added to the summary at at (it is never posted anew).
// at is set to where the summary is.
func (r *Reactor) postSummary(ctx context.Context, g readmodel.Game, s endSummary, mayPost, picture bool, at *summaryAt) error {
	b := r.b
	embed := summaryEmbed(s, "")
	file := func() []*discordgo.File { return nil }
	if picture {
		pic := endPictureOf(s)
		start := time.Now()
		img, err := imaging.RenderEndPicture(pic)
		r.b.rendered("end", start)
		if err != nil {
			return fmt.Errorf("game %d end picture: %w", s.Game, err)
		}
		embed = summaryEmbed(s, img.Name)
		file = func() []*discordgo.File {
			return []*discordgo.File{{Name: img.Name, ContentType: img.ContentType, Reader: newReader(img.Data)}}
		}
	}
	label := "Game over"
	if s.Aborted {
		label = "Stopped"
	}
	comps := gameButtons(s.Game, events.Red, true, label)
	channel, message := at.channel, at.message
	if message == "" {
		channel, message = g.MessageChannel, g.MessageID // the views have the end, so every message before it
	}
	if channel == "" {
		channel = g.ButtonChannel
	}
	if message != "" {
		none := []*discordgo.MessageAttachment{}
		_, err := b.rest.edit(ctx, &discordgo.MessageEdit{Channel: channel, ID: message,
			Embeds: &[]*discordgo.MessageEmbed{embed}, Components: &comps, Files: file(), Attachments: &none,
			AllowedMentions: &discordgo.MessageAllowedMentions{}})
		code := codeOf(err)
		if err == nil {
			at.channel, at.message = channel, message
		}
		if err == nil || (code != CodeUnknownMessage && code != CodeTooManyEdits) {
			r.channelProblem(ctx, g.Guild, g.ChatChannel, channel, g.StartedBy, err)
			return err
		}
		b.log.Info("game message gone or frozen: posting the summary anew", "game", s.Game, "code", code, "post", mayPost && !picture)
	}
	if !mayPost || picture {
		return nil
	}
	m, err := b.rest.send(ctx, channel, &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{embed},
		Components: comps, Files: file(), AllowedMentions: &discordgo.MessageAllowedMentions{}})
	if err == nil && m != nil {
		at.channel, at.message = m.ChannelID, m.ID
	}
	r.channelProblem(ctx, g.Guild, g.ChatChannel, channel, g.StartedBy, err)
	return err
}
