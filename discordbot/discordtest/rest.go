package discordtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
)

// handlerFunc serves one route: it returns the status and the JSON body
// (nil for none). Path variables are in c.Vars. It runs with s.mu held.
type handlerFunc func(c *Call) (int, any)

// route describes how a pattern is limited.
type route struct {
	pattern string // without the /api/{version} prefix
	major   string // path variable naming the bucket's major parameter
	global  bool   // counts against the global limit
	h       handlerFunc
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/gateway", s.serveGateway)
	mux.HandleFunc("/gateway/", s.serveGateway)
	rs := []route{
		{"GET /gateway", "", false, s.getGateway},
		{"GET /gateway/bot", "", false, s.getGatewayBot},
		{"GET /users/@me", "", true, s.getMe},
		{"PUT /applications/{app}/commands", "app", true, s.putCommands},
		{"PUT /applications/{app}/guilds/{guild}/commands", "guild", true, s.putCommands},
		{"DELETE /applications/{app}/commands/{command}", "app", true, s.deleteCommand},
		{"DELETE /applications/{app}/guilds/{guild}/commands/{command}", "guild", true, s.deleteCommand},
		{"POST /interactions/{interaction}/{token}/callback", "interaction", false, s.callback},
		{"PATCH /webhooks/{app}/{token}/messages/@original", "token", false, s.editOriginal},
		{"GET /webhooks/{app}/{token}/messages/@original", "token", false, s.getOriginal},
		{"POST /webhooks/{app}/{token}", "token", false, s.followup},
		{"GET /channels/{channel}", "channel", true, s.getChannel},
		{"POST /channels/{channel}/messages", "channel", true, s.createMessage},
		{"GET /channels/{channel}/messages/{message}", "channel", true, s.getMessage},
		{"PATCH /channels/{channel}/messages/{message}", "channel", true, s.editMessage},
		{"DELETE /channels/{channel}/messages/{message}", "channel", true, s.deleteMessage},
		{"PUT /channels/{channel}/messages/{message}/reactions/{emoji}/@me", "channel", true, s.addReaction},
		{"DELETE /channels/{channel}/messages/{message}/reactions/{emoji}/@me", "channel", true, s.removeReaction},
		{"GET /guilds/{guild}", "guild", true, s.getGuild},
		{"GET /guilds/{guild}/roles", "guild", true, s.getRoles},
		{"POST /guilds/{guild}/roles", "guild", true, s.createRole},
		{"PATCH /guilds/{guild}/roles/{role}", "guild", true, s.editRole},
		{"GET /guilds/{guild}/members/{user}", "guild", true, s.getMember},
		{"PUT /guilds/{guild}/members/{user}/roles/{role}", "guild", true, s.addMemberRole},
	}
	for _, r := range rs {
		method, path, _ := strings.Cut(r.pattern, " ")
		mux.Handle(method+" /api/{version}"+path, s.wrap(r))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		c := Call{Method: req.Method, Path: req.URL.Path, At: time.Now(), Status: http.StatusNotFound}
		c.Body, c.Files, _ = readBody(req)
		s.mu.Lock()
		s.calls = append(s.calls, c)
		s.notifyLocked()
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, apiError{Code: 0, Message: "404: Not Found"})
	})
	return mux
}

// varNames lists the path variables of a pattern.
func varNames(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

func (s *Server) wrap(r route) http.Handler {
	names := varNames(r.pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := s.now()
		c := &Call{Method: req.Method, Route: r.pattern, Vars: make(map[string]string), At: now,
			AuditReason: req.Header.Get("X-Audit-Log-Reason"), auth: req.Header.Get("Authorization")}
		c.Path = strings.TrimPrefix(req.URL.Path, "/api/"+req.PathValue("version"))
		for _, n := range names {
			c.Vars[n] = req.PathValue(n)
		}
		body, files, err := readBody(req)
		c.Body, c.Files = body, files

		s.mu.Lock()
		status, resp := s.serve(w.Header(), r, c, now, err)
		c.Status = status
		if e, ok := resp.(apiError); ok {
			c.Code = e.Code
		}
		s.calls = append(s.calls, *c)
		s.notifyLocked()
		s.mu.Unlock()

		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, resp)
	})
}

