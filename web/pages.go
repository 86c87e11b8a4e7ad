package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
	"github.com/thebutton-game/thebutton/timefmt"
)

//go:embed assets
var assets embed.FS

// page is what the layout shows around a page's data.
type page struct {
	Title       string
	Description string
	Nav         string // the active menu entry: live, lowest, recent
	Path        string // the page's path, for its canonical link
	Image       string // a link preview picture's path, "" for none
	NowMS       int64
	Game        int64 // the game a live page follows (0: all)
	Data        any
}

type errorPage struct {
	Code    int
	Message string
}

// listPage is /lowest or /recent.
type listPage struct {
	List  Clicks
	Kind  string // lowest or recent
	Title string
	Blurb string
}

// clickTable and board are the arguments of the parts of the same names.
type clickTable struct {
	Clicks   []Click
	ShowGame bool // a column with the game
	Ranked   bool // number the rows 1, 2, 3… instead of showing click numbers
}

type board struct {
	Kind string // mmr, claimed or clicks
	Rows []Standing
}

var pageNames = []string{"live", "game", "list", "card", "error"}

// parsePages parses each page with the layout and the shared parts. The
// templates are embedded: a parse error is a bug that every test hits.
func parsePages(funcs template.FuncMap) map[string]*template.Template {
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(assets,
			"assets/templates/layout.html", "assets/templates/parts.html", "assets/templates/"+name+".html"))
	}
	return out
}

// render executes a page into a buffer, then writes it.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	if p.NowMS == 0 {
		p.NowMS = ms(s.now())
	}
	if p.Path == "" {
		p.Path = r.URL.Path
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		http.Error(w, "Something went wrong on our side.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) pageLive(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.readCtx(r)
	defer cancel()
	live, err := s.live(ctx)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	desc := fmt.Sprintf("%d live button(s). Press it before the clock runs out — the less time left, the rarer your colour.", len(live.Games))
	s.render(w, r, http.StatusOK, "live", page{Title: "Live buttons", Description: desc, Nav: "live", NowMS: live.NowMS, Data: live})
}

func (s *Server) pageGame(w http.ResponseWriter, r *http.Request) {
	id, err := parseGameID(r)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	ctx, cancel := s.readCtx(r)
	defer cancel()
	p, err := s.gamePage(ctx, id)
	if err != nil {
		s.failPage(w, r, missing(err, "There is no game #"+id.String()+"."))
		return
	}
	g := p.Game
	desc := fmt.Sprintf("%d clicks by %d players, alive for %s.", g.Clicks, g.Players, fmtSpan(g.AliveMS))
	if g.ToBeat != nil {
		desc += " Time to beat: " + fmtValue(g.ToBeat.ValueMS) + " by " + displayName(g.ToBeat.Name, g.ToBeat.User) + "."
	}
	s.render(w, r, http.StatusOK, "game", page{
		Title: "Game #" + strconv.FormatInt(g.ID, 10), Description: desc, NowMS: p.NowMS, Game: g.ID,
		Image: gamePath(g.ID) + "/timer.png", Data: p,
	})
}

func (s *Server) pageLowest(w http.ResponseWriter, r *http.Request) {
	list, err := s.list(r, readmodel.Reader.GlobalLowestClicks)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "list", page{
		Title: "Lowest clicks", Description: "The closest calls of every game: the least time left on the clock.", Nav: "lowest", NowMS: list.NowMS,
		Data: listPage{List: list, Kind: "lowest", Title: "Lowest clicks", Blurb: "The closest calls of every game: the least time left on the clock when the button was pressed."},
	})
}

func (s *Server) pageRecent(w http.ResponseWriter, r *http.Request) {
	list, err := s.list(r, readmodel.Reader.GlobalRecentClicks)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "list", page{
		Title: "Recent clicks", Description: "The latest presses of every game.", Nav: "recent", NowMS: list.NowMS,
		Data: listPage{List: list, Kind: "recent", Title: "Recent clicks", Blurb: "The latest presses of every game, newest first."},
	})
}

func (s *Server) pageCard(w http.ResponseWriter, r *http.Request) {
	user, err := parseUser(r)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	ctx, cancel := s.readCtx(r)
	defer cancel()
	c, err := s.card(ctx, user)
	if err != nil {
		s.failPage(w, r, missing(err, "Player "+user+" has never pressed the button."))
		return
	}
	name := displayName(c.Name, c.User)
	desc := fmt.Sprintf("%d clicks in %d games, %s of time claimed.", c.Clicks, len(c.Games), fmtSpan(c.ClaimedMS))
	if c.Best != nil {
		desc += " Best click: " + fmtValue(c.Best.ValueMS) + " (" + c.Best.BandName + ")."
	}
	s.render(w, r, http.StatusOK, "card", page{Title: name, Description: desc, NowMS: c.NowMS, Data: c})
}

func (s *Server) pageNotFound(w http.ResponseWriter, r *http.Request) {
	s.failPage(w, r, errMissing("There is no such page."))
}

