// Package discordtest is a fake Discord for tests of the bot: the REST
// routes the bot uses and a gateway that sends READY, GUILD_CREATE and, when
// a test asks, INTERACTION_CREATE and MESSAGE_CREATE. It records every REST
// call with its body and multipart attachments, keeps the guilds, roles,
// members and messages the calls change, and answers the way Discord does:
// Discord-shaped JSON, Discord error codes, the real rate-limit headers
// (X-RateLimit-Limit, -Remaining, -Reset, -Reset-After, -Bucket) and 429
// with retry_after when a bucket or the global limit is exceeded.
//
// A real discordgo session is pointed at the fake through its HTTP client
// (Server.Client rewrites requests for discord.com to the fake) and the
// gateway URL the fake returns from GET /gateway; discordgo's endpoint
// variables are never touched.
//
// It imports discordgo (for its JSON shapes and constants), gorilla
// websocket and the standard library; never anything of the bot.
package discordtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Limit is a rate limit: Requests per Window.
type Limit struct {
	Requests int
	Window   time.Duration
}

// Options configure a Server. The zero value gives Discord's limits as
// far as they are documented or commonly observed.
type Options struct {
	// Global is the bot-wide limit over every route except interaction
	// callbacks and interaction webhooks (default 50 per second).
	Global Limit
	// Routes overrides the per-route limits, keyed by route pattern such as
	// "PATCH /channels/{channel}/messages/{message}".
	Routes map[string]Limit
	// InteractionTimeout is how long after INTERACTION_CREATE a callback is
	// accepted (default 3 s, as on Discord).
	InteractionTimeout time.Duration
	// Clock, if set, is the fake's time for rate limits and the
	// interaction window (default time.Now): tests move it instead of
	// waiting.
	Clock func() time.Time
	// Shards and MaxConcurrency are what GET /gateway/bot recommends:
	// the shard count and how many shards may identify per 5 s (default
	// 1 and 1).
	Shards, MaxConcurrency int
	// Token is the bot token the fake expects ("Bot " + Token in the
	// Authorization header); empty accepts any.
	Token string
}

// DefaultRouteLimits are the per-route limits used unless Options.Routes
// overrides them. Message create and edit are Discord's 5 per 5 s per
// channel; member-role changes 10 per 10 s per guild; reactions 1 per
// 250 ms per channel. A test that needs looser limits sets Options.Routes
// and says why.
var DefaultRouteLimits = map[string]Limit{
	"POST /channels/{channel}/messages":                                   {5, 5 * time.Second},
	"PATCH /channels/{channel}/messages/{message}":                        {5, 5 * time.Second},
	"DELETE /channels/{channel}/messages/{message}":                       {5, time.Second},
	"PUT /channels/{channel}/messages/{message}/reactions/{emoji}/@me":    {1, 250 * time.Millisecond},
	"DELETE /channels/{channel}/messages/{message}/reactions/{emoji}/@me": {1, 250 * time.Millisecond},
	"PUT /guilds/{guild}/members/{user}/roles/{role}":                     {10, 10 * time.Second},
	"POST /guilds/{guild}/roles":                                          {10, 10 * time.Second},
	"PATCH /guilds/{guild}/roles/{role}":                                  {10, 10 * time.Second},
	"PUT /applications/{app}/commands":                                    {5, 20 * time.Second},
	"PUT /applications/{app}/guilds/{guild}/commands":                     {5, 20 * time.Second},
}

// defaultLimit applies to routes without an entry.
var defaultLimit = Limit{10, time.Second}

// Server is a fake Discord. Create it with New; it shuts down when the test
// ends. All methods are safe for concurrent use.
type Server struct {
	// AppID and BotID are the application's and the bot user's ids.
	AppID, BotID string
	// BotName is the bot user's name.
	BotName string

	opts      Options
	http      *httptest.Server
	transport *http.Transport
	wsURL     string
	base      *url.URL
	ids       atomic.Int64

	mu           sync.Mutex
	changed      chan struct{} // closed and replaced on every change
	guilds       map[string]*Guild
	channels     map[string]*Channel
	messages     map[string]*Message
	commands     map[string][]discordgo.ApplicationCommand // "" global, else guild id
	interactions map[string]*Interaction                   // by id
	byToken      map[string]*Interaction
	calls        []Call
	buckets      map[string]*bucket
	global       bucket
	conns        map[*gwConn]struct{}
	// refusedIdentifies counts IDENTIFYs with a wrong token (closed 4004).
	refusedIdentifies int
	identifies        []Identified
	failures          []*failure
	msgCache          map[string]cachedMessage
	closed            bool
	endpoint          *endpoint      // interactions over HTTP instead of the gateway
	posts             sync.WaitGroup // interactions being POSTed
	// adopt knows the tokens of interactions delivered by others
	// (AdoptInteractions).
	adopt       func(token string) (id string, ok bool)
	gatewayDown atomic.Bool
}