// serve applies authentication, injected failures and rate limits, then
// the route's handler. Caller holds s.mu.
func (s *Server) serve(h http.Header, r route, c *Call, now time.Time, bodyErr error) (int, any) {
	// Interaction routes authenticate with their token, the others with
	// the bot's.
	if s.opts.Token != "" && r.global && c.auth != "Bot "+s.opts.Token {
		return http.StatusUnauthorized, apiError{Code: 0, Message: "401: Unauthorized"}
	}
	if bodyErr != nil {
		return http.StatusBadRequest, apiError{Code: 50109, Message: "The request body contains invalid JSON: " + bodyErr.Error()}
	}
	if r.global {
		c.Global = true
		if ok, wait := s.global.take(now); !ok {
			h.Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
			h.Set("X-RateLimit-Global", "true")
			h.Set("X-RateLimit-Scope", "global")
			return http.StatusTooManyRequests, tooMany{Message: "You are being rate limited.", RetryAfter: wait.Seconds(), Global: true}
		}
	}
	if r.major != "" || r.global {
		b := s.bucketFor(r.pattern, c.Vars[r.major])
		c.Bucket = b.hash
		ok, wait := b.take(now)
		b.headers(h, now)
		if !ok {
			h.Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
			h.Set("X-RateLimit-Scope", "user")
			return http.StatusTooManyRequests, tooMany{Message: "You are being rate limited.", RetryAfter: wait.Seconds()}
		}
	}
	if f := s.failureFor(c); f != nil {
		return f.Status, apiError{Code: f.Code, Message: f.Message}
	}
	return r.h(c)
}

// readBody returns the JSON body, or the payload_json part and the files
// of a multipart body.
func readBody(req *http.Request) (json.RawMessage, []File, error) {
	if req.Body == nil {
		return nil, nil, nil
	}
	return parseBody(req.Header.Get("Content-Type"), req.Body)
}

// parseBody reads a JSON or multipart body of the given content type.
func parseBody(contentType string, r io.Reader) (json.RawMessage, []File, error) {
	ct, params, _ := mime.ParseMediaType(contentType)
	if ct != "multipart/form-data" {
		b, err := io.ReadAll(r)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			return nil, nil, err
		}
		if !json.Valid(b) {
			return b, nil, errors.New("not JSON")
		}
		return b, nil, nil
	}
	mr := multipart.NewReader(r, params["boundary"])
	var body json.RawMessage
	var files []File
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, err
		}
		if p.FormName() == "payload_json" {
			if !json.Valid(data) {
				return data, nil, errors.New("payload_json is not JSON")
			}
			body = data
			continue
		}
		files = append(files, File{Field: p.FormName(), Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Data: data})
	}
	return body, files, nil
}

func notFound(code int, what string) (int, any) {
	return http.StatusNotFound, apiError{Code: code, Message: "Unknown " + what}
}

func forbidden() (int, any) {
	return http.StatusForbidden, apiError{Code: discordgo.ErrCodeMissingPermissions, Message: "Missing Permissions"}
}

func invalid(format string, args ...any) (int, any) {
	return http.StatusBadRequest, apiError{Code: 50035, Message: "Invalid Form Body: " + fmt.Sprintf(format, args...)}
}

func (s *Server) getGateway(c *Call) (int, any) {
	return http.StatusOK, map[string]any{"url": s.wsURL}
}

