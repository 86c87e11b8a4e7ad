package discordbot

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/imaging"
	"github.com/thebutton-game/thebutton/readmodel"
)

func newReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// Updater keeps every active game's message up to date. It edits a message
// only when what it shows changed (a click, the clock's colour or urgency,
// or, in the last minutes, a fresh countdown picture: see pictureSeconds),
// never edits two messages of one channel less than
// EditInterval apart, coalesces what happened meanwhile into one edit,
// serves recently clicked games and clocks close to zero first, and
// reposts a message Discord lost (10008) or refuses to edit again (30046).
// Its REST calls go through the bot's global limiter like every other.
// It is safe for concurrent use; its loop runs from Bot.Open to Bot.Close.
type Updater struct {
	b *Bot

	mu    sync.Mutex
	games map[events.GameID]*liveGame
	chans map[string]*chanPace
	wake  chan struct{}
	edits sync.WaitGroup
}

// liveGame is the updater's knowledge of one game.
type liveGame struct {
	id        events.GameID
	guild     string // "" until known (Touch, Track or a scan)
	channel   string // where its message is (known after the first read)
	deadline  time.Time
	duration  time.Duration
	dirty     bool
	gen       uint64 // bumped by every Touch
	touchedAt time.Time
	shown     shownKey
	lastEdit  time.Time
	busy      bool
	done      chan struct{} // closed when the edit in flight ends
	ended     bool
	endedAt   time.Time
	retryAt   time.Time
	failures  int
}

// shownKey is what a live message shows, as far as an edit matters.
type shownKey struct {
	message  string
	band     events.Band
	urgency  imaging.Urgency
	seconds  int64
	clicks   int64
	players  int64
	last     int64
	deadline int64
}

type chanPace struct {
	busy     bool
	lastEdit time.Time
}

// maxConcurrentEdits bounds the edits in flight (of different channels).
const maxConcurrentEdits = 4

func newUpdater(b *Bot) *Updater {
	return &Updater{b: b, games: make(map[events.GameID]*liveGame), chans: make(map[string]*chanPace),
		wake: make(chan struct{}, 1)}
}

func (u *Updater) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *Updater) gameLocked(id events.GameID) *liveGame {
	g := u.games[id]
	if g == nil {
		g = &liveGame{id: id, dirty: true}
		u.games[id] = g
	}
	return g
}

// Touch marks the message of a game of guild for refresh after a click
// at at.
func (u *Updater) Touch(id events.GameID, guild string, at time.Time) {
	u.mu.Lock()
	g := u.gameLocked(id)
	if guild != "" {
		g.guild = guild
	}
	if g.ended {
		u.mu.Unlock()
		return
	}
	g.dirty = true
	g.gen++
	if at.After(g.touchedAt) {
		g.touchedAt = at
	}
	u.mu.Unlock()
	u.poke()
}

// Track makes sure a game is kept up to date (after a start or a repost).
func (u *Updater) Track(id events.GameID, guild string) { u.Touch(id, guild, time.Time{}) }

// owns reports whether this process updates the messages of a guild's
// games (Config.Guilds); a game whose guild is not known yet waits for
// the next scan when ownership is in use.
func (u *Updater) owns(g *liveGame) bool {
	if u.b.cfg.Guilds == nil {
		return true
	}
	return g.guild != "" && u.b.cfg.Guilds.Owns(g.guild)
}

