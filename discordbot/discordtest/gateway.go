package discordtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// gwConn is one gateway connection.
type gwConn struct {
	ws  *websocket.Conn
	wmu sync.Mutex // serialises writes

	seq atomic.Int64

	// guarded by Server.mu
	ready   bool
	intents discordgo.Intent
	shard   *[2]int // [id, count] from IDENTIFY; nil: every guild
}

// serves reports whether the connection gets a guild's events: Discord
// sends a guild's events to the session of its shard,
// (guild_id >> 22) % count.
func (c *gwConn) serves(guild string) bool {
	if c.shard == nil || c.shard[1] <= 1 || guild == "" {
		return true
	}
	return ShardOf(guild, c.shard[1]) == c.shard[0]
}

// ShardOf is a guild's shard among count: (guild_id >> 22) % count.
func ShardOf(guild string, count int) int {
	id, err := strconv.ParseUint(guild, 10, 64)
	if err != nil || count <= 1 {
		return 0
	}
	return int((id >> 22) % uint64(count))
}

// Identified is an IDENTIFY the gateway received, with when.
type Identified struct {
	discordgo.Identify
	At time.Time
}

func (c *gwConn) write(v any) error { return c.writeStamped(v, nil) }

// writeStamped writes a frame; stamp, if not nil, is called right before
// the frame goes out.
func (c *gwConn) writeStamped(v any, stamp func()) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if stamp != nil {
		stamp()
	}
	return c.writeLocked(b)
}

// writeLocked writes an encoded frame; the caller holds c.wmu.
func (c *gwConn) writeLocked(b []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// dispatchLocked writes a dispatch frame; the caller holds c.wmu.
func (c *gwConn) dispatchLocked(typ string, d any) error {
	seq := c.seq.Add(1)
	b, err := json.Marshal(outFrame{Op: 0, D: d, S: &seq, T: typ})
	if err != nil {
		return err
	}
	return c.writeLocked(b)
}

func (c *gwConn) close() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "fake discord closing"), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
}

