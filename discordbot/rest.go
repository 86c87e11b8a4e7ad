package discordbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"golang.org/x/time/rate"
)

// Discord error codes the bot branches on.
const (
	CodeUnknownChannel     = 10003
	CodeUnknownMember      = 10007
	CodeUnknownMessage     = 10008
	CodeUnknownRole        = 10011
	CodeUnknownInteraction = 10062
	CodeTooManyEdits       = 30046
	CodeMissingAccess      = 50001
	CodeMissingPermissions = 50013
	CodeAlreadyAnswered    = 40060
)

// APIError is a refusal from Discord, translated from discordgo's errors
// at the REST boundary. Status is the HTTP status, Code Discord's JSON
// error code (0 when there was none).
type APIError struct {
	Op      string
	Status  int
	Code    int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("discord %s: HTTP %d, code %d: %s", e.Op, e.Status, e.Code, e.Message)
}

// ErrRateLimited means Discord kept answering 429 after the retries a call
// is allowed.
var ErrRateLimited = errors.New("discord: rate limited")

// errNotSent marks a failure that certainly did not reach Discord (a wait
// that ended, a 429): the call may be made again without doing anything
// twice. Any other transient failure (a timeout, a broken connection, a
// 5xx) leaves it unknown whether Discord acted.
var errNotSent = errors.New("request not sent")

// notSent reports whether err certainly did not reach Discord.
func notSent(err error) bool { return errors.Is(err, errNotSent) }

// callTimeout bounds one HTTP call to Discord. The call itself is not
// cancelled by the caller's context (only the waits before it are), so
// that a shutdown never leaves the bot unsure whether Discord acted.
const callTimeout = 15 * time.Second

// codeOf returns the Discord error code inside err, 0 if none.
func codeOf(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// fixable reports whether err is a refusal a server admin can fix: a
// missing permission or access, a role above the bot's, a deleted channel.
func fixable(err error) bool {
	switch codeOf(err) {
	case CodeMissingPermissions, CodeMissingAccess, CodeUnknownChannel:
		return true
	}
	return false
}

// permanent reports whether retrying err cannot help: Discord refused the
// request itself (a missing permission, a deleted channel, message or
// role, an invalid body). Rate limits, server errors and network errors
// are transient.
func permanent(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests
}

// rest is the bot's only way to Discord's REST API. Every call except
// interaction callbacks waits for the global limiter; calls on one
// discordgo bucket are serialised here, and the bucket's reset is waited
// for with the call's context before discordgo sees the call, so
// discordgo's own uncancellable rate-limit sleep never happens. A 429 is
// retried after its retry_after, waited for with the context.
type rest struct {
	s      *discordgo.Session
	budget Budget
	onWait func(time.Duration)
	log    *slog.Logger
	client *http.Client

	mu    sync.Mutex
	slots map[string]chan struct{}
}

func newREST(s *discordgo.Session, budget Budget, onWait func(time.Duration), log *slog.Logger) *rest {
	return &rest{s: s, budget: budget, onWait: onWait, log: log, client: s.Client,
		slots: make(map[string]chan struct{})}
}

// Budget is the global REST budget: Discord's limit of requests per second
// per bot token, over every call except interaction answers. The default
// (LocalBudget) is this process's own; processes of one bot share one
// through discordkv. Implementations are safe for concurrent use.
type Budget interface {
	// Reserve takes one request from the budget and returns how long the
	// caller must wait before sending it (0: at once). The request is
	// counted whether or not the caller then sends it. An error means
	// nothing was taken (ctx ended).
	Reserve(ctx context.Context) (time.Duration, error)
	// Spare is about how many requests could leave at once now; it takes
	// nothing. Low-priority calls wait while it is low.
	Spare() float64
}

// LocalBudget is a budget of this process alone: perSecond requests a
// second, at most burst at once.
func LocalBudget(perSecond float64, burst int) Budget {
	return localBudget{rate.NewLimiter(rate.Limit(perSecond), burst)}
}

type localBudget struct{ l *rate.Limiter }

func (b localBudget) Reserve(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return b.l.Reserve().Delay(), nil
}

func (b localBudget) Spare() float64 { return b.l.Tokens() }

// wait takes one request from the global budget and waits for its turn.
func (r *rest) wait(ctx context.Context) error {
	d, err := r.budget.Reserve(ctx)
	if err != nil {
		return err
	}
	if r.onWait != nil {
		r.onWait(d)
	}
	return sleep(ctx, d)
}

// maxRateRetries bounds the retries of a call answered with 429.
const maxRateRetries = 4

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *rest) slot(bucket string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.slots[bucket]
	if c == nil {
		c = make(chan struct{}, 1)
		r.slots[bucket] = c
	}
	return c
}

