package discordbot

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/bwmarrin/discordgo"
)

// reply is what the bot answers to an interaction (or a text command).
type reply struct {
	content    string
	embeds     []*discordgo.MessageEmbed
	components []discordgo.MessageComponent
	files      []file
	ephemeral  bool
}

// file is an attachment of a reply.
type file struct {
	name, contentType string
	data              []byte
}

func (r reply) discordFiles() []*discordgo.File {
	var out []*discordgo.File
	for _, f := range r.files {
		out = append(out, &discordgo.File{Name: f.name, ContentType: f.contentType, Reader: bytes.NewReader(f.data)})
	}
	return out
}

func (r reply) flags() discordgo.MessageFlags {
	if r.ephemeral {
		return discordgo.MessageFlagsEphemeral
	}
	return 0
}

func (r reply) data() *discordgo.InteractionResponseData {
	comps := r.components
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	embeds := r.embeds
	if embeds == nil {
		embeds = []*discordgo.MessageEmbed{}
	}
	return &discordgo.InteractionResponseData{
		Content: r.content, Embeds: embeds, Components: comps, Files: r.discordFiles(), Flags: r.flags(),
		AllowedMentions: &discordgo.MessageAllowedMentions{},
	}
}

func (r reply) webhookEdit() *discordgo.WebhookEdit {
	content := r.content
	embeds := r.embeds
	if embeds == nil {
		embeds = []*discordgo.MessageEmbed{}
	}
	comps := r.components
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	return &discordgo.WebhookEdit{Content: &content, Embeds: &embeds, Components: &comps, Files: r.discordFiles(),
		AllowedMentions: &discordgo.MessageAllowedMentions{}}
}

// responder sends an interaction's initial response: as a callback over
// REST for an interaction that came over the gateway, in the HTTP
// response for one that came to the interactions endpoint. Later edits go
// through REST (webhooks/{app}/{token}) either way.
type responder struct {
	send func(ctx context.Context, resp *discordgo.InteractionResponse) error
	// standIn, if set, is handed the deferral that answer sends if its
	// reply is late, before the reply is produced: the HTTP endpoint
	// writes it by itself when nothing was written as Discord's window is
	// about to close (a starved process), so that a press whose decision
	// started always gets a response. send then returns errStoodIn.
	standIn func(deferral *discordgo.InteractionResponse)
	// sent, if not zero, is the latest instant the interaction can have
	// been sent by Discord, when that is before the service received it
	// (a request that waited in transit, as its signed timestamp shows):
	// Discord's window, and so every budget of the answer, counts from it.
	sent time.Time
}

// origin is when the budgets of an interaction received at start count
// from: start, or the time it was sent if known to be earlier.
func (r responder) origin(start time.Time) time.Time {
	if !r.sent.IsZero() && r.sent.Before(start) {
		return r.sent
	}
	return start
}

// errStoodIn means the transport already sent the interaction's deferral
// by itself (responder.standIn): the answer goes as an edit of the
// original response.
var errStoodIn = errors.New("the interaction was deferred by the endpoint")

// restResponder answers ic with a callback over REST.
func (b *Bot) restResponder(ic *discordgo.Interaction) responder {
	return responder{send: func(ctx context.Context, resp *discordgo.InteractionResponse) error {
		return b.rest.respond(ctx, ic, resp)
	}}
}

// answerTimeout bounds producing an answer: past it the player is told
// something went wrong.
const answerTimeout = 20 * time.Second

