package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/imaging"
	"github.com/thebutton-game/thebutton/readmodel"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Log receives the server's logs (default: discarded).
	Log *slog.Logger
	// Poll is how often the one poller of the process reads the
	// projection's position while live pages are open (default 150ms).
	Poll time.Duration
	// Heartbeat is how often an idle live stream gets a comment line, so
	// proxies and browsers keep it open (default 15s).
	Heartbeat time.Duration
	// MaxStreams bounds the live streams served at once; more get 503
	// (default 1000).
	MaxStreams int
	// BaseURL is the public address of the pages, such as
	// "https://button.example.org": with it, the JSON links and the link
	// previews (Open Graph tags) are absolute. Empty: relative links.
	BaseURL string
	// Mount adds routes served beside the pages, such as "/metrics" or
	// "GET /healthz" (http.ServeMux patterns): they take precedence over
	// the pages and get none of their headers. New panics on an invalid
	// pattern, as http.ServeMux.Handle does.
	Mount map[string]http.Handler
	// Renderer draws the timer cards (default imaging.NewRenderer(0)).
	Renderer *imaging.Renderer
	// Now is the clock (default time.Now); tests pass a fake one.
	Now func() time.Time
	// ReadTimeout bounds the Redis reads of one request (default 5s).
	ReadTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = 150 * time.Millisecond
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 1000
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.Renderer == nil {
		o.Renderer = imaging.NewRenderer(0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Second
	}
	return o
}

// Server serves the pages. It is an http.Handler, safe for concurrent
// use. The live updates (/events) need Run: one poller per Server feeds
// every open live page; without Run, /events answers 503 and the other
// pages work as usual.
type Server struct {
	reader readmodel.Reader
	o      Options
	log    *slog.Logger
	mux    *http.ServeMux
	mounts *http.ServeMux
	pages  map[string]*template.Template

	hub       *hub
	running   atomic.Bool
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	done      chan struct{} // closed when Run returns: ends every stream

	lastWarn atomic.Int64 // unix ms of the last "unavailable" log line
}

// New returns the pages on reader. It does not contact the reader.
func New(reader readmodel.Reader, opts Options) *Server {
	o := opts.withDefaults()
	s := &Server{
		reader:  reader,
		o:       o,
		log:     o.Log.With("component", "web"),
		hub:     newHub(),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.pages = parsePages(s.funcs())
	s.mux = http.NewServeMux()
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /{$}":                  s.pageLive,
		"GET /events":               s.events,
		"GET /games/{id}":           s.pageGame,
		"GET /games/{id}/timer.png": s.timer,
		"GET /lowest":               s.pageLowest,
		"GET /recent":               s.pageRecent,
		"GET /players/{user}":       s.pageCard,
		"GET /api/games":            s.apiLive,
		"GET /api/games/{id}":       s.apiGame,
		"GET /api/lowest":           s.apiLowest,
		"GET /api/recent":           s.apiRecent,
		"GET /api/players/{user}":   s.apiCard,
		"GET /static/{file}":        serveStatic,
		"/api/":                     s.apiNotFound,
		"/":                         s.pageNotFound,
	} {
		s.mux.HandleFunc(pattern, h)
	}
	if len(o.Mount) > 0 {
		s.mounts = http.NewServeMux()
		for pattern, h := range o.Mount {
			s.mounts.Handle(pattern, h)
		}
	}
	return s
}

// ServeHTTP serves the pages and the mounted routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.mounts != nil {
		if h, pattern := s.mounts.Handler(r); pattern != "" {
			h.ServeHTTP(w, r)
			return
		}
	}
	hdr := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "The pages are read-only.", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	s.mux.ServeHTTP(w, r)
}

