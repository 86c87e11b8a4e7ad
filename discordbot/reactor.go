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
	// ResetPosition deletes the checkpoint; the marks stay.
	ResetPosition(ctx context.Context) error
}

// Reactor is the discord-effects reactor: it implements projector.Sink
// (named "discord") and turns events into what Discord shows.
//
//   - game started: the six colour roles created or recoloured, the
//     explanation and the game message posted, the message id recorded;
//   - click: the click's colour role given, the click announced in the
//     chat channel (several clicks of one batch share a message, one
//     embed each), the game message marked for refresh;
//   - game ended: the game message turned into the end summary with the
//     button disabled, and an announcement in the chat channel.
//
// Each effect runs at most once per event, across restarts, redeliveries
// and several bot processes: it is claimed with a done-mark keyed by the
// event's stream sequence before it runs; a transient failure releases the
// mark and fails the batch (the loop retries it), a refusal Discord will
// repeat (a missing permission, a deleted channel) keeps it, is logged and,
// when an admin can fix it, told to the admin. Announcements of events
// older than Config.MaxEffectAge are skipped, so catching up over old
// history never floods a channel.
//
// When the checkpoint reads 0 — a first run over an existing stream, a
// Reset, or a Redis that lost its data and with it the done-marks — the
// events stored before that moment only get the effects that are harmless
// to repeat (roles, the game message's refresh, the end summary's edit):
// nothing is posted a second time. The game message of an active game
// that has none is posted by the updater.
type Reactor struct {
	b     *Bot
	marks Marks
	roles roleCache

	created time.Time
	mu      sync.Mutex
	read    bool // the checkpoint was read at least once
	// zeroSince is when the checkpoint was found at 0 (zero: it is not
	// 0): the reactor's creation if it was 0 from the first read on.
	zeroSince time.Time
}

func newReactor(b *Bot, marks Marks) *Reactor {
	return &Reactor{b: b, marks: marks, created: time.Now()}
}

// Name is the reactor's identity: its consumer is "projector-discord".
func (r *Reactor) Name() string { return "discord" }

// Position returns the reactor's checkpoint.
func (r *Reactor) Position(ctx context.Context) (uint64, error) {
	pos, err := r.marks.Position(ctx)
	if err == nil {
		r.sawPosition(pos)
	}
	return pos, err
}

// sawPosition notes when the checkpoint is first seen at 0.
func (r *Reactor) sawPosition(pos uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case pos > 0:
		r.zeroSince = time.Time{}
	case r.zeroSince.IsZero():
		r.zeroSince = time.Now()
		if !r.read {
			r.zeroSince = r.created
		}
		r.b.log.Info("reactor checkpoint is 0: older events get only their repeatable effects", "before", r.zeroSince)
	}
	r.read = true
}

// Reset deletes the checkpoint but keeps the done-marks: a rebuild never
// repeats an effect that ran.
func (r *Reactor) Reset(ctx context.Context) error { return r.marks.ResetPosition(ctx) }

// maxRoleAge is how old a click may be and still have its role given.
const maxRoleAge = 24 * time.Hour