// --- template functions ---

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"clock":     fmtClock,
		"value":     fmtValue,
		"span":      fmtSpan,
		"date":      fmtDate,
		"iso":       fmtISO,
		"name":      displayName,
		"gameURL":   gamePath,
		"playerURL": playerPath,
		"abs":       s.abs,
		"asset":     assetURL,
		"bandName":  func(b int) string { return events.Band(b).String() },
		"pct":       func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + "%" },
		"mmr":       func(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) },
		"hourChart": hourChart,
		"colourBar": colourBar,
		"bandList":  func() []int { return []int{5, 4, 3, 2, 1, 0} },
		"index6":    func(a [6]int64, b int) int64 { return a[b] },
		"emptyGame": func() Game { return Game{Status: string(events.StatusActive)} },
		"inc":       func(i int) int { return i + 1 },
		"plural": func(n int64, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
		"table": func(cs []Click, showGame, ranked bool) clickTable {
			return clickTable{Clicks: cs, ShowGame: showGame, Ranked: ranked}
		},
		"board": func(kind string, rows []Standing) board { return board{Kind: kind, Rows: rows} },
	}
}

// displayName is the name the pages show: the player's name, or their id
// if none is known (app.js does the same).
func displayName(name, user string) string {
	if name != "" {
		return name
	}
	return "player " + user
}

// The times on the pages are written by package timefmt, as in Discord
// (app.js mirrors it for the live parts).
var (
	fmtClock = timefmt.Clock
	fmtValue = timefmt.Value
	fmtSpan  = timefmt.Span
)

func fmtDate(msv int64) string {
	if msv == 0 {
		return "—"
	}
	return time.UnixMilli(msv).UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtISO(msv int64) string { return time.UnixMilli(msv).UTC().Format(time.RFC3339Nano) }

// --- charts (plain SVG, drawn by the templates) ---

type chart struct {
	W, H   float64
	AxisY  float64
	Bars   []chartBar
	Ticks  []chartTick
	Max    int64
	Total  int64
	Hours  int
	Capped bool // older hours are left out
}

type chartBar struct {
	X, Y, W, H float64
	Clicks     int64
	Title      string
}

type chartTick struct {
	X     float64
	Label string
}

// chartHours is the most hours the per-hour chart shows.
const chartHours = 48

// hourChart lays out the clicks per hour of a game as bars: every hour
// from the first with clicks (at most chartHours back) to the last hour of
// the game (now while it lives), empty hours included.
func hourChart(hours []Hour, g Game, nowMS int64) chart {
	const hourMS = 3600 * 1000
	c := chart{W: 1000, H: 150}
	if len(hours) == 0 {
		return c
	}
	endMS := nowMS
	if g.EndMS != 0 {
		endMS = g.EndMS
	}
	last := max(endMS/hourMS*hourMS, hours[len(hours)-1].HourMS)
	first := hours[0].HourMS
	if n := (last-first)/hourMS + 1; n > chartHours {
		first, c.Capped = last-(chartHours-1)*hourMS, true
	}
	counts := map[int64]int64{}
	for _, h := range hours {
		counts[h.HourMS] = h.Clicks
		c.Total += h.Clicks
		c.Max = max(c.Max, h.Clicks)
	}
	c.Hours = int((last-first)/hourMS + 1)
	const top, bottom = 8.0, 22.0
	c.AxisY = c.H - bottom
	slot := c.W / float64(max(c.Hours, 24))
	for i := range c.Hours {
		at := first + int64(i)*hourMS
		n := counts[at]
		hgt := 0.0
		if c.Max > 0 {
			hgt = (c.H - top - bottom) * float64(n) / float64(c.Max)
		}
		t := time.UnixMilli(at).UTC()
		c.Bars = append(c.Bars, chartBar{
			X: float64(i)*slot + 1, W: max(slot-2, 1), Y: c.H - bottom - hgt, H: hgt, Clicks: n,
			Title: fmt.Sprintf("%s — %d click%s", t.Format("Jan 2, 15:00 UTC"), n, plural(n)),
		})
		if t.Hour()%6 == 0 || c.Hours <= 12 {
			c.Ticks = append(c.Ticks, chartTick{X: float64(i)*slot + slot/2, Label: t.Format("15h")})
		}
	}
	return c
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

type barSegment struct {
	X, W float64
	Band int
	Name string
	Pct  string
}

// colourBar lays out a game's colours as one stacked bar, Purple first,
// in percent of its width.
func colourBar(cs []Colour) []barSegment {
	var out []barSegment
	x := 0.0
	for _, c := range cs {
		if c.Clicks == 0 {
			continue
		}
		out = append(out, barSegment{X: x, W: c.Percent, Band: c.Band, Name: c.Name, Pct: strconv.FormatFloat(c.Percent, 'f', 1, 64) + "%"})
		x += c.Percent
	}
	return out
}

// --- static files ---

type staticFile struct {
	data  []byte
	ctype string
	hash  string
}

var static = loadStatic()

func loadStatic() map[string]staticFile {
	out := map[string]staticFile{}
	entries, err := fs.ReadDir(assets, "assets/static")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	for _, e := range entries {
		data, err := assets.ReadFile("assets/static/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(data)
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[e.Name()] = staticFile{data: data, ctype: ctype, hash: hex.EncodeToString(sum[:6])}
	}
	return out
}

// assetURL is a static file's path with its content hash, so browsers may
// keep it for good.
func assetURL(name string) string {
	f, ok := static[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.hash
}

func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	f, ok := static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", `"`+f.hash+`"`)
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, name, time.Time{}, strings.NewReader(string(f.data)))
}
