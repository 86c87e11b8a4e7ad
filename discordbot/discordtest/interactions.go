package discordtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Interaction is an interaction the fake sent over the gateway, or to the
// interactions endpoint (SetInteractionsEndpoint), or one it adopted
// (AdoptInteractions).
type Interaction struct {
	ID, Token string
	// Type is 2 for a slash command, 3 for a component (button).
	Type                  int
	Guild, Channel, User  string
	CustomID, CommandName string
	// MessageID is the message the pressed component is on.
	MessageID string

	s      *Server
	sentAt atomic.Int64  // Unix ns of the first write of INTERACTION_CREATE
	done   chan struct{} // closed once the final answer is in
	// guarded by s.mu
	delivered int
	responses []Response
	closed    bool
}

func (i *Interaction) sent() time.Time { return time.Unix(0, i.sentAt.Load()) }

// noteLocked closes done once the interaction has its final answer.
// Caller holds s.mu.
func (i *Interaction) noteLocked() {
	if _, ok := i.answerLocked(); ok && !i.closed {
		i.closed = true
		close(i.done)
	}
}

// Response is one answer the bot gave to an interaction: a callback, an
// edit of the original response, or a followup message.
type Response struct {
	// Kind is "callback", "original" or "followup".
	Kind string
	// Type is the callback type (4 message, 5 deferred message, 6 deferred
	// update, 7 update); 0 for edits and followups.
	Type int
	// MessageID is the id the fake gave the response message.
	MessageID string
	Content   string
	Embeds    []*discordgo.MessageEmbed
	// Components is the raw JSON of the component rows.
	Components json.RawMessage
	Flags      int
	Files      []File
	At         time.Time
	Status     int
}

// Ephemeral reports whether the response is visible to the presser only.
func (r Response) Ephemeral() bool { return r.Flags&int(discordgo.MessageFlagsEphemeral) != 0 }

// Buttons returns the response's buttons.
func (r Response) Buttons() []Button {
	m := Message{Components: r.Components}
	return m.Buttons()
}

// Text returns the content and every embed's text.
func (r Response) Text() string {
	m := Message{Content: r.Content, Embeds: r.Embeds}
	return m.Text()
}

// Answer is what the user finally sees of an interaction.
type Answer struct {
	Response
	// Deferred is true when the bot answered with a deferred callback and
	// the content came in a later edit.
	Deferred bool
	// Latency is the time from sending INTERACTION_CREATE to receiving the
	// first callback.
	Latency time.Duration
	// CallbackType is the type of the first callback.
	CallbackType int
}

// ErrNoAnswer means an interaction got no (final) answer.
var ErrNoAnswer = errors.New("discordtest: interaction not answered")

// answerLocked returns the final answer, if there is one. Caller holds s.mu.
func (i *Interaction) answerLocked() (Answer, bool) {
	if len(i.responses) == 0 || i.responses[0].Kind != "callback" || i.responses[0].Status != http.StatusNoContent {
		return Answer{}, false
	}
	first := i.responses[0]
	a := Answer{Latency: first.At.Sub(i.sent()), CallbackType: first.Type}
	switch first.Type {
	case 4, 7:
		a.Response = first
		return a, true
	case 5, 6:
		for _, r := range i.responses[1:] {
			if r.Kind == "original" && r.Status == http.StatusOK {
				a.Response = r
				a.Deferred = true
				a.Flags = first.Flags
				return a, true
			}
		}
	}
	return Answer{}, false
}

// Wait blocks until the interaction has its final answer or ctx ends.
func (i *Interaction) Wait(ctx context.Context) (Answer, error) {
	select {
	case <-i.done:
	case <-ctx.Done():
		return Answer{}, fmt.Errorf("%w: %s %s: %v", ErrNoAnswer, i.ID, i.CustomID+i.CommandName, ctx.Err())
	}
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	a, _ := i.answerLocked()
	return a, nil
}

// Responses returns every response so far.
func (i *Interaction) Responses() []Response {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return append([]Response(nil), i.responses...)
}

// SentAt is when INTERACTION_CREATE was written to the gateway.
func (i *Interaction) SentAt() time.Time { return i.sent() }

// Delivered is the number of gateway sessions the interaction was sent to.
func (i *Interaction) Delivered() int {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return i.delivered
}

// Option is a slash command option as the user filled it in. A user
// option (Type 6) takes the user id as Value and is resolved like Discord
// does.
type Option struct {
	Name    string
	Type    discordgo.ApplicationCommandOptionType
	Value   any
	Options []Option
}