// Finish stops updating a game for good and waits (until ctx ends) for
// its edit in flight, so that the end summary is the message's last edit.
func (u *Updater) Finish(ctx context.Context, id events.GameID) error {
	u.mu.Lock()
	g := u.gameLocked(id)
	g.ended, g.endedAt = true, time.Now()
	done := g.done
	u.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// period is how often a message is refreshed with no click, by how close
// its clock is to zero.
func (u *Updater) period(remaining time.Duration) time.Duration {
	switch {
	case remaining <= time.Minute:
		return u.b.cfg.EditInterval
	case remaining <= 5*time.Minute:
		return 5 * time.Second
	case remaining <= 30*time.Minute:
		return 30 * time.Second
	}
	return 5 * time.Minute
}

// What the timer picture shows (Bot.card) decides when it is uploaded
// again: the deadline card changes only with the band, the deadline and
// urgent or not; the countdown GIF is uploaded when the clock enters the
// last imaging.CountdownWindow and then every countdownRefresh, because a
// GIF plays from its start when a player opens the channel later: a
// fresh one keeps what late viewers see within countdownRefresh of true
// (the embed's <t:R> is live for everyone).
const countdownRefresh = 30 * time.Second

// pictureUrgency is the urgency the picture shows at remaining.
func pictureUrgency(remaining time.Duration) imaging.Urgency {
	if remaining <= imaging.CountdownWindow {
		return imaging.UrgencyCritical // the countdown
	}
	return min(imaging.UrgencyFor(remaining), imaging.UrgencyAlert) // the deadline card: urgent or not
}

// pictureSeconds is 0 for the deadline card and, for the countdown, the
// countdownRefresh slice of the window it was rendered in.
func pictureSeconds(remaining time.Duration) int64 {
	if remaining > imaging.CountdownWindow || remaining <= 0 {
		return 0
	}
	return int64((remaining + countdownRefresh - 1) / countdownRefresh)
}

// keepEnded is how long an ended game is remembered.
const keepEnded = 10 * time.Minute

// scanEvery is how often the updater re-reads the list of active games.
const scanEvery = 30 * time.Second

// run is the updater's loop.
func (u *Updater) run(ctx context.Context) {
	defer u.edits.Wait()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastScan time.Time
	var scanFailures int
	for {
		now := time.Now()
		if now.Sub(lastScan) >= scanEvery {
			if err := u.scan(ctx); err != nil {
				scanFailures++
				if scanFailures == 1 || scanFailures%10 == 0 {
					u.b.log.Warn("updater cannot list active games", "failures", scanFailures, "err", err)
				}
				lastScan = now.Add(-scanEvery + 2*time.Second) // try again soon
			} else {
				scanFailures = 0
				lastScan = now
			}
		}
		u.dispatch(ctx, now)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-u.wake:
		}
	}
}

// scan adds every active game of the views.
func (u *Updater) scan(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	games, err := u.b.views.ActiveGames(sctx, "")
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, g := range games {
		lg := u.gameLocked(g.ID)
		lg.guild = g.Guild
		if lg.channel == "" {
			lg.channel = g.MessageChannel
			lg.deadline, lg.duration = g.Deadline, g.Duration
		}
	}
	return nil
}

// due reports whether g needs an edit at now. Caller holds u.mu.
func (u *Updater) due(g *liveGame, now time.Time) bool {
	if g.busy || g.ended || now.Before(g.retryAt) || !u.owns(g) {
		return false
	}
	if g.dirty || g.lastEdit.IsZero() {
		return true
	}
	remaining := g.deadline.Sub(now)
	if remaining <= 0 {
		return false // over: the reactor writes the summary
	}
	band := events.BandOf(remaining.Milliseconds(), g.duration.Milliseconds())
	if band != g.shown.band || pictureUrgency(remaining) != g.shown.urgency || pictureSeconds(remaining) != g.shown.seconds {
		return true
	}
	return now.Sub(g.lastEdit) >= u.period(remaining)
}