// getGatewayBot answers the gateway URL, the recommended shard count and
// the session start limit (Options.Shards, Options.MaxConcurrency).
func (s *Server) getGatewayBot(c *Call) (int, any) {
	return http.StatusOK, map[string]any{"url": s.wsURL, "shards": max(s.opts.Shards, 1),
		"session_start_limit": map[string]int{"total": 1000, "remaining": 999, "reset_after": 0,
			"max_concurrency": max(s.opts.MaxConcurrency, 1)}}
}

func (s *Server) botUser() map[string]any {
	return map[string]any{"id": s.BotID, "username": s.BotName, "discriminator": "0", "bot": true}
}

func (s *Server) getMe(c *Call) (int, any) { return http.StatusOK, s.botUser() }

// commandPayload is the part of a command the fake checks.
type commandPayload struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Type        int               `json:"type"`
	Options     []json.RawMessage `json:"options"`
}

func (s *Server) putCommands(c *Call) (int, any) {
	var list []discordgo.ApplicationCommand
	if err := json.Unmarshal(c.Body, &list); err != nil {
		return invalid("commands: %v", err)
	}
	var raw []commandPayload
	_ = json.Unmarshal(c.Body, &raw)
	if len(list) > 100 {
		return invalid("more than 100 commands")
	}
	seen := map[string]bool{}
	for i, cmd := range raw {
		if n := utf8.RuneCountInString(cmd.Name); n < 1 || n > 32 || strings.ToLower(cmd.Name) != cmd.Name {
			return invalid("%d.name %q", i, cmd.Name)
		}
		if seen[cmd.Name] {
			return invalid("duplicate command name %q", cmd.Name)
		}
		seen[cmd.Name] = true
		if n := utf8.RuneCountInString(cmd.Description); (cmd.Type == 0 || cmd.Type == 1) && (n < 1 || n > 100) {
			return invalid("%d.description has %d characters", i, n)
		}
		if len(cmd.Options) > 25 {
			return invalid("%d.options: more than 25", i)
		}
	}
	scope := c.Vars["guild"]
	for i := range list {
		list[i].ID = s.NewID()
		list[i].ApplicationID = s.AppID
		list[i].GuildID = scope
		list[i].Version = s.NewID()
	}
	s.commands[scope] = list
	return http.StatusOK, list
}

func (s *Server) deleteCommand(c *Call) (int, any) { return http.StatusNoContent, nil }

func (s *Server) channelJSON(ch *Channel) map[string]any {
	return map[string]any{"id": ch.ID, "guild_id": ch.GuildID, "name": ch.Name, "type": 0}
}

func (s *Server) getChannel(c *Call) (int, any) {
	ch := s.channels[c.Vars["channel"]]
	if ch == nil || ch.Deleted {
		return notFound(discordgo.ErrCodeUnknownChannel, "Channel")
	}
	return http.StatusOK, s.channelJSON(ch)
}

// channel returns the channel a message call targets, or the error answer.
func (s *Server) channel(c *Call) (*Channel, int, any) {
	ch := s.channels[c.Vars["channel"]]
	if ch == nil || ch.Deleted {
		st, body := notFound(discordgo.ErrCodeUnknownChannel, "Channel")
		return nil, st, body
	}
	if ch.Deny {
		st, body := forbidden()
		return nil, st, body
	}
	return ch, 0, nil
}

func (s *Server) createMessage(c *Call) (int, any) {
	ch, st, body := s.channel(c)
	if ch == nil {
		return st, body
	}
	var p msgPayload
	if err := json.Unmarshal(c.Body, &p); err != nil {
		return invalid("message: %v", err)
	}
	m := &Message{ID: s.NewID(), ChannelID: ch.ID, GuildID: ch.GuildID, AuthorID: s.BotID, CreatedAt: c.At}
	if err := m.apply(p, c.Files, true); err != nil {
		return invalid("%v", err)
	}
	if m.Content == "" && len(m.Embeds) == 0 && len(m.Attachments) == 0 && len(m.components()) == 0 {
		return http.StatusBadRequest, apiError{Code: 50006, Message: "Cannot send an empty message"}
	}
	s.messages[m.ID] = m
	return http.StatusOK, s.messageJSON(m)
}