func optionJSON(opts []Option) []map[string]any {
	out := []map[string]any{}
	for _, o := range opts {
		m := map[string]any{"name": o.Name, "type": o.Type}
		if o.Value != nil {
			m["value"] = o.Value
		}
		if len(o.Options) > 0 {
			m["options"] = optionJSON(o.Options)
		}
		out = append(out, m)
	}
	return out
}

func collectUsers(opts []Option, into map[string]bool) {
	for _, o := range opts {
		if o.Type == discordgo.ApplicationCommandOptionUser {
			if id, ok := o.Value.(string); ok {
				into[id] = true
			}
		}
		collectUsers(o.Options, into)
	}
}

// Press sends a button press: a component interaction with customID on
// message (which may be a message the fake does not know, such as an
// ephemeral response) by user in a channel of a guild.
func (s *Server) Press(guild, channel, user, customID, message string) *Interaction {
	i := &Interaction{Type: 3, Guild: guild, Channel: channel, User: user, CustomID: customID, MessageID: message}
	s.sendInteraction(i, func(base map[string]any) {
		base["data"] = map[string]any{"custom_id": customID, "component_type": 2}
		base["message"] = s.pressedMessage(message, channel)
	})
	return i
}

// pressedMessage returns the JSON of the message a component is on, from
// a cache per message version (interactions carry the whole message).
func (s *Server) pressedMessage(id, channel string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.messages[id]
	if m == nil {
		raw, _ := json.Marshal(map[string]any{"id": id, "channel_id": channel, "type": 0, "content": "",
			"author": s.botUser(), "embeds": []any{}, "components": []any{}, "attachments": []any{},
			"timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
		return raw
	}
	if c, ok := s.msgCache[id]; ok && c.edits == m.Edits && c.deleted == m.Deleted {
		return c.raw
	}
	raw, _ := json.Marshal(s.messageJSON(m))
	if s.msgCache == nil {
		s.msgCache = make(map[string]cachedMessage)
	}
	s.msgCache[id] = cachedMessage{edits: m.Edits, deleted: m.Deleted, raw: raw}
	return raw
}

type cachedMessage struct {
	edits   int
	deleted bool
	raw     json.RawMessage
}

// Slash sends a slash command interaction.
func (s *Server) Slash(guild, channel, user, name string, opts ...Option) *Interaction {
	i := &Interaction{Type: 2, Guild: guild, Channel: channel, User: user, CommandName: name}
	s.sendInteraction(i, func(base map[string]any) {
		data := map[string]any{"id": s.NewID(), "name": name, "type": 1, "options": optionJSON(opts)}
		users := map[string]bool{}
		collectUsers(opts, users)
		if len(users) > 0 {
			ru, rm := map[string]any{}, map[string]any{}
			s.mu.Lock()
			for id := range users {
				name := "user" + id[len(id)-4:]
				if g := s.guilds[guild]; g != nil && g.Members[id] != nil {
					mj := memberJSON(g.Members[id])
					name = g.Members[id].Name
					delete(mj, "user")
					rm[id] = mj
				}
				ru[id] = map[string]any{"id": id, "username": name, "global_name": name, "discriminator": "0"}
			}
			s.mu.Unlock()
			data["resolved"] = map[string]any{"users": ru, "members": rm}
		}
		base["data"] = data
	})
	return i
}

// sendInteraction registers i and sends INTERACTION_CREATE.
func (s *Server) sendInteraction(i *Interaction, fill func(map[string]any)) {
	i.s = s
	i.done = make(chan struct{})
	i.ID = s.NewID()
	i.Token = "tok-" + i.ID
	s.mu.Lock()
	member := &Member{UserID: i.User, Name: "user" + i.User[max(0, len(i.User)-4):]}
	if g := s.guilds[i.Guild]; g != nil && g.Members[i.User] != nil {
		member = g.Members[i.User]
	}
	mj := memberJSON(member)
	s.interactions[i.ID] = i
	s.byToken[i.Token] = i
	s.mu.Unlock()
	base := map[string]any{
		"id": i.ID, "application_id": s.AppID, "type": i.Type, "token": i.Token, "version": 1,
		"guild_id": i.Guild, "channel_id": i.Channel, "member": mj,
		"app_permissions": fmt.Sprint(int64(discordgo.PermissionAll)), "locale": "en-US", "guild_locale": "en-US",
	}
	fill(base)
	raw, _ := json.Marshal(base)
	if s.post(i, raw) {
		return
	}
	n := s.dispatch("INTERACTION_CREATE", i.Guild, 0, func(*gwConn) any { return json.RawMessage(raw) }, func() {
		i.sentAt.CompareAndSwap(0, s.now().UnixNano())
	})
	s.mu.Lock()
	i.delivered = n
	s.mu.Unlock()
}

// Say posts a message by user in a channel and sends MESSAGE_CREATE to the
// sessions with the Guild Messages intent; the content is only included
// for sessions with the Message Content intent, as on Discord.
func (s *Server) Say(guild, channel, user, content string) Message {
	s.mu.Lock()
	m := &Message{ID: s.NewID(), ChannelID: channel, GuildID: guild, AuthorID: user, Content: content, CreatedAt: time.Now()}
	s.messages[m.ID] = m
	name := "user"
	var member map[string]any
	if g := s.guilds[guild]; g != nil && g.Members[user] != nil {
		name = g.Members[user].Name
		member = memberJSON(g.Members[user])
		delete(member, "user")
	}
	full := s.messageJSON(m)
	full["author"] = map[string]any{"id": user, "username": name, "global_name": name, "discriminator": "0"}
	if member != nil {
		full["member"] = member
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.dispatch("MESSAGE_CREATE", guild, discordgo.IntentsGuildMessages, func(c *gwConn) any {
		if c.intents&discordgo.IntentsMessageContent != 0 {
			return full
		}
		redacted := make(map[string]any, len(full))
		for k, v := range full {
			redacted[k] = v
		}
		redacted["content"] = ""
		return redacted
	}, nil)
	return m.copy()
}

// interactionResponse is the callback body.
type interactionResponse struct {
	Type int        `json:"type"`
	Data msgPayload `json:"data"`
}

func (s *Server) callback(c *Call) (int, any) {
	i := s.interactions[c.Vars["interaction"]]
	if i == nil || i.Token != c.Vars["token"] || i.sentAt.Load() == 0 || c.At.Sub(i.sent()) > s.opts.InteractionTimeout {
		return notFound(discordgo.ErrCodeUnknownInteraction, "interaction")
	}
	for _, r := range i.responses {
		if r.Kind == "callback" && r.Status == http.StatusNoContent {
			return http.StatusBadRequest, apiError{Code: 40060, Message: "Interaction has already been acknowledged."}
		}
	}
	var body interactionResponse
	if err := json.Unmarshal(c.Body, &body); err != nil {
		return invalid("interaction response: %v", err)
	}
	r := Response{Kind: "callback", Type: body.Type, At: c.At, Files: c.Files}
	switch body.Type {
	case 1, 4, 5, 6, 7:
	default:
		return invalid("type %d", body.Type)
	}
	if body.Type == 4 || body.Type == 7 || body.Type == 5 {
		m := &Message{ID: s.NewID()}
		if err := m.apply(body.Data, c.Files, true); err != nil {
			return invalid("%v", err)
		}
		r.MessageID, r.Content, r.Embeds, r.Components, r.Flags = m.ID, m.Content, m.Embeds, m.Components, m.Flags
		if body.Type == 4 && r.Content == "" && len(r.Embeds) == 0 && len(c.Files) == 0 {
			return http.StatusBadRequest, apiError{Code: 50006, Message: "Cannot send an empty message"}
		}
	}
	if body.Type == 7 {
		if m := s.messages[i.MessageID]; m != nil {
			_ = m.apply(body.Data, c.Files, false)
			m.Edits++
			m.EditedAt = c.At
		}
	}
	r.Status = http.StatusNoContent
	i.responses = append(i.responses, r)
	i.noteLocked()
	return http.StatusNoContent, nil
}

// AdoptInteractions makes the fake take webhook calls (edits of the
// original response, followups) for interactions it did not send: those a
// caller delivers to the bot itself, such as a benchmark posting its own
// signed requests to the interactions endpoint, and whose initial response
// the caller reads. known says whether a token is one of the caller's and
// gives its interaction id; it is called with the fake's lock held (it
// must not call the fake) and only for tokens the fake does not know. The
// first webhook call with such a token registers its interaction as
// deferred (callback type 5, no flags) at that moment, without guild,
// channel or user; the call and later ones are then served and recorded as
// for an interaction the fake sent, and Interaction returns it. nil stops
// adopting (interactions already adopted stay).
func (s *Server) AdoptInteractions(known func(token string) (id string, ok bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adopt = known
}

// Interaction returns the interaction with id, sent by the fake or adopted
// (AdoptInteractions); nil if there is none.
func (s *Server) Interaction(id string) *Interaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interactions[id]
}

// Answer returns the interaction's final answer and true if it is in,
// without waiting (Wait waits for it).
func (i *Interaction) Answer() (Answer, bool) {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return i.answerLocked()
}

// adoptLocked registers the interaction of an unknown webhook token that
// the caller of AdoptInteractions knows, as deferred at c.At. Caller holds
// s.mu.
func (s *Server) adoptLocked(c *Call) *Interaction {
	token := c.Vars["token"]
	if s.adopt == nil {
		return nil
	}
	id, ok := s.adopt(token)
	if !ok || s.interactions[id] != nil {
		return nil
	}
	i := &Interaction{ID: id, Token: token, s: s, done: make(chan struct{}),
		responses: []Response{{Kind: "callback", Type: 5, MessageID: s.NewID(), At: c.At, Status: http.StatusNoContent}}}
	i.sentAt.Store(c.At.UnixNano())
	s.interactions[id] = i
	s.byToken[token] = i
	return i
}

// byWebhook returns the interaction of a webhook token, if it may still be
// followed up (15 minutes).
func (s *Server) byWebhook(c *Call) (*Interaction, int, any) {
	i := s.byToken[c.Vars["token"]]
	if i == nil {
		i = s.adoptLocked(c)
	}
	if i == nil || c.Vars["app"] != s.AppID || c.At.Sub(i.sent()) > 15*time.Minute {
		st, b := notFound(discordgo.ErrCodeUnknownWebhook, "Webhook")
		return nil, st, b
	}
	if len(i.responses) == 0 {
		st, b := notFound(discordgo.ErrCodeUnknownMessage, "Message")
		return nil, st, b
	}
	return i, 0, nil
}

func (s *Server) editOriginal(c *Call) (int, any) {
	i, st, b := s.byWebhook(c)
	if i == nil {
		return st, b
	}
	var p msgPayload
	if err := json.Unmarshal(c.Body, &p); err != nil {
		return invalid("message: %v", err)
	}
	// The original message: the last version of it, edited.
	m := &Message{ID: i.responses[0].MessageID, ChannelID: i.Channel, AuthorID: s.BotID, CreatedAt: i.responses[0].At}
	for _, r := range i.responses {
		if r.Kind == "callback" || r.Kind == "original" {
			m.Content, m.Embeds, m.Components, m.Flags = r.Content, r.Embeds, r.Components, r.Flags
		}
	}
	if err := m.apply(p, c.Files, false); err != nil {
		return invalid("%v", err)
	}
	i.responses = append(i.responses, Response{Kind: "original", MessageID: m.ID, Content: m.Content, Embeds: m.Embeds,
		Components: m.Components, Flags: i.responses[0].Flags, Files: c.Files, At: c.At, Status: http.StatusOK})
	i.noteLocked()
	if i.responses[0].Type == 6 {
		if target := s.messages[i.MessageID]; target != nil {
			_ = target.apply(p, c.Files, false)
			target.Edits++
			target.EditedAt = c.At
		}
	}
	return http.StatusOK, s.messageJSON(m)
}

func (s *Server) getOriginal(c *Call) (int, any) {
	i, st, b := s.byWebhook(c)
	if i == nil {
		return st, b
	}
	last := i.responses[len(i.responses)-1]
	return http.StatusOK, s.messageJSON(&Message{ID: last.MessageID, ChannelID: i.Channel, AuthorID: s.BotID,
		Content: last.Content, Embeds: last.Embeds, Components: last.Components, Flags: last.Flags, CreatedAt: last.At})
}

func (s *Server) followup(c *Call) (int, any) {
	i, st, b := s.byWebhook(c)
	if i == nil {
		return st, b
	}
	var p msgPayload
	if err := json.Unmarshal(c.Body, &p); err != nil {
		return invalid("message: %v", err)
	}
	m := &Message{ID: s.NewID(), ChannelID: i.Channel, AuthorID: s.BotID, CreatedAt: c.At}
	if err := m.apply(p, c.Files, true); err != nil {
		return invalid("%v", err)
	}
	i.responses = append(i.responses, Response{Kind: "followup", MessageID: m.ID, Content: m.Content, Embeds: m.Embeds,
		Components: m.Components, Flags: m.Flags, Files: c.Files, At: c.At, Status: http.StatusOK})
	return http.StatusOK, s.messageJSON(m)
}