// gwPayload is a gateway frame.
type gwPayload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d,omitempty"`
	S  *int64          `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

type outFrame struct {
	Op int    `json:"op"`
	D  any    `json:"d"`
	S  *int64 `json:"s"`
	T  any    `json:"t"`
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// HeartbeatInterval is the interval the fake's HELLO asks for.
const HeartbeatInterval = 41250

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	if s.gatewayDown.Load() {
		http.Error(w, "gateway unavailable", http.StatusServiceUnavailable)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{ws: ws}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.notifyLocked()
		s.mu.Unlock()
		_ = ws.Close()
	}()
	if err := c.write(outFrame{Op: 10, D: map[string]int{"heartbeat_interval": HeartbeatInterval}}); err != nil {
		return
	}
	for {
		var p gwPayload
		if err := ws.ReadJSON(&p); err != nil {
			return
		}
		switch p.Op {
		case 1: // heartbeat
			if err := c.write(outFrame{Op: 11}); err != nil {
				return
			}
		case 2: // identify
			// Only what the fake checks: discordgo's Identify does not
			// decode its own presence.
			var raw struct {
				Token   string           `json:"token"`
				Intents discordgo.Intent `json:"intents"`
				Shard   *[2]int          `json:"shard"`
			}
			_ = json.Unmarshal(p.D, &raw)
			id := discordgo.Identify{Token: raw.Token, Intents: raw.Intents, Shard: raw.Shard}
			if s.opts.Token != "" && id.Token != "Bot "+s.opts.Token {
				s.mu.Lock()
				s.refusedIdentifies++
				s.notifyLocked()
				s.mu.Unlock()
				c.wmu.Lock()
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."), time.Now().Add(time.Second))
				c.wmu.Unlock()
				return
			}
			if sh := id.Shard; sh != nil && (sh[1] < 1 || sh[0] < 0 || sh[0] >= sh[1]) {
				c.wmu.Lock()
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4010, "Invalid shard."), time.Now().Add(time.Second))
				c.wmu.Unlock()
				return
			}
			// READY and GUILD_CREATE go out before any dispatch: the
			// connection's writer is held while it becomes ready.
			c.wmu.Lock()
			s.mu.Lock()
			s.identifies = append(s.identifies, Identified{Identify: id, At: time.Now()})
			c.intents = id.Intents
			c.shard = id.Shard
			ready := s.readyLocked(c)
			guilds := s.guildCreatesLocked(c)
			c.ready = true
			s.notifyLocked()
			s.mu.Unlock()
			err := c.dispatchLocked("READY", ready)
			for _, g := range guilds {
				if err == nil {
					err = c.dispatchLocked("GUILD_CREATE", g)
				}
			}
			c.wmu.Unlock()
			if err != nil {
				return
			}
		case 6: // resume
			c.wmu.Lock()
			s.mu.Lock()
			c.ready = true
			s.notifyLocked()
			s.mu.Unlock()
			err := c.dispatchLocked("RESUMED", map[string]any{})
			c.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// readyLocked builds READY for a connection: the guilds of its shard.
// Caller holds s.mu.
func (s *Server) readyLocked(c *gwConn) map[string]any {
	var guilds []map[string]any
	for id := range s.guilds {
		if c.serves(id) {
			guilds = append(guilds, map[string]any{"id": id, "unavailable": true})
		}
	}
	r := map[string]any{
		"v": 10, "user": s.botUser(), "session_id": s.NewID(), "guilds": guilds,
		"resume_gateway_url": s.wsURL, "application": map[string]any{"id": s.AppID, "flags": 0},
		"private_channels": []any{},
	}
	if c.shard != nil {
		r["shard"] = []int{c.shard[0], c.shard[1]}
	}
	return r
}

// guildCreatesLocked builds a GUILD_CREATE per guild when the connection
// asked for the Guilds intent. Caller holds s.mu.
func (s *Server) guildCreatesLocked(c *gwConn) []map[string]any {
	if c.intents&discordgo.IntentsGuilds == 0 {
		return nil
	}
	var out []map[string]any
	for _, g := range s.guilds {
		if !c.serves(g.ID) {
			continue
		}
		j := s.guildJSON(g)
		j["members"] = []any{memberJSON(g.Members[s.BotID])}
		out = append(out, j)
	}
	return out
}

// send writes a dispatch frame with the connection's next sequence.
func (s *Server) send(c *gwConn, typ string, d any) error { return s.sendStamped(c, typ, d, nil) }

func (s *Server) sendStamped(c *gwConn, typ string, d any, stamp func()) error {
	seq := c.seq.Add(1)
	return c.writeStamped(outFrame{Op: 0, D: d, S: &seq, T: typ}, stamp)
}

// dispatch sends an event of a guild to every identified connection of
// the guild's shard whose intents include need (0: always sent). stamp,
// if not nil, is called right before each frame goes out.
func (s *Server) dispatch(typ, guild string, need discordgo.Intent, d func(c *gwConn) any, stamp func()) int {
	s.mu.Lock()
	var conns []*gwConn
	for c := range s.conns {
		if c.ready && c.serves(guild) && (need == 0 || c.intents&need != 0) {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, c := range conns {
		if s.sendStamped(c, typ, d(c), stamp) == nil {
			n++
		}
	}
	return n
}

// GatewayOutage takes the gateway down (every connection closed, new
// ones refused with 503) or brings it back. REST and the interactions
// endpoint go on.
func (s *Server) GatewayOutage(down bool) {
	s.gatewayDown.Store(down)
	if down {
		s.DisconnectAll()
	}
}

// DisconnectAll closes every gateway connection, as a Discord outage would.
func (s *Server) DisconnectAll() {
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// ShardSessions returns the identified connections by shard id (-1: a
// connection without shard information, which gets every guild).
func (s *Server) ShardSessions() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for c := range s.conns {
		if !c.ready {
			continue
		}
		if c.shard == nil {
			out[-1]++
		} else {
			out[c.shard[0]]++
		}
	}
	return out
}