// New starts a fake Discord and registers its shutdown with tb.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := NewServer(opts)
	tb.Cleanup(s.Close)
	return s
}

// NewServer starts a fake Discord; Close stops it.
func NewServer(opts Options) *Server {
	if opts.Global.Requests == 0 {
		opts.Global = Limit{50, time.Second}
	}
	if opts.InteractionTimeout == 0 {
		opts.InteractionTimeout = 3 * time.Second
	}
	s := &Server{
		opts:         opts,
		changed:      make(chan struct{}),
		guilds:       make(map[string]*Guild),
		channels:     make(map[string]*Channel),
		messages:     make(map[string]*Message),
		commands:     make(map[string][]discordgo.ApplicationCommand),
		interactions: make(map[string]*Interaction),
		byToken:      make(map[string]*Interaction),
		buckets:      make(map[string]*bucket),
		conns:        make(map[*gwConn]struct{}),
		BotName:      "TheButton",
	}
	s.global.limit = opts.Global
	s.AppID = s.NewID()
	s.BotID = s.AppID
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 512, 512
	s.transport = t
	s.http = httptest.NewServer(s.routes())
	s.base, _ = url.Parse(s.http.URL)
	s.wsURL = "ws://" + s.base.Host + "/gateway"
	return s
}

// now is the fake's time.
func (s *Server) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock()
	}
	return time.Now()
}

// Close disconnects every gateway session and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.posts.Wait()
	s.http.CloseClientConnections()
	s.http.Close()
	s.transport.CloseIdleConnections()
}

// URL is the fake's base URL (http://127.0.0.1:port).
func (s *Server) URL() string { return s.http.URL }

// GatewayURL is the websocket URL GET /gateway returns.
func (s *Server) GatewayURL() string { return s.wsURL }

// Client returns an HTTP client whose requests to discord.com (and its
// CDN) go to the fake. Set it as discordgo.Session.Client.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: s.Transport(), Timeout: 20 * time.Second}
}

// Transport rewrites requests for discord.com to the fake.
func (s *Server) Transport() http.RoundTripper {
	return &rewriter{target: s.base, next: s.transport}
}

type rewriter struct {
	target *url.URL
	next   http.RoundTripper
}

func (r *rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if host == "discord.com" || host == "discordapp.com" || strings.HasSuffix(host, ".discord.com") ||
		host == "cdn.discordapp.com" {
		req = req.Clone(req.Context())
		req.URL.Scheme = r.target.Scheme
		req.URL.Host = r.target.Host
		req.Host = r.target.Host
	}
	return r.next.RoundTrip(req)
}

// discordEpoch is the start of Discord snowflakes, in Unix milliseconds.
const discordEpoch = 1420070400000

// NewID returns a fresh snowflake.
func (s *Server) NewID() string {
	n := s.ids.Add(1)
	ms := time.Now().UnixMilli() - discordEpoch
	return strconv.FormatInt(ms<<22|(n&0x3fffff), 10)
}

// notifyLocked wakes everything waiting for a change. Caller holds s.mu.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond (called without any lock of the server held…
// it may call the server's getters) returns true or ctx ends. It
// re-checks cond on every change of the fake's state and at least every
// 50 ms.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("discordtest: wait: %w", ctx.Err())
		}
		t.Stop()
	}
}

// Guild is a fake guild.
type Guild struct {
	ID, Name string
	OwnerID  string
	// BotRole is the id of the bot's managed role; roles at or above its
	// position cannot be edited or granted by the bot.
	BotRole string
	// NoManageRoles removes Manage Roles from the bot: every role call fails
	// with 50013.
	NoManageRoles bool
	Roles         map[string]*Role
	Members       map[string]*Member
	Channels      []string
}

// Role is a guild role.
type Role struct {
	ID, Name string
	Color    int
	Position int
	Managed  bool
}

// Member is a guild member.
type Member struct {
	UserID, Name string
	Roles        []string
	// Permissions are the member's computed permissions, sent with the
	// member's interactions.
	Permissions int64
	Bot         bool
}

// Channel is a guild text channel.
type Channel struct {
	ID, GuildID, Name string
	// Deny makes every message call in the channel fail with 50013.
	Deny bool
	// Deleted makes every call on the channel fail with 10003.
	Deleted bool
}

