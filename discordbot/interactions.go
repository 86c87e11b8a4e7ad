package discordbot

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
)

// HTTP interactions: instead of (or beside) the gateway, Discord POSTs
// every interaction to the application's Interactions Endpoint URL, signed
// with the application's Ed25519 key, and takes the HTTP response as the
// interaction's initial response. The endpoint needs nothing of the
// gateway: any number of instances behind a load balancer can take
// interactions, each answering through the same handler as the gateway's.

// Limits of the interactions endpoint (InteractionsOptions' defaults).
const (
	// DefaultMaxInteractionBody is the largest request body read: an
	// interaction carries at most one message (2,000 characters of
	// content, 6,000 of embeds, its components) and the resolved users,
	// well under it even JSON-escaped. A larger body is refused unread.
	DefaultMaxInteractionBody = 256 << 10
	// DefaultMaxInteractionSkew is how far X-Signature-Timestamp may be
	// from this server's clock, either way: Discord signs each request as
	// it sends it, so an older timestamp is a replay (a replayed press
	// would count once anyway: its interaction id is the append's message
	// id).
	DefaultMaxInteractionSkew = 5 * time.Minute
)

// interactionWindow is how long Discord waits for the initial response;
// standInMargin is how long before its end the endpoint writes what it has
// (a stand-in deferral, or 503), so that the response still reaches
// Discord in time; lastMoment is the least it waits for the handler.
const (
	interactionWindow = 3 * time.Second
	standInMargin     = 500 * time.Millisecond
	lastMoment        = 250 * time.Millisecond
)

// InteractionsOptions configure the interactions endpoint. The zero value
// uses the defaults above.
type InteractionsOptions struct {
	MaxBody int64
	MaxSkew time.Duration
}

// ParsePublicKey parses an application's public key as the developer
// portal shows it (64 hex digits).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("public key: not hex: %w", err)
	}
	if len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %d bytes, want %d (64 hex digits)", len(k), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(k), nil
}

// InteractionsHandler returns the HTTP handler of the interactions
// endpoint (POST only). Every request's signature and timestamp are
// verified against key before anything of it is parsed: a missing or bad
// signature, a timestamp off by more than MaxSkew or a body over MaxBody
// is answered 401 and changes nothing. A PING is answered PONG; commands
// and buttons are handled as over the gateway, their initial response
// (the answer, or a deferral when it is not ready within the press
// budget, edited in later over REST) written as the HTTP response.
//
// The handler works whether or not Open was called or the gateway is
// connected; it stops taking interactions (503) once the bot is closing.
// It is safe for concurrent use.
func (b *Bot) InteractionsHandler(key ed25519.PublicKey, opts InteractionsOptions) (http.Handler, error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("discordbot: interactions: public key of %d bytes, want %d", len(key), ed25519.PublicKeySize)
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxInteractionBody
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = DefaultMaxInteractionSkew
	}
	return &interactions{b: b, key: key, opts: opts}, nil
}

type interactions struct {
	b    *Bot
	key  ed25519.PublicKey
	opts InteractionsOptions
}

// Reasons a request is refused before it is parsed.
var (
	errNoSignature = errors.New("missing or malformed X-Signature-Ed25519")
	errNoTimestamp = errors.New("missing or malformed X-Signature-Timestamp")
	errStale       = errors.New("timestamp too far from now")
	errTooLarge    = errors.New("body too large")
	errBadSig      = errors.New("signature does not match")
)