// dispatch starts the most urgent due edits whose channel may be edited.
func (u *Updater) dispatch(ctx context.Context, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	busy := 0
	var cands []*liveGame
	for id, g := range u.games {
		if g.busy {
			busy++
		}
		// An ended game is kept a while, so that a late scan of lagging
		// views cannot revive it; then it is forgotten.
		if g.ended && !g.busy && now.Sub(g.endedAt) > keepEnded {
			delete(u.games, id)
			continue
		}
		if u.due(g, now) {
			cands = append(cands, g)
		}
	}
	if len(cands) == 0 || busy >= maxConcurrentEdits {
		return
	}
	// Recently clicked games first, then the clocks closest to zero.
	slices.SortFunc(cands, func(a, b *liveGame) int {
		switch {
		case a.dirty != b.dirty:
			if a.dirty {
				return -1
			}
			return 1
		case !a.touchedAt.Equal(b.touchedAt):
			return b.touchedAt.Compare(a.touchedAt)
		}
		return a.deadline.Compare(b.deadline)
	})
	for _, g := range cands {
		if busy >= maxConcurrentEdits {
			return
		}
		var pace *chanPace
		if g.channel != "" {
			pace = u.chans[g.channel]
			if pace == nil {
				pace = &chanPace{}
				u.chans[g.channel] = pace
			}
			if pace.busy || now.Sub(pace.lastEdit) < u.b.cfg.EditInterval {
				continue
			}
			pace.busy = true
		}
		g.busy = true
		g.done = make(chan struct{})
		busy++
		gen := g.gen
		u.edits.Add(1)
		go func() {
			defer u.edits.Done()
			u.refresh(ctx, g, gen, pace)
		}()
	}
}

// refresh brings one game's message up to date.
func (u *Updater) refresh(ctx context.Context, g *liveGame, gen uint64, pace *chanPace) {
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := u.edit(ectx, g, pace)
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range []*chanPace{pace, res.pace} {
		if p == nil {
			continue
		}
		p.busy = false
		if res.touched && p == res.pace {
			p.lastEdit = now
		}
	}
	if res.channel != "" {
		g.channel = res.channel
	}
	g.busy = false
	close(g.done)
	g.done = nil
	if !res.deadline.IsZero() {
		g.deadline, g.duration = res.deadline, res.duration
	}
	switch {
	case err != nil && res.touched:
		u.b.edited("failed")
	case res.touched:
		u.b.edited("ok")
	}
	switch {
	case res.over:
		// Kept (ended) so that a late scan or touch never revives it.
		g.ended, g.endedAt = true, now
	case err != nil:
		g.failures++
		g.retryAt = now.Add(min(time.Duration(1<<min(g.failures, 6))*time.Second, time.Minute))
		if g.failures == 1 || g.failures%20 == 0 {
			u.b.log.Warn("game message refresh failed", "game", g.id, "failures", g.failures, "err", err)
		}
	default:
		g.failures = 0
		if res.touched || res.unchanged {
			g.lastEdit = now
			g.shown = res.shown
			if g.gen == gen {
				g.dirty = false
			}
		} else if res.waiting {
			g.retryAt = now.Add(res.retryIn)
		}
	}
}

// editResult is what one refresh did.
type editResult struct {
	touched   bool // a REST call was made on the channel
	unchanged bool // nothing to edit: the message shows what it should
	waiting   bool // look again in retryIn: no message yet (the reactor posts it), or the views lag the game
	over      bool // the game is over: the reactor handles it now
	retryIn   time.Duration
	pace      *chanPace // the channel the refresh held when it made calls
	shown     shownKey
	channel   string
	deadline  time.Time
	duration  time.Duration
}

// repostGrace is how long after its start a game without a recorded
// message waits for the reactor's first post before the updater posts one.
const repostGrace = time.Minute

// claimChannel reserves channel for a refresh that holds held (nil: none).
// It returns the channel's pace, or how long to wait when the channel was
// edited too recently or another refresh is editing it.
func (u *Updater) claimChannel(channel string, held *chanPace) (*chanPace, time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.chans[channel]
	if p == nil {
		p = &chanPace{}
		u.chans[channel] = p
	}
	if p == held {
		return p, 0
	}
	if wait := u.b.cfg.EditInterval - time.Since(p.lastEdit); p.busy || wait > 0 {
		return nil, max(wait, 200*time.Millisecond)
	}
	p.busy = true
	return p, 0
}

