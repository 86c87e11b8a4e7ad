package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The live stream (/events) is server-sent events. Every client gets, on
// connecting and after each change:
//
//	event: clock    data: the server's clock in Unix ms (to count down in step)
//	event: status   data: {"ok":true} or {"ok":false,"message":"…"}
//	event: games    data: the Live JSON of /api/games (only when ok)
//
// plus a comment line every Heartbeat. One poller (Server.Run) reads the
// projection for all of them; each frame is a whole snapshot, so a slow
// client skips to the newest one instead of queueing.

// streamWriteTimeout bounds one write to a live stream: a client that
// does not read is dropped.
const streamWriteTimeout = 10 * time.Second

type hubState int

const (
	hubUnknown hubState = iota // nothing read yet
	hubOK
	hubFailed
)

// hub hands the latest snapshot to every open stream.
type hub struct {
	kick chan struct{} // a new watcher wants a fresh read (capacity 1)

	mu      sync.Mutex
	subs    map[chan struct{}]struct{}
	stale   bool // the poller must read even if the position did not move
	version uint64
	state   hubState
	games   []byte // the latest Live JSON
	message string // why the last read failed
}

func newHub() *hub {
	return &hub{kick: make(chan struct{}, 1), subs: map[chan struct{}]struct{}{}}
}

// subscribe registers a stream; false if max streams are open. The
// returned channel receives a signal whenever there is something new.
func (h *hub) subscribe(max int) (chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= max {
		return nil, false
	}
	ch := make(chan struct{}, 1)
	if len(h.subs) == 0 {
		// Nobody watched, so the poller stopped reading: what we hold
		// may be old. Ask for a fresh read instead of sending it.
		h.state, h.games, h.stale = hubUnknown, nil, true
		select {
		case h.kick <- struct{}{}:
		default:
		}
	} else if h.state != hubUnknown {
		ch <- struct{}{}
	}
	h.subs[ch] = struct{}{}
	return ch, true
}

func (h *hub) unsubscribe(ch chan struct{}) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

// watchers returns how many streams are open, and whether the poller
// must read afresh (once: the flag is cleared).
func (h *hub) watchers() (n int, stale bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	stale, h.stale = h.stale, false
	return len(h.subs), stale
}

// publish makes games the latest snapshot and wakes every stream.
func (h *hub) publish(games []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state, h.games, h.message = hubOK, games, ""
	h.changed()
}

// fail records that the projection could not be read; streams are told
// once, until a read succeeds again.
func (h *hub) fail(message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == hubFailed {
		return
	}
	h.state, h.message = hubFailed, message
	h.changed()
}

func (h *hub) changed() {
	h.version++
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default: // already signalled: it will read the newest
		}
	}
}

// frame returns what a stream that has seen version seen must be sent,
// and the current version.
func (h *hub) frame(seen uint64, now time.Time) ([]byte, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.version == seen || h.state == hubUnknown {
		return nil, seen
	}
	b := make([]byte, 0, len(h.games)+128)
	b = append(b, "event: clock\ndata: "...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, "\n\n"...)
	if h.state == hubFailed {
		msg, _ := json.Marshal(struct {
			OK      bool   `json:"ok"`
			Message string `json:"message"`
		}{false, h.message})
		b = append(b, "event: status\ndata: "...)
		b = append(b, msg...)
		return append(b, "\n\n"...), h.version
	}
	b = append(b, "event: status\ndata: {\"ok\":true}\n\nevent: games\ndata: "...)
	b = append(b, h.games...)
	return append(b, "\n\n"...), h.version
}

// events serves the live stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if !s.running.Load() || isClosed(s.done) {
		w.Header().Set("Retry-After", "10")
		http.Error(w, "Live updates are off on this server.", http.StatusServiceUnavailable)
		return
	}
	ch, ok := s.hub.subscribe(s.o.MaxStreams)
	if !ok {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "Too many live pages are open; try again later.", http.StatusServiceUnavailable)
		return
	}
	defer s.hub.unsubscribe(ch)

	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // the stream outlives the server's ReadTimeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) // also lifts the server's WriteTimeout
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n\n")) {
		return
	}
	hb := time.NewTicker(s.o.Heartbeat)
	defer hb.Stop()
	var seen uint64
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-hb.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		case <-ch:
			var b []byte
			if b, seen = s.hub.frame(seen, s.now()); b != nil && !write(b) {
				return
			}
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