// verify reads r's body (at most maxBody bytes) and checks the signature
// of timestamp+body and the timestamp's distance to now. It returns the
// body and the signed timestamp only when all hold.
func (h *interactions) verify(r *http.Request, now time.Time) ([]byte, int64, error) {
	sig, err := hex.DecodeString(r.Header.Get("X-Signature-Ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, 0, errNoSignature
	}
	ts := r.Header.Get("X-Signature-Timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, 0, errNoTimestamp
	}
	if d := now.Sub(time.Unix(secs, 0)); d > h.opts.MaxSkew || d < -h.opts.MaxSkew {
		return nil, 0, errStale
	}
	if r.ContentLength > h.opts.MaxBody {
		return nil, 0, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.opts.MaxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > h.opts.MaxBody {
		return nil, 0, errTooLarge
	}
	if !ed25519.Verify(h.key, append([]byte(ts), body...), sig) {
		return nil, 0, errBadSig
	}
	return body, secs, nil
}

// sentBy is the latest instant a request signed at secs (whole seconds,
// as Discord signs) can have been sent, when that is before start (it
// waited in transit: a queue, a busy load balancer, a starved accept
// loop); zero otherwise. With the clocks in step (NTP), a request is at
// least start − sentBy old when it arrives.
func sentBy(secs int64, start time.Time) time.Time {
	if lag := start.Sub(time.Unix(secs+1, 0)); lag > 0 {
		return start.Add(-lag) // keeps start's monotonic reading
	}
	return time.Time{}
}

func (h *interactions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now() // the press's one time stamp
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "interactions are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, secs, err := h.verify(r, start)
	if err != nil {
		// Debug only: anyone can send these, and Discord sends some on
		// purpose when the endpoint URL is saved.
		h.b.log.Debug("interaction refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	ic, err := decodeInteraction(body)
	if err != nil {
		h.b.log.Warn("signed interaction not understood", "err", err)
		http.Error(w, "interaction not understood", http.StatusBadRequest)
		return
	}
	switch ic.Type {
	case discordgo.InteractionPing:
		writeInteractionResponse(w, &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong})
		return
	case discordgo.InteractionApplicationCommand, discordgo.InteractionMessageComponent:
	default:
		http.Error(w, fmt.Sprintf("interaction type %d is not used by this bot", ic.Type), http.StatusBadRequest)
		return
	}
	if !h.b.track() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	h.answer(w, r, ic, start, sentBy(secs, start))
}

// wireInteraction is what the bot reads of an interaction's JSON: the
// fields of discordgo.Interaction it uses, and its data as raw JSON. The
// rest — above all the pressed message, which Discord sends whole with
// every button press (content, embeds, components) — is skipped, not
// decoded; discordgo's own decoding also reads the body twice.
type wireInteraction struct {
	ID        string                    `json:"id"`
	AppID     string                    `json:"application_id"`
	Type      discordgo.InteractionType `json:"type"`
	Token     string                    `json:"token"`
	Version   int                       `json:"version"`
	GuildID   string                    `json:"guild_id"`
	ChannelID string                    `json:"channel_id"`
	Member    *discordgo.Member         `json:"member"`
	User      *discordgo.User           `json:"user"`
	Data      json.RawMessage           `json:"data"`
}

// decodeInteraction decodes what the bot uses of an interaction: the same
// discordgo.Interaction as discordgo's decoding gives, without the pressed
// message, the locales, the permissions of the app and the entitlements.
func decodeInteraction(body []byte) (*discordgo.Interaction, error) {
	var w wireInteraction
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	ic := &discordgo.Interaction{ID: w.ID, AppID: w.AppID, Type: w.Type, Token: w.Token, Version: w.Version,
		GuildID: w.GuildID, ChannelID: w.ChannelID, Member: w.Member, User: w.User}
	switch w.Type {
	case discordgo.InteractionApplicationCommand:
		var d discordgo.ApplicationCommandInteractionData
		if err := json.Unmarshal(w.Data, &d); err != nil {
			return nil, fmt.Errorf("command data: %w", err)
		}
		ic.Data = d
	case discordgo.InteractionMessageComponent:
		var d discordgo.MessageComponentInteractionData
		if err := json.Unmarshal(w.Data, &d); err != nil {
			return nil, fmt.Errorf("component data: %w", err)
		}
		ic.Data = d
	}
	return ic, nil
}

// answer runs the bot's handler on ic and writes its initial response,
// within Discord's window. The handler goes on after that (an answer
// deferred, then edited in over REST); Close waits for it. If the handler
// has written nothing when the window is about to close (the process is
// starved: its own deferral is late), the endpoint writes the deferral the
// handler registered (responder.standIn), so that a press being decided is
// never left without a response; only a handler that registered none is
// answered 503.
//
// sent, if not zero, is when the request was sent at the latest, before
// start: Discord's window, and so the budgets, count from it.
func (h *interactions) answer(w http.ResponseWriter, r *http.Request, ic *discordgo.Interaction, start, sent time.Time) {
	ha := &httpAnswer{resp: make(chan *discordgo.InteractionResponse), written: make(chan error, 1), gone: make(chan struct{})}
	defer close(ha.gone)
	respond := responder{send: ha.respond, standIn: ha.setStandIn, sent: sent}
	handled := make(chan struct{})
	go func() {
		defer h.b.inflight.Done()
		defer close(handled)
		h.b.handle(ic, start, respond)
	}()
	// A request that arrives with its window (nearly) gone still gets a
	// moment: its press is shed at once and answered so.
	window := time.NewTimer(max(interactionWindow-standInMargin-time.Since(respond.origin(start)), lastMoment))
	defer window.Stop()
	select {
	case resp := <-ha.resp:
		ha.written <- writeInteractionResponse(w, resp)
	case <-handled:
		h.b.log.Error("interaction handled without a response", "interaction", ic.ID, "type", ic.Type)
		http.Error(w, "no response", http.StatusInternalServerError)
	case <-window.C:
		if d := ha.takeStandIn(); d != nil {
			h.b.log.Warn("interaction deferred by the endpoint: its handler was late", "interaction", ic.ID, "after", time.Since(start))
			if err := writeInteractionResponse(w, d); err != nil {
				h.b.log.Warn("interaction deferral failed", "interaction", ic.ID, "err", err)
			}
			return
		}
		h.b.log.Warn("interaction not answered within Discord's window", "interaction", ic.ID, "after", time.Since(start))
		http.Error(w, "no response in time", http.StatusServiceUnavailable)
	case <-r.Context().Done():
	}
}

// httpAnswer hands an interaction's initial response from the bot's
// handler to the HTTP request waiting for it.
type httpAnswer struct {
	resp    chan *discordgo.InteractionResponse
	written chan error    // the result of writing it
	gone    chan struct{} // closed when the request has ended

	mu      sync.Mutex
	standIn *discordgo.InteractionResponse // the handler's deferral
	stood   bool                           // the endpoint wrote it
}

// errRequestGone means the HTTP request ended before the response came
// (Discord's window passed, or the client went away).
var errRequestGone = errors.New("the interaction's HTTP request has ended")

// respond is the responder of an HTTP interaction.
func (a *httpAnswer) respond(ctx context.Context, resp *discordgo.InteractionResponse) error {
	select {
	case a.resp <- resp:
		return <-a.written
	case <-a.gone:
		a.mu.Lock()
		stood := a.stood
		a.mu.Unlock()
		if stood {
			return errStoodIn
		}
		return errRequestGone
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setStandIn registers the deferral to write if the handler is late.
func (a *httpAnswer) setStandIn(d *discordgo.InteractionResponse) {
	a.mu.Lock()
	a.standIn = d
	a.mu.Unlock()
}

// takeStandIn returns the registered deferral (nil if none) and marks it
// written: respond then returns errStoodIn. Called before gone is closed.
func (a *httpAnswer) takeStandIn() *discordgo.InteractionResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stood = a.standIn != nil
	return a.standIn
}

// writeInteractionResponse writes resp as the HTTP response: JSON, or
// multipart/form-data (payload_json and the files) when it has files.
func writeInteractionResponse(w http.ResponseWriter, resp *discordgo.InteractionResponse) error {
	var (
		body  []byte
		ctype = "application/json"
		err   error
	)
	if resp.Data != nil && len(resp.Data.Files) > 0 {
		ctype, body, err = discordgo.MultipartBodyWithJSON(resp, resp.Data.Files)
	} else {
		body, err = json.Marshal(resp)
	}
	if err != nil {
		http.Error(w, "cannot encode the response", http.StatusInternalServerError)
		return fmt.Errorf("encode interaction response: %w", err)
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("write interaction response: %w", err)
	}
	return nil
}

// restAppID returns the application id without the gateway: a bot's user
// id is its application's id (as Open assumes when READY has no
// application).
func (b *Bot) restAppID(ctx context.Context) (string, error) {
	var u *discordgo.User
	err := b.rest.do(ctx, "get bot user", discordgo.EndpointUsers, func(opts ...discordgo.RequestOption) error {
		var err error
		u, err = b.s.User("@me", opts...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("discordbot: get the application id: %w", err)
	}
	if u == nil || u.ID == "" {
		return "", errors.New("discordbot: GET /users/@me carried no id")
	}
	return u.ID, nil
}