// Run polls the projection's position while live pages are open and
// pushes fresh summaries to them when it moves. It returns nil when ctx
// ends or Close is called, after ending every live stream. Errors of the
// reader are logged and retried; they never end it. It must be called
// once.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("web: Run called twice")
	}
	defer close(s.done)
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	var last uint64
	have := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		case <-t.C:
		case <-s.hub.kick:
		}
		n, stale := s.hub.watchers()
		if n == 0 || stale {
			have = false // nobody watched: read afresh when someone does
		}
		if n == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, s.o.ReadTimeout)
		pos, err := s.reader.Position(rctx)
		if err == nil && have && pos == last {
			cancel()
			continue
		}
		var live Live
		if err == nil {
			live, err = s.liveAt(rctx, pos)
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			have = false
			s.warnUnavailable("poll live games", err)
			s.hub.fail(unavailableMessage)
			continue
		}
		last, have = pos, true
		frame, err := json.Marshal(live)
		if err != nil {
			s.log.Error("encode live games", "err", err)
			continue
		}
		s.hub.publish(frame)
	}
}

// Close stops Run and waits for it to return, which ends every live
// stream. It is safe to call more than once, and without Run.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	if s.running.Load() {
		<-s.done
	}
}

func (s *Server) now() time.Time { return s.o.Now() }

// abs returns path as the pages link to it: absolute with a BaseURL.
func (s *Server) abs(path string) string { return s.o.BaseURL + path }

func gamePath(id int64) string { return "/games/" + strconv.FormatInt(id, 10) }

func playerPath(user string) string { return "/players/" + url.PathEscape(user) }

// readCtx bounds the reads of one request.
func (s *Server) readCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.o.ReadTimeout)
}

// errBadRequest marks a malformed request; its text is shown.
type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

// errMissing is a not-found whose text is shown; it wraps
// readmodel.ErrNotFound.
type errMissing string

func (e errMissing) Error() string        { return string(e) }
func (e errMissing) Is(target error) bool { return target == readmodel.ErrNotFound }

// missing says what was not found when err is a not-found.
func missing(err error, what string) error {
	if errors.Is(err, readmodel.ErrNotFound) {
		return errMissing(what)
	}
	return err
}

// parseGameID reads the {id} of a path: a positive decimal number.
func parseGameID(r *http.Request) (events.GameID, error) {
	v := r.PathValue("id")
	if v == "" || len(v) > 18 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, errBadRequest("a game number is a positive whole number")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, errBadRequest("a game number is a positive whole number")
	}
	return events.GameID(n), nil
}

// parseUser reads the {user} of a path: a Discord user id (a snowflake).
func parseUser(r *http.Request) (string, error) {
	v := r.PathValue("user")
	if v == "" || len(v) > 20 || strings.TrimLeft(v, "0123456789") != "" {
		return "", errBadRequest("a player is named by their Discord user id, a number")
	}
	return v, nil
}

// parseCount reads ?n= (default def, at most listMax).
func parseCount(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("n")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errBadRequest("n is a whole number from 1 to " + strconv.Itoa(listMax))
	}
	return min(n, listMax), nil
}

const unavailableMessage = "The Button's statistics are unavailable for the moment. Try again in a few seconds."