// message returns the message a call targets, or the error answer.
func (s *Server) message(c *Call) (*Message, int, any) {
	ch, st, body := s.channel(c)
	if ch == nil {
		return nil, st, body
	}
	m := s.messages[c.Vars["message"]]
	if m == nil || m.Deleted || m.ChannelID != ch.ID {
		st, body := notFound(discordgo.ErrCodeUnknownMessage, "Message")
		return nil, st, body
	}
	return m, 0, nil
}

func (s *Server) getMessage(c *Call) (int, any) {
	m, st, body := s.message(c)
	if m == nil {
		return st, body
	}
	return http.StatusOK, s.messageJSON(m)
}

func (s *Server) editMessage(c *Call) (int, any) {
	m, st, body := s.message(c)
	if m == nil {
		return st, body
	}
	if m.AuthorID != s.BotID {
		return http.StatusForbidden, apiError{Code: 50005, Message: "Cannot edit a message authored by another user"}
	}
	var p msgPayload
	if err := json.Unmarshal(c.Body, &p); err != nil {
		return invalid("message: %v", err)
	}
	next := *m
	next.Embeds = append([]*discordgo.MessageEmbed(nil), m.Embeds...)
	next.Attachments = append([]Attachment(nil), m.Attachments...)
	if err := next.apply(p, c.Files, false); err != nil {
		return invalid("%v", err)
	}
	next.Edits++
	next.EditedAt = c.At
	*m = next
	return http.StatusOK, s.messageJSON(m)
}

func (s *Server) deleteMessage(c *Call) (int, any) {
	m, st, body := s.message(c)
	if m == nil {
		return st, body
	}
	m.Deleted = true
	return http.StatusNoContent, nil
}

func (s *Server) addReaction(c *Call) (int, any) {
	m, st, body := s.message(c)
	if m == nil {
		return st, body
	}
	e := c.Vars["emoji"]
	for _, r := range m.Reactions {
		if r == e {
			return http.StatusNoContent, nil
		}
	}
	m.Reactions = append(m.Reactions, e)
	m.ReactionsEver = append(m.ReactionsEver, e)
	return http.StatusNoContent, nil
}

func (s *Server) removeReaction(c *Call) (int, any) {
	m, st, body := s.message(c)
	if m == nil {
		return st, body
	}
	e := c.Vars["emoji"]
	for i, r := range m.Reactions {
		if r == e {
			m.Reactions = append(m.Reactions[:i], m.Reactions[i+1:]...)
			break
		}
	}
	return http.StatusNoContent, nil
}

func roleJSON(r *Role) map[string]any {
	return map[string]any{"id": r.ID, "name": r.Name, "color": r.Color, "position": r.Position,
		"managed": r.Managed, "hoist": false, "mentionable": false, "permissions": "0"}
}

func (s *Server) guildJSON(g *Guild) map[string]any {
	var roles []map[string]any
	for _, r := range g.Roles {
		roles = append(roles, roleJSON(r))
	}
	var channels []map[string]any
	for _, id := range g.Channels {
		if ch := s.channels[id]; ch != nil && !ch.Deleted {
			channels = append(channels, s.channelJSON(ch))
		}
	}
	return map[string]any{"id": g.ID, "name": g.Name, "owner_id": g.OwnerID, "roles": roles,
		"channels": channels, "unavailable": false, "member_count": len(g.Members)}
}

func (s *Server) getGuild(c *Call) (int, any) {
	g := s.guilds[c.Vars["guild"]]
	if g == nil {
		return notFound(discordgo.ErrCodeUnknownGuild, "Guild")
	}
	return http.StatusOK, s.guildJSON(g)
}