func (u *Updater) edit(ctx context.Context, g *liveGame, held *chanPace) (editResult, error) {
	b := u.b
	last, exists, err := b.cmds.LastSeq(ctx, g.id)
	if err != nil {
		return editResult{}, err
	}
	if !exists {
		return editResult{over: true}, nil
	}
	// Everything shown comes from the views, once they have applied the
	// game's latest event: its last press, the message recorded last.
	if err := b.waitViews(ctx, last); err != nil {
		if ctx.Err() != nil || errors.Is(err, readmodel.ErrUnavailable) {
			return editResult{}, err
		}
		// The views lag: nothing is shown from them yet (not even their
		// clock, which may lack a press just before zero).
		return editResult{waiting: true, retryIn: time.Second}, nil
	}
	view, err := b.views.Game(ctx, g.id)
	if err != nil {
		if errors.Is(err, readmodel.ErrNotFound) {
			return editResult{waiting: true, retryIn: 2 * time.Second}, nil
		}
		return editResult{}, err
	}
	now := time.Now()
	res := editResult{deadline: view.Deadline, duration: view.Duration}
	if view.Over(now) {
		res.over = true
		return res, nil
	}
	channel, message := view.MessageChannel, view.MessageID
	v := b.liveFromGame(view, now)
	remaining := res.deadline.Sub(now)
	key := shownKey{message: message, band: v.band(), urgency: pictureUrgency(remaining),
		seconds: pictureSeconds(remaining), clicks: view.Clicks, players: view.Players,
		deadline: v.DeadlineMS}
	if view.Last != nil {
		key.last = view.Last.Number
	}
	res.shown, res.channel = key, channel
	if message == "" {
		if now.Sub(view.Start) < repostGrace {
			res.waiting, res.retryIn = true, 5*time.Second
			return res, nil
		}
		res.channel = view.ButtonChannel
		pace, wait := u.claimChannel(res.channel, held)
		if pace == nil {
			res.waiting, res.retryIn = true, wait
			return res, nil
		}
		res.pace, res.touched = pace, true
		id, err := b.postGameMessage(ctx, view.ButtonChannel, v)
		if err != nil {
			return res, err
		}
		res.shown.message = id
		b.log.Info("game message posted", "game", g.id, "channel", res.channel, "message", id, "why", "none recorded")
		return res, nil
	}
	u.mu.Lock()
	same := !g.dirty && g.shown == key
	u.mu.Unlock()
	if same {
		res.unchanged = true
		return res, nil
	}
	pace, wait := u.claimChannel(channel, held)
	if pace == nil {
		res.waiting, res.retryIn = true, wait
		return res, nil
	}
	res.pace = pace
	embed, comps, f, err := b.liveMessage(ctx, v)
	if err != nil {
		return res, err
	}
	res.touched = true
	none := []*discordgo.MessageAttachment{}
	_, err = b.rest.edit(ctx, &discordgo.MessageEdit{
		Channel: channel, ID: message, Embeds: &[]*discordgo.MessageEmbed{embed}, Components: &comps,
		Files: []*discordgo.File{f}, Attachments: &none, AllowedMentions: &discordgo.MessageAllowedMentions{},
	})
	switch code := codeOf(err); {
	case err == nil:
		return res, nil
	case code == CodeUnknownMessage || code == CodeTooManyEdits:
		id, perr := b.postGameMessage(ctx, channel, v)
		if perr != nil {
			return res, perr
		}
		res.shown.message = id
		b.log.Info("game message reposted", "game", g.id, "channel", channel, "old", message, "message", id, "code", code)
		if code == CodeTooManyEdits {
			if derr := b.rest.remove(ctx, channel, message); derr != nil {
				b.log.Warn("old game message not removed", "game", g.id, "message", message, "err", derr)
			}
		}
		return res, nil
	case code == CodeUnknownChannel || code == CodeMissingPermissions || code == CodeMissingAccess:
		b.notices.tell(ctx, view.Guild, view.ChatChannel, view.StartedBy, noticeChannel,
			"I cannot update the game message of game #%d in <#%s>: Discord says %s. "+
				"Give The Button the View Channel, Send Messages, Embed Links and Attach Files permissions there, "+
				"or start the game in another channel.", g.id, channel, describe(err))
		return res, err
	}
	return res, err
}