// bucketWait is how long discordgo would sleep before a call on bucket.
// The caller holds the bucket's slot, so nobody else uses the bucket.
func (r *rest) bucketWait(bucket string) time.Duration {
	b := r.s.Ratelimiter.GetBucket(bucket)
	b.Lock()
	defer b.Unlock()
	w := r.s.Ratelimiter.GetWaitTime(b, 1)
	if w > 0 {
		// The reset is known to the millisecond, rounded: a call right at
		// it may still land in the old window and get a 429.
		w += bucketMargin
	}
	return w
}

// ready waits until a call on bucket could leave at once as far as this
// process knows (the bucket's reset and, for a low-priority context, room
// in the global budget), without taking anything. Effects claim their
// done-mark after it, so that a crash while waiting for a rate limit does
// not leave an effect claimed but never sent.
func (r *rest) ready(ctx context.Context, bucket string) error {
	if err := sleep(ctx, r.bucketWait(bucket)); err != nil {
		return fmt.Errorf("%w: %w", errNotSent, err)
	}
	if err := r.yield(ctx); err != nil {
		return fmt.Errorf("%w: %w", errNotSent, err)
	}
	return nil
}

// lowKey marks a context whose calls yield to the others.
type lowKey struct{}

// lowPriority returns a context whose REST calls take the global budget
// only when it has room to spare (role grants: they wait for Discord's
// per-guild limit anyway, and must never delay an announcement or the end
// of a game).
func lowPriority(ctx context.Context) context.Context { return context.WithValue(ctx, lowKey{}, true) }

// lowReserve is how many tokens of the global limiter a low-priority call
// leaves to the others.
const lowReserve = 2