// answer runs produce and sends its reply to the interaction: directly
// (callback type 4, or 7 when update is set) when it is ready within the
// press budget, otherwise a deferred callback (5 or 6) at once and the
// reply as an edit of the original answer when it is ready. ephemeral
// decides the visibility of a deferred answer. answer returns when the
// reply is sent (or failed); the produce goroutine is waited for.
func (b *Bot) answer(ic *discordgo.Interaction, start time.Time, respond responder, ephemeral, update bool,
	produce func(ctx context.Context) reply) {
	typ := discordgo.InteractionResponseDeferredChannelMessageWithSource
	if update {
		typ = discordgo.InteractionResponseDeferredMessageUpdate
	}
	var flags discordgo.MessageFlags
	if ephemeral {
		flags = discordgo.MessageFlagsEphemeral
	}
	deferral := &discordgo.InteractionResponse{Type: typ, Data: &discordgo.InteractionResponseData{Flags: flags}}
	if respond.standIn != nil {
		respond.standIn(deferral)
	}
	pctx, cancel := context.WithTimeout(b.ctx, answerTimeout)
	defer cancel()
	done := make(chan reply, 1)
	go func() { done <- produce(pctx) }()

	origin := respond.origin(start)
	budget := b.cfg.PressBudget - time.Since(origin)
	timer := time.NewTimer(max(budget, 0))
	defer timer.Stop()
	select {
	case r := <-done:
		b.sendAnswer(ic, start, respond, r, update)
		return
	case <-timer.C:
	}
	cctx, ccancel := context.WithTimeout(b.ctx, callbackTimeout(origin))
	err := respond.send(cctx, deferral)
	ccancel()
	if err != nil && !errors.Is(err, errStoodIn) {
		// Discord told the user the interaction failed: what has not
		// started stops here (a press still queued is not recorded).
		b.log.Warn("interaction deferral failed: its work is cancelled", "interaction", ic.ID, "err", err)
		cancel()
	}
	r := <-done
	ectx, ecancel := context.WithTimeout(context.WithoutCancel(b.ctx), 10*time.Second)
	defer ecancel()
	if err := b.rest.editOriginal(ectx, ic, r.webhookEdit()); err != nil {
		b.log.Warn("deferred answer failed", "interaction", ic.ID, "err", err)
	}
}

// callbackTimeout leaves the callback what remains of Discord's 3 s (at
// least 500 ms, so a slow network still gets a chance).
func callbackTimeout(start time.Time) time.Duration {
	return max(3*time.Second-time.Since(start), 500*time.Millisecond)
}

func (b *Bot) sendAnswer(ic *discordgo.Interaction, start time.Time, respond responder, r reply, update bool) {
	typ := discordgo.InteractionResponseChannelMessageWithSource
	if update {
		typ = discordgo.InteractionResponseUpdateMessage
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), callbackTimeout(respond.origin(start)))
	defer cancel()
	err := respond.send(ctx, &discordgo.InteractionResponse{Type: typ, Data: r.data()})
	var apiErr *APIError
	switch {
	case err == nil:
	case errors.Is(err, errStoodIn):
		// The endpoint deferred it: the answer is the edit.
		ectx, ecancel := context.WithTimeout(context.WithoutCancel(b.ctx), 10*time.Second)
		defer ecancel()
		if err := b.rest.editOriginal(ectx, ic, r.webhookEdit()); err != nil {
			b.log.Warn("deferred answer failed", "interaction", ic.ID, "err", err)
		}
	case errors.As(err, &apiErr) && apiErr.Code == CodeUnknownInteraction:
		b.log.Warn("interaction answered too late", "interaction", ic.ID, "after", time.Since(start))
	default:
		b.log.Warn("interaction answer failed", "interaction", ic.ID, "err", err)
	}
}

// onInteraction receives every interaction of the gateway. discordgo
// calls it in its own goroutine; the bot tracks it so Close can wait for
// it.
func (b *Bot) onInteraction(_ *discordgo.Session, ev *discordgo.InteractionCreate) {
	start := time.Now() // the press's one time stamp
	if !b.track() {
		return
	}
	defer b.inflight.Done()
	b.handle(ev.Interaction, start, b.restResponder(ev.Interaction))
}

// handle answers an interaction however it arrived (gateway or HTTP):
// commands and buttons alike. start is when the service received it;
// respond sends the initial response. It returns once the answer is sent
// (or failed); it ignores the types the bot does not use, without
// responding.
func (b *Bot) handle(ic *discordgo.Interaction, start time.Time, respond responder) {
	b.sawMember(ic) // the member's roles arrive with each of its interactions
	switch ic.Type {
	case discordgo.InteractionMessageComponent:
		b.onComponent(ic, start, respond)
	case discordgo.InteractionApplicationCommand:
		b.onCommand(ic, start, respond)
	}
}

// onComponent handles a button: a game's button or a paging button.
func (b *Bot) onComponent(ic *discordgo.Interaction, start time.Time, respond responder) {
	id := ic.MessageComponentData().CustomID
	if game, err := ParsePressID(id); err == nil {
		b.press(ic, start, respond, game)
		return
	}
	if ref, err := parsePageID(id); err == nil {
		b.answer(ic, start, respond, true, true, func(ctx context.Context) reply { return b.page(ctx, ic, ref) })
		return
	}
	b.log.Warn("refused unknown custom id", "interaction", ic.ID, "guild", ic.GuildID, "len", len(id))
	b.sendAnswer(ic, start, respond, reply{content: textForged, ephemeral: true}, false)
}