// AddGuild creates a guild with one text channel per name in channels and
// the bot as a member with its managed role at position botPosition (0:
// 10, above every role the bot creates). It returns the guild id and the
// channel ids in order.
func (s *Server) AddGuild(name string, botPosition int, channels ...string) (string, []string) {
	if botPosition == 0 {
		botPosition = 10
	}
	gid := s.NewID()
	g := &Guild{ID: gid, Name: name, OwnerID: s.NewID(), Roles: make(map[string]*Role), Members: make(map[string]*Member)}
	everyone := &Role{ID: gid, Name: "@everyone", Position: 0}
	bot := &Role{ID: s.NewID(), Name: s.BotName, Position: botPosition, Managed: true}
	g.Roles[everyone.ID], g.Roles[bot.ID] = everyone, bot
	g.BotRole = bot.ID
	g.Members[s.BotID] = &Member{UserID: s.BotID, Name: s.BotName, Roles: []string{bot.ID}, Bot: true}
	var ids []string
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cn := range channels {
		c := &Channel{ID: s.NewID(), GuildID: gid, Name: cn}
		s.channels[c.ID] = c
		g.Channels = append(g.Channels, c.ID)
		ids = append(ids, c.ID)
	}
	s.guilds[gid] = g
	s.notifyLocked()
	return gid, ids
}

// AddChannel adds a text channel to a guild and returns its id.
func (s *Server) AddChannel(guild, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.guilds[guild]
	if g == nil {
		panic("discordtest: AddChannel: unknown guild " + guild)
	}
	c := &Channel{ID: s.NewID(), GuildID: guild, Name: name}
	s.channels[c.ID] = c
	g.Channels = append(g.Channels, c.ID)
	s.notifyLocked()
	return c.ID
}

// AddMember adds (or replaces) a member of a guild with the given
// permissions and returns its user id (a fresh one when user is empty).
func (s *Server) AddMember(guild, user, name string, permissions int64) string {
	if user == "" {
		user = s.NewID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.guilds[guild]
	if g == nil {
		panic("discordtest: AddMember: unknown guild " + guild)
	}
	g.Members[user] = &Member{UserID: user, Name: name, Permissions: permissions}
	s.notifyLocked()
	return user
}

// AddRole adds a role to a guild and returns its id.
func (s *Server) AddRole(guild, name string, color, position int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.guilds[guild]
	r := &Role{ID: s.NewID(), Name: name, Color: color, Position: position}
	g.Roles[r.ID] = r
	s.notifyLocked()
	return r.ID
}

// SetGuild changes a guild under the server's lock.
func (s *Server) SetGuild(guild string, fn func(*Guild)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.guilds[guild])
	s.notifyLocked()
}

// SetChannel changes a channel under the server's lock.
func (s *Server) SetChannel(channel string, fn func(*Channel)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.channels[channel])
	s.notifyLocked()
}

// Roles returns a copy of a guild's roles by name (the first of each name).
func (s *Server) Roles(guild string) map[string]Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Role)
	g := s.guilds[guild]
	if g == nil {
		return out
	}
	for _, r := range g.Roles {
		if _, ok := out[r.Name]; !ok {
			out[r.Name] = *r
		}
	}
	return out
}

// MemberRoles returns the names of a member's roles.
func (s *Server) MemberRoles(guild, user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.guilds[guild]
	if g == nil || g.Members[user] == nil {
		return nil
	}
	var out []string
	for _, id := range g.Members[user].Roles {
		if r := g.Roles[id]; r != nil {
			out = append(out, r.Name)
		}
	}
	return out
}

// Commands returns the application commands registered in scope ("" for
// global, else a guild id).
func (s *Server) Commands(scope string) []discordgo.ApplicationCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]discordgo.ApplicationCommand(nil), s.commands[scope]...)
}

// Identifies returns every IDENTIFY the gateway received.
func (s *Server) Identifies() []discordgo.Identify {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]discordgo.Identify, 0, len(s.identifies))
	for _, id := range s.identifies {
		out = append(out, id.Identify)
	}
	return out
}

// Identified returns every IDENTIFY the gateway received, with its time.
func (s *Server) Identified() []Identified {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Identified(nil), s.identifies...)
}

// RefusedIdentifies is the number of IDENTIFYs refused for a wrong token
// (the gateway closed them with 4004, authentication failed).
func (s *Server) RefusedIdentifies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusedIdentifies
}

// Sessions is the number of identified gateway connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.ready {
			n++
		}
	}
	return n
}

// apiError is Discord's error body.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}