// yield waits, for a low-priority call, until the global limiter has more
// than lowReserve tokens.
func (r *rest) yield(ctx context.Context) error {
	if ctx.Value(lowKey{}) == nil {
		return nil
	}
	for r.budget.Spare() < lowReserve+1 {
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// bucketMargin is added to a wait for a bucket's reset.
const bucketMargin = 25 * time.Millisecond

// do runs call, which must make one discordgo request on bucket with the
// options it is given, under the limits described on rest.
func (r *rest) do(ctx context.Context, op, bucket string, call func(opts ...discordgo.RequestOption) error) error {
	slot := r.slot(bucket)
	select {
	case slot <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("discord %s: %w: %w", op, errNotSent, ctx.Err())
	}
	defer func() { <-slot }()
	for attempt := 0; ; attempt++ {
		// The bucket first, the global limiter last: a call leaves right
		// after its global token, so calls reach Discord as the limiter
		// spaced them.
		if err := sleep(ctx, r.bucketWait(bucket)); err != nil {
			return fmt.Errorf("discord %s: %w: %w", op, errNotSent, err)
		}
		if err := r.yield(ctx); err != nil {
			return fmt.Errorf("discord %s: %w: %w", op, errNotSent, err)
		}
		if err := r.wait(ctx); err != nil {
			return fmt.Errorf("discord %s: %w: %w", op, errNotSent, err)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		err := call(discordgo.WithContext(cctx))
		cancel()
		var rl *discordgo.RateLimitError
		if errors.As(err, &rl) {
			if attempt >= maxRateRetries {
				return fmt.Errorf("discord %s: %w: %w", op, errNotSent, ErrRateLimited)
			}
			r.log.Warn("discord rate limited", "op", op, "retry_after", rl.RetryAfter)
			if err := sleep(ctx, rl.RetryAfter+50*time.Millisecond); err != nil {
				return fmt.Errorf("discord %s: %w: %w", op, errNotSent, err)
			}
			continue
		}
		return translate(op, err)
	}
}

// translate turns discordgo's errors into *APIError.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) {
		e := &APIError{Op: op, Message: string(re.ResponseBody)}
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		if re.Message != nil {
			e.Code, e.Message = re.Message.Code, re.Message.Message
		}
		return e
	}
	return fmt.Errorf("discord %s: %w", op, err)
}

// Buckets as discordgo names them (discordgo v0.29 restapi.go).
func bucketMessages(channel string) string { return discordgo.EndpointChannelMessages(channel) }
func bucketMessage(channel string) string  { return discordgo.EndpointChannelMessage(channel, "") }
func bucketReactions(channel string) string {
	return discordgo.EndpointMessageReaction(channel, "", "", "")
}
func bucketRoles(guild string) string      { return discordgo.EndpointGuildRoles(guild) }
func bucketRole(guild string) string       { return discordgo.EndpointGuildRole(guild, "") }
func bucketMemberRole(guild string) string { return discordgo.EndpointGuildMemberRole(guild, "", "") }

// send posts a message.
func (r *rest) send(ctx context.Context, channel string, m *discordgo.MessageSend) (*discordgo.Message, error) {
	var out *discordgo.Message
	err := r.do(ctx, "send message", bucketMessages(channel), func(opts ...discordgo.RequestOption) error {
		for _, f := range m.Files {
			if s, ok := f.Reader.(io.Seeker); ok {
				_, _ = s.Seek(0, io.SeekStart)
			}
		}
		var err error
		out, err = r.s.ChannelMessageSendComplex(channel, m, opts...)
		return err
	})
	return out, err
}

// edit edits a message.
func (r *rest) edit(ctx context.Context, m *discordgo.MessageEdit) (*discordgo.Message, error) {
	var out *discordgo.Message
	err := r.do(ctx, "edit message", bucketMessage(m.Channel), func(opts ...discordgo.RequestOption) error {
		for _, f := range m.Files {
			if s, ok := f.Reader.(io.Seeker); ok {
				_, _ = s.Seek(0, io.SeekStart)
			}
		}
		var err error
		out, err = r.s.ChannelMessageEditComplex(m, opts...)
		return err
	})
	return out, err
}

// remove deletes a message.
func (r *rest) remove(ctx context.Context, channel, message string) error {
	return r.do(ctx, "delete message", bucketMessage(channel), func(opts ...discordgo.RequestOption) error {
		return r.s.ChannelMessageDelete(channel, message, opts...)
	})
}

func (r *rest) react(ctx context.Context, channel, message, emoji string) error {
	return r.do(ctx, "add reaction", bucketReactions(channel), func(opts ...discordgo.RequestOption) error {
		return r.s.MessageReactionAdd(channel, message, emoji, opts...)
	})
}

func (r *rest) unreact(ctx context.Context, channel, message, emoji string) error {
	return r.do(ctx, "remove reaction", bucketReactions(channel), func(opts ...discordgo.RequestOption) error {
		return r.s.MessageReactionRemove(channel, message, emoji, "@me", opts...)
	})
}

func (r *rest) roles(ctx context.Context, guild string) ([]*discordgo.Role, error) {
	var out []*discordgo.Role
	err := r.do(ctx, "list roles", bucketRoles(guild), func(opts ...discordgo.RequestOption) error {
		var err error
		out, err = r.s.GuildRoles(guild, opts...)
		return err
	})
	return out, err
}

func (r *rest) createRole(ctx context.Context, guild string, p *discordgo.RoleParams) (*discordgo.Role, error) {
	var out *discordgo.Role
	err := r.do(ctx, "create role", bucketRoles(guild), func(opts ...discordgo.RequestOption) error {
		var err error
		out, err = r.s.GuildRoleCreate(guild, p, opts...)
		return err
	})
	return out, err
}

func (r *rest) editRole(ctx context.Context, guild, role string, p *discordgo.RoleParams) error {
	return r.do(ctx, "edit role", bucketRole(guild), func(opts ...discordgo.RequestOption) error {
		_, err := r.s.GuildRoleEdit(guild, role, p, opts...)
		return err
	})
}

func (r *rest) grantRole(ctx context.Context, guild, user, role string) error {
	return r.do(ctx, "grant role", bucketMemberRole(guild), func(opts ...discordgo.RequestOption) error {
		return r.s.GuildMemberRoleAdd(guild, user, role, opts...)
	})
}

func (r *rest) overwriteCommands(ctx context.Context, app, guild string, cmds []*discordgo.ApplicationCommand) ([]*discordgo.ApplicationCommand, error) {
	endpoint := discordgo.EndpointApplicationGlobalCommands(app)
	if guild != "" {
		endpoint = discordgo.EndpointApplicationGuildCommands(app, guild)
	}
	var out []*discordgo.ApplicationCommand
	err := r.do(ctx, "register commands", endpoint, func(opts ...discordgo.RequestOption) error {
		var err error
		out, err = r.s.ApplicationCommandBulkOverwrite(app, guild, cmds, opts...)
		return err
	})
	return out, err
}

// Interaction answers go straight to the session's HTTP client: they are
// outside the global budget, and discordgo would keep a rate-limit bucket
// per interaction token forever.

// respond sends an interaction callback.
func (r *rest) respond(ctx context.Context, i *discordgo.Interaction, resp *discordgo.InteractionResponse) error {
	var files []*discordgo.File
	if resp.Data != nil {
		files = resp.Data.Files
	}
	return r.direct(ctx, "answer interaction", http.MethodPost, discordgo.EndpointInteractionResponse(i.ID, i.Token), resp, files)
}

// editOriginal edits an interaction's original answer. An edit sets the
// whole answer, so sending it again is harmless: after a transport error
// or a 5xx it is sent again, with a growing pause, until ctx ends — a
// player's deferred answer is not left at "thinking…" by one broken
// connection. A 4xx is final.
func (r *rest) editOriginal(ctx context.Context, i *discordgo.Interaction, e *discordgo.WebhookEdit) error {
	pause := editRetryFirst
	for {
		err := r.direct(ctx, "edit answer", http.MethodPatch, discordgo.EndpointWebhookMessage(i.AppID, i.Token, "@original"), e, e.Files)
		if err == nil || !retryableEdit(err) {
			return err
		}
		r.log.Debug("deferred answer not delivered: sending it again", "interaction", i.ID, "in", pause, "err", err)
		if sleep(ctx, pause) != nil {
			return err
		}
		pause = min(2*pause, editRetryMax)
	}
}

// retryableEdit reports whether an edit that failed with err may succeed
// if sent again: it got no answer, or a 5xx.
func retryableEdit(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500
	}
	return errors.Is(err, errTransport)
}