// Apply runs the effects of a batch, in stream order per channel: starts
// first, then the clicks (role grants per guild and announcements per
// chat channel run in parallel), then the ends. It returns nil once every
// effect ran or was refused for good, and raises the checkpoint.
func (r *Reactor) Apply(ctx context.Context, batch []events.Recorded) error {
	if len(batch) == 0 {
		return nil
	}
	pos, err := r.marks.Position(ctx)
	if err != nil {
		return fmt.Errorf("discord reactor: %w", err)
	}
	r.sawPosition(pos)
	var (
		starts []recorded[events.GameStarted]
		clicks []recorded[events.ButtonClicked]
		ends   []recorded[events.GameEnded]
	)
	for _, rec := range batch {
		if rec.Seq <= pos || rec.Err != nil {
			continue
		}
		switch e := rec.Event.(type) {
		case events.GameStarted:
			starts = append(starts, recorded[events.GameStarted]{rec, e})
		case events.ButtonClicked:
			clicks = append(clicks, recorded[events.ButtonClicked]{rec, e})
		case events.GameEnded:
			ends = append(ends, recorded[events.GameEnded]{rec, e})
		case events.GameMessagePosted:
			r.b.updater.Track(e.Game)
		}
	}
	var errs []error
	for _, s := range starts {
		if err := r.started(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && len(clicks) > 0 {
		errs = append(errs, r.clicked(ctx, clicks)...)
	}
	if len(errs) == 0 {
		for _, e := range ends {
			if err := r.ended(ctx, e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("discord reactor: %w", err)
	}
	if err := r.marks.SetPosition(ctx, batch[len(batch)-1].Seq); err != nil {
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
	key := markKey(seq, effect)
	ok, err := r.marks.Claim(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	err = fn()
	switch {
	case err == nil:
		return nil
	case permanent(err):
		r.b.log.Warn("discord effect refused for good", "seq", seq, "effect", effect, "err", err)
		return nil
	case !idempotent && !notSent(err):
		r.b.log.Error("discord effect given up: unknown whether Discord acted", "seq", seq, "effect", effect, "err", err)
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := r.marks.Release(rctx, key); rerr != nil {
		r.b.log.Error("done-mark not released: the effect will not be retried", "seq", seq, "effect", effect, "err", rerr)
	}
	return fmt.Errorf("%s of message %d: %w", effect, seq, err)
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
	g, ok, err := b.cmds.Game(ctx, e.Game)
	if err != nil {
		return err
	}
	active := ok && g.Active()
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
			b.updater.Track(e.Game)
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

// clicked runs the effects of a batch's clicks: role grants one guild at a
// time, announcements one chat channel at a time, all in parallel.
func (r *Reactor) clicked(ctx context.Context, clicks []recorded[events.ButtonClicked]) []error {
	b := r.b
	byGuild := map[string][]recorded[events.ButtonClicked]{}
	byChannel := map[string][]recorded[events.ButtonClicked]{}
	games := map[events.GameID]events.Game{}
	for _, c := range clicks {
		b.updater.Touch(c.e.Game, time.UnixMilli(c.e.AtMS))
		if _, ok := games[c.e.Game]; !ok {
			g, ok, err := b.cmds.Game(ctx, c.e.Game)
			if err != nil {
				return []error{err}
			}
			if !ok {
				continue
			}
			games[c.e.Game] = g
		}
		if age(c.rec) <= maxRoleAge && c.e.Imported.IsZero() { // the original gave imported clicks' roles
			byGuild[c.e.Guild] = append(byGuild[c.e.Guild], c)
		}
		if age(c.rec) <= b.cfg.MaxEffectAge && !r.replayed(c.rec) {
			ch := games[c.e.Game].Started.ChatChannel
			byChannel[ch] = append(byChannel[ch], c)
		}
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for guild, list := range byGuild {
		wg.Go(func() {
			for _, c := range list {
				err := r.once(ctx, c.rec.Seq, "role", true, func() error {
					err := b.grantRole(ctx, guild, c.e.User, events.Band(c.e.Band))
					if err != nil && fixable(err) {
						g := games[c.e.Game]
						b.notices.tell(ctx, guild, g.Started.ButtonChannel, g.Started.StartedBy, noticeRoles, "%s", rolesHelp(err))
					}
					return err
				})
				if err != nil {
					fail(err)
					return
				}
			}
		})
	}
	for channel, list := range byChannel {
		wg.Go(func() {
			if err := r.announce(ctx, channel, list, games); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	return errs
}

// maxEmbeds is Discord's limit of embeds per message.
const maxEmbeds = 10

// announce posts the announcements of clicks in one chat channel, up to
// ten per message, each claimed on its own.
func (r *Reactor) announce(ctx context.Context, channel string, list []recorded[events.ButtonClicked], games map[events.GameID]events.Game) error {
	for len(list) > 0 {
		n := min(len(list), maxEmbeds)
		chunk := list[:n]
		list = list[n:]
		var (
			claimed []string
			embeds  []*discordgo.MessageEmbed
		)
		for _, c := range chunk {
			key := markKey(c.rec.Seq, "announce")
			ok, err := r.marks.Claim(ctx, key)
			if err != nil {
				r.release(ctx, claimed)
				return err
			}
			if ok {
				claimed = append(claimed, key)
				embeds = append(embeds, clickAnnouncement(c.e, games[c.e.Game].Started.DurationMS))
			}
		}
		if len(embeds) == 0 {
			continue
		}
		_, err := r.b.rest.send(ctx, channel, &discordgo.MessageSend{Embeds: embeds,
			AllowedMentions: &discordgo.MessageAllowedMentions{}})
		if err == nil {
			continue
		}
		if permanent(err) {
			g := games[chunk[0].e.Game]
			r.b.log.Warn("announcement refused for good", "channel", channel, "clicks", len(embeds), "err", err)
			r.channelProblem(ctx, g.Started.Guild, g.Started.ButtonChannel, channel, g.Started.StartedBy, err)
			continue
		}
		if !notSent(err) {
			r.b.log.Error("announcements given up: unknown whether Discord posted them", "channel", channel, "clicks", len(embeds), "err", err)
			continue
		}
		r.release(ctx, claimed)
		return fmt.Errorf("announce %d clicks in %s: %w", len(embeds), channel, err)
	}
	return nil
}

func (r *Reactor) release(ctx context.Context, keys []string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, k := range keys {
		if err := r.marks.Release(rctx, k); err != nil {
			r.b.log.Error("done-mark not released: the effect will not be retried", "key", k, "err", err)
		}
	}
}

// viewsWait bounds how long the reactor waits for the views to reach an
// event before it retries the batch.
const viewsWait = 3 * time.Second

// waitViews waits until the views have applied seq.
func (r *Reactor) waitViews(ctx context.Context, seq uint64) error {
	deadline := time.Now().Add(viewsWait)
	for {
		pos, err := r.b.views.Position(ctx)
		if err != nil {
			return err
		}
		if pos >= seq {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("views at %d, behind message %d", pos, seq)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// maxSummaryAge is how old an end may be and still turn the game message
// into its summary.
const maxSummaryAge = 24 * time.Hour

// ended turns a game's message into its summary and announces the end.
func (r *Reactor) ended(ctx context.Context, e recorded[events.GameEnded]) error {
	b := r.b
	if err := b.updater.Finish(ctx, e.e.Game); err != nil {
		return err
	}
	if age(e.rec) > maxSummaryAge || !e.e.Imported.IsZero() { // an imported end: the original showed it
		return nil
	}
	if err := r.waitViews(ctx, e.rec.Seq); err != nil {
		return err
	}
	sum, g, err := r.summary(ctx, e.e)
	if err != nil {
		return err
	}
	if err := r.once(ctx, e.rec.Seq, "summary", true, func() error { return r.postSummary(ctx, g, sum, !r.replayed(e.rec)) }); err != nil {
		return err
	}
	if age(e.rec) > b.cfg.MaxEffectAge || r.replayed(e.rec) {
		return nil
	}
	return r.once(ctx, e.rec.Seq, "endannounce", false, func() error {
		_, err := b.rest.send(ctx, g.ChatChannel, &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{endAnnouncement(sum)},
			AllowedMentions: &discordgo.MessageAllowedMentions{}})
		r.channelProblem(ctx, g.Guild, g.ButtonChannel, g.ChatChannel, g.StartedBy, err)
		return err
	})
}

// summary reads what the end summary shows.
func (r *Reactor) summary(ctx context.Context, e events.GameEnded) (endSummary, Game, error) {
	v := r.b.views
	g, err := v.Game(ctx, e.Game)
	if err != nil {
		return endSummary{}, Game{}, err
	}
	s := endSummary{Game: e.Game, Aborted: e.Reason == events.EndAborted, By: e.By, Why: e.Why,
		StartMS: msOf(g.Start), EndMS: e.AtMS, LeftMS: events.Remaining(msOf(g.Deadline), e.AtMS), Clicks: g.Clicks, Players: g.Players}
	teams, err := v.Teams(ctx, e.Game)
	if err != nil {
		return endSummary{}, Game{}, err
	}
	for i, bs := range teams.Bands {
		s.PerBand[i] = bs.Clicks
	}
	active, err := v.Leaderboard(ctx, e.Game, ByClicks, 5)
	if err != nil {
		return endSummary{}, Game{}, err
	}
	for _, p := range active {
		s.MostActive = append(s.MostActive, rankEntry{User: p.User, Name: p.Name, N: p.Clicks})
	}
	best, err := v.Leaderboard(ctx, e.Game, ByBest, 5)
	if err != nil {
		return endSummary{}, Game{}, err
	}
	for _, p := range best {
		s.Lowest = append(s.Lowest, rankEntry{User: p.User, Name: p.Name, Band: p.BestBand, ValueMS: p.Best.Milliseconds()})
	}
	claimed, err := v.Leaderboard(ctx, e.Game, ByClaimed, 5)
	if err != nil {
		return endSummary{}, Game{}, err
	}
	for _, p := range claimed {
		s.Claimed = append(s.Claimed, rankEntry{User: p.User, Name: p.Name, N: p.Claimed.Milliseconds()})
	}
	return s, g, nil
}

// postSummary edits the game message into the summary (button disabled,
// end picture), or, when mayPost is set, posts the summary when the
// message is gone.
func (r *Reactor) postSummary(ctx context.Context, g Game, s endSummary, mayPost bool) error {
	b := r.b
	pic := endPictureOf(s)
	start := time.Now()
	img, err := imaging.RenderEndPicture(pic)
	r.b.rendered("end", start)
	if err != nil {
		return fmt.Errorf("game %d end picture: %w", s.Game, err)
	}
	embed := summaryEmbed(s, img.Name)
	label := "Game over"
	if s.Aborted {
		label = "Stopped"
	}
	comps := gameButtons(s.Game, events.Red, true, label)
	file := func() []*discordgo.File {
		return []*discordgo.File{{Name: img.Name, ContentType: img.ContentType, Reader: newReader(img.Data)}}
	}
	state, _, err := b.cmds.Game(ctx, s.Game)
	if err != nil {
		return err
	}
	channel, message := state.MessageChannel, state.MessageID
	if channel == "" {
		channel = g.ButtonChannel
	}
	if message != "" {
		none := []*discordgo.MessageAttachment{}
		_, err = b.rest.edit(ctx, &discordgo.MessageEdit{Channel: channel, ID: message,
			Embeds: &[]*discordgo.MessageEmbed{embed}, Components: &comps, Files: file(), Attachments: &none,
			AllowedMentions: &discordgo.MessageAllowedMentions{}})
		code := codeOf(err)
		if err == nil || (code != CodeUnknownMessage && code != CodeTooManyEdits) {
			r.channelProblem(ctx, g.Guild, g.ChatChannel, channel, g.StartedBy, err)
			return err
		}
		b.log.Info("game message gone or frozen: posting the summary anew", "game", s.Game, "code", code, "post", mayPost)
	}
	if !mayPost {
		return nil
	}
	_, err = b.rest.send(ctx, channel, &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{embed},
		Components: comps, Files: file(), AllowedMentions: &discordgo.MessageAllowedMentions{}})
	r.channelProblem(ctx, g.Guild, g.ChatChannel, channel, g.StartedBy, err)
	return err
}