func (s *Server) getRoles(c *Call) (int, any) {
	g := s.guilds[c.Vars["guild"]]
	if g == nil {
		return notFound(discordgo.ErrCodeUnknownGuild, "Guild")
	}
	out := []map[string]any{}
	for _, r := range g.Roles {
		out = append(out, roleJSON(r))
	}
	return http.StatusOK, out
}

type rolePayload struct {
	Name  *string `json:"name"`
	Color *int    `json:"color"`
}

func (s *Server) createRole(c *Call) (int, any) {
	g := s.guilds[c.Vars["guild"]]
	if g == nil {
		return notFound(discordgo.ErrCodeUnknownGuild, "Guild")
	}
	if g.NoManageRoles {
		return forbidden()
	}
	var p rolePayload
	if len(c.Body) > 0 {
		if err := json.Unmarshal(c.Body, &p); err != nil {
			return invalid("role: %v", err)
		}
	}
	r := &Role{ID: s.NewID(), Name: "new role", Position: 1}
	if p.Name != nil {
		r.Name = *p.Name
	}
	if p.Color != nil {
		r.Color = *p.Color
	}
	for _, o := range g.Roles {
		if o.Position >= 1 {
			o.Position++
		}
	}
	g.Roles[r.ID] = r
	return http.StatusOK, roleJSON(r)
}

// canManage reports whether the bot may edit or grant role r in g.
func canManage(g *Guild, r *Role) bool {
	bot := g.Roles[g.BotRole]
	return !g.NoManageRoles && bot != nil && r.Position < bot.Position && !r.Managed
}

func (s *Server) editRole(c *Call) (int, any) {
	g := s.guilds[c.Vars["guild"]]
	if g == nil {
		return notFound(discordgo.ErrCodeUnknownGuild, "Guild")
	}
	r := g.Roles[c.Vars["role"]]
	if r == nil {
		return notFound(discordgo.ErrCodeUnknownRole, "Role")
	}
	if !canManage(g, r) {
		return forbidden()
	}
	var p rolePayload
	if err := json.Unmarshal(c.Body, &p); err != nil {
		return invalid("role: %v", err)
	}
	if p.Name != nil {
		r.Name = *p.Name
	}
	if p.Color != nil {
		r.Color = *p.Color
	}
	return http.StatusOK, roleJSON(r)
}

func memberJSON(m *Member) map[string]any {
	roles := append([]string{}, m.Roles...)
	return map[string]any{
		"user":        map[string]any{"id": m.UserID, "username": m.Name, "global_name": m.Name, "bot": m.Bot},
		"roles":       roles,
		"joined_at":   "2024-01-01T00:00:00+00:00",
		"permissions": fmt.Sprint(m.Permissions),
		"deaf":        false, "mute": false,
	}
}

func (s *Server) getMember(c *Call) (int, any) {
	g := s.guilds[c.Vars["guild"]]
	if g == nil {
		return notFound(discordgo.ErrCodeUnknownGuild, "Guild")
	}
	m := g.Members[c.Vars["user"]]
	if m == nil {
		return notFound(discordgo.ErrCodeUnknownMember, "Member")
	}
	return http.StatusOK, memberJSON(m)
}

func (s *Server) addMemberRole(c *Call) (int, any) {
	g := s.guilds[c.Vars["guild"]]
	if g == nil {
		return notFound(discordgo.ErrCodeUnknownGuild, "Guild")
	}
	m := g.Members[c.Vars["user"]]
	if m == nil {
		return notFound(discordgo.ErrCodeUnknownMember, "Member")
	}
	r := g.Roles[c.Vars["role"]]
	if r == nil {
		return notFound(discordgo.ErrCodeUnknownRole, "Role")
	}
	if !canManage(g, r) {
		return forbidden()
	}
	for _, have := range m.Roles {
		if have == r.ID {
			return http.StatusNoContent, nil
		}
	}
	m.Roles = append(m.Roles, r.ID)
	return http.StatusNoContent, nil
}