// status maps an error to its HTTP status and the message shown.
func status(err error) (int, string) {
	var bad errBadRequest
	var gone errMissing
	switch {
	case errors.As(err, &bad):
		return http.StatusBadRequest, string(bad)
	case errors.As(err, &gone):
		return http.StatusNotFound, string(gone)
	case errors.Is(err, readmodel.ErrNotFound):
		return http.StatusNotFound, "There is nothing here."
	case errors.Is(err, readmodel.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, unavailableMessage
	default:
		return http.StatusInternalServerError, "Something went wrong on our side."
	}
}

// logFailure logs what the caller should know of a failed request.
func (s *Server) logFailure(r *http.Request, code int, err error) {
	switch {
	case code == http.StatusServiceUnavailable:
		s.warnUnavailable("serve "+r.URL.Path, err)
	case code >= 500 && r.Context().Err() == nil:
		s.log.Error("request failed", "path", r.URL.Path, "status", code, "err", err)
	}
}

// warnUnavailable logs an unavailable store at most once per 10 seconds.
func (s *Server) warnUnavailable(op string, err error) {
	now := time.Now().UnixMilli()
	last := s.lastWarn.Load()
	if now-last < 10_000 || !s.lastWarn.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("redis projection unavailable", "op", op, "err", err)
}

// failPage answers a page request that failed: a page for 400 and 404, a
// plain message for 503 and 500.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := status(err)
	s.logFailure(r, code, err)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if code >= 500 {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		if code == http.StatusServiceUnavailable {
			h.Set("Retry-After", "5")
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(msg + "\n"))
		return
	}
	title := "Not found"
	if code == http.StatusBadRequest {
		title = "Bad request"
	}
	s.render(w, r, code, "error", page{Title: title, Data: errorPage{Code: code, Message: msg}})
}

// failAPI answers an API request that failed with {"error": message}.
func (s *Server) failAPI(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := status(err)
	s.logFailure(r, code, err)
	w.Header().Set("Cache-Control", "no-store")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Access-Control-Allow-Origin", "*")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// --- JSON ---

func (s *Server) apiLive(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.readCtx(r)
	defer cancel()
	live, err := s.live(ctx)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, live)
}

func (s *Server) apiGame(w http.ResponseWriter, r *http.Request) {
	id, err := parseGameID(r)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	ctx, cancel := s.readCtx(r)
	defer cancel()
	p, err := s.gamePage(ctx, id)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) apiLowest(w http.ResponseWriter, r *http.Request) {
	s.apiClicks(w, r, readmodel.Reader.GlobalLowestClicks)
}

func (s *Server) apiRecent(w http.ResponseWriter, r *http.Request) {
	s.apiClicks(w, r, readmodel.Reader.GlobalRecentClicks)
}

type listFunc func(readmodel.Reader, context.Context, int) ([]readmodel.Click, error)

func (s *Server) list(r *http.Request, read listFunc) (Clicks, error) {
	n, err := parseCount(r, listDefault)
	if err != nil {
		return Clicks{}, err
	}
	ctx, cancel := s.readCtx(r)
	defer cancel()
	cs, err := read(s.reader, ctx, n)
	if err != nil {
		return Clicks{}, err
	}
	return Clicks{NowMS: ms(s.now()), Clicks: s.clicks(cs)}, nil
}

func (s *Server) apiClicks(w http.ResponseWriter, r *http.Request, read listFunc) {
	list, err := s.list(r, read)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) apiCard(w http.ResponseWriter, r *http.Request) {
	user, err := parseUser(r)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	ctx, cancel := s.readCtx(r)
	defer cancel()
	c, err := s.card(ctx, user)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	s.failAPI(w, r, readmodel.ErrNotFound)
}

// --- the timer card ---

// timer serves a game's timer card as it looks now, as a PNG: the
// deadline card while it runs, the game-over card after.
func (s *Server) timer(w http.ResponseWriter, r *http.Request) {
	id, err := parseGameID(r)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	ctx, cancel := s.readCtx(r)
	defer cancel()
	g, err := s.reader.Game(ctx, id)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	now := s.now()
	// A running game's card shows its deadline, not the time left: the
	// picture is never stale, the page's countdown next to it is live.
	card := imaging.TimerCard{Band: imaging.Band(g.Band(now)), Remaining: g.Remaining(now), Over: g.Over(now), Static: true, Width: 600}
	if !card.Over {
		card.Deadline = g.Deadline
	}
	img, err := s.o.Renderer.Timer(ctx, card)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", img.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(img.Data)))
	if g.Over(now) {
		h.Set("Cache-Control", "public, max-age=60")
	} else {
		h.Set("Cache-Control", "public, max-age=1")
	}
	_, _ = w.Write(img.Data)
}