// The pauses between two attempts of an edit.
const (
	editRetryFirst = 100 * time.Millisecond
	editRetryMax   = 2 * time.Second
)

// errTransport marks a request that got no HTTP answer (a refused or
// broken connection, a timeout).
var errTransport = errors.New("no answer")

// direct makes one request with the session's client and token.
func (r *rest) direct(ctx context.Context, op, method, url string, body any, files []*discordgo.File) error {
	for attempt := 0; ; attempt++ {
		var (
			payload []byte
			ctype   = "application/json"
			err     error
		)
		if len(files) > 0 {
			for _, f := range files {
				if s, ok := f.Reader.(io.Seeker); ok {
					_, _ = s.Seek(0, io.SeekStart)
				}
			}
			ctype, payload, err = discordgo.MultipartBodyWithJSON(body, files)
		} else {
			payload, err = json.Marshal(body)
		}
		if err != nil {
			return fmt.Errorf("discord %s: encode: %w", op, err)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("discord %s: %w", op, err)
		}
		req.Header.Set("Authorization", r.s.Token)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("User-Agent", r.s.UserAgent)
		resp, err := r.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("discord %s: %w", op, err)
			}
			return fmt.Errorf("discord %s: %w: %w", op, errTransport, err)
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests && attempt < maxRateRetries:
			var tm discordgo.TooManyRequests
			_ = json.Unmarshal(data, &tm)
			if err := sleep(ctx, tm.RetryAfter+20*time.Millisecond); err != nil {
				return fmt.Errorf("discord %s: %w", op, err)
			}
			continue
		}
		e := &APIError{Op: op, Status: resp.StatusCode, Message: string(data)}
		var m discordgo.APIErrorMessage
		if json.Unmarshal(data, &m) == nil && (m.Code != 0 || m.Message != "") {
			e.Code, e.Message = m.Code, m.Message
		}
		return e
	}
}
