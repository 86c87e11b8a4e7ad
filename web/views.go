package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
)

// The data of the pages, also served as JSON under /api/. Times are Unix
// milliseconds (UTC) and durations milliseconds, like the event stream;
// every value, band, time claimed and MMR is the one the click recorded.
// Bands are numbered as in GAME-RULES §4: 0 Red … 5 Purple.

// Live is the live games (/ and /api/games), and what /events pushes.
type Live struct {
	NowMS    int64  `json:"now_ms"`   // the server's clock when this was read
	Position uint64 `json:"position"` // the projection's stream sequence
	Games    []Game `json:"games"`    // the active games, oldest first
}

// Game is a game's summary: a live card, and the head of its page.
type Game struct {
	ID     int64  `json:"id"`
	URL    string `json:"url"`
	Guild  string `json:"guild"`
	Icon   string `json:"icon"`   // the guild's icon, "" if it chose none
	Status string `json:"status"` // active, ended or aborted
	// Over is true once the game takes no more clicks: ended, aborted, or
	// its deadline has come even if the end is not recorded yet.
	Over       bool  `json:"over"`
	StartMS    int64 `json:"start_ms"`
	DurationMS int64 `json:"duration_ms"`
	CooldownMS int64 `json:"cooldown_ms"`
	Sequential int   `json:"sequential"`
	// DeadlineMS is the last click (the start before any) + the duration:
	// browsers count down to it and colour the clock with the six sixths.
	DeadlineMS  int64  `json:"deadline_ms"`
	EndMS       int64  `json:"end_ms"`     // when it ended (0 while alive)
	EndReason   string `json:"end_reason"` // expired or aborted, "" while alive
	RemainingMS int64  `json:"remaining_ms"`
	Band        int    `json:"band"` // colour of the clock at now_ms
	BandName    string `json:"band_name"`
	AliveMS     int64  `json:"alive_ms"` // start → end, or start → now
	Clicks      int64  `json:"clicks"`
	Players     int64  `json:"players"`
	ClaimedMS   int64  `json:"claimed_ms"`
	Last        *Click `json:"last_click"` // nil before the first click
	ToBeat      *Click `json:"to_beat"`    // the lowest click, nil before the first
}

// Click is one accepted click, as recorded.
type Click struct {
	Game      int64   `json:"game"`
	Number    int64   `json:"number"` // 1, 2, 3… within the game
	User      string  `json:"user"`
	Name      string  `json:"name"` // the player's name at the click ("" if unknown)
	AtMS      int64   `json:"at_ms"`
	ValueMS   int64   `json:"value_ms"` // time left when clicked
	Band      int     `json:"band"`
	BandName  string  `json:"band_name"`
	ClaimedMS int64   `json:"claimed_ms"`
	MMR       float64 `json:"mmr"`
}

// GamePage is a game's page (/games/{id} and /api/games/{id}).
type GamePage struct {
	NowMS     int64      `json:"now_ms"`
	Game      Game       `json:"game"`
	Colours   []Colour   `json:"colours"`    // Purple first
	ByMMR     []Standing `json:"by_mmr"`     // MMR high to low
	ByClaimed []Standing `json:"by_claimed"` // time claimed high to low
	ByClicks  []Standing `json:"by_clicks"`  // clicks high to low
	Lowest    []Click    `json:"lowest"`     // the lowest clicks, lowest first
	Recent    []Click    `json:"recent"`     // the latest clicks, newest first
	PerHour   []Hour     `json:"per_hour"`   // clicks per UTC hour, only hours with clicks
}

// Colour is one colour's share of a game.
type Colour struct {
	Band      int     `json:"band"`
	Name      string  `json:"name"`
	Clicks    int64   `json:"clicks"`
	Percent   float64 `json:"percent"` // of the game's clicks
	ClaimedMS int64   `json:"claimed_ms"`
	Players   int64   `json:"players"`
}

// Standing is a player's place on a leaderboard of a game.
type Standing struct {
	Rank      int      `json:"rank"`
	User      string   `json:"user"`
	Name      string   `json:"name"`
	Clicks    int64    `json:"clicks"`
	MMR       float64  `json:"mmr"`
	ClaimedMS int64    `json:"claimed_ms"`
	BestMS    int64    `json:"best_ms"`
	BestBand  int      `json:"best_band"`
	Bands     [6]int64 `json:"bands"` // clicks per band, indexed by band
}

// Hour is how many clicks a game had in one UTC hour.
type Hour struct {
	HourMS int64 `json:"hour_ms"` // the start of the hour
	Clicks int64 `json:"clicks"`
}

// Clicks is a list of clicks across games (/lowest, /recent and their
// /api/ twins).
type Clicks struct {
	NowMS  int64   `json:"now_ms"`
	Clicks []Click `json:"clicks"`
}

// Card is a player's card (/players/{user} and /api/players/{user}).
type Card struct {
	NowMS     int64    `json:"now_ms"`
	User      string   `json:"user"`
	Name      string   `json:"name"` // the latest name seen ("" if none)
	Clicks    int64    `json:"clicks"`
	ClaimedMS int64    `json:"claimed_ms"`
	MMR       float64  `json:"mmr"`
	Bands     [6]int64 `json:"bands"` // clicks per band in every game
	Best      *Click   `json:"best"`  // the lowest click of all games
	// Games is the player's figures per game, most recently clicked first.
	Games []CardGame `json:"games"`
}

// CardGame is a player's figures in one game.
type CardGame struct {
	Game       int64    `json:"game"`
	Clicks     int64    `json:"clicks"`
	BestMS     int64    `json:"best_ms"`
	BestBand   int      `json:"best_band"`
	BestNumber int64    `json:"best_number"`
	ClaimedMS  int64    `json:"claimed_ms"`
	MMR        float64  `json:"mmr"`
	FirstMS    int64    `json:"first_ms"`
	LastMS     int64    `json:"last_ms"`
	Bands      [6]int64 `json:"bands"`
	// Latest is the colours of the player's latest clicks in the game (at
	// most cardStrip, for games among the first cardStripGames), in order.
	Latest []int `json:"latest"`
}

// How much the pages show.
const (
	boardSize      = 10  // players per leaderboard
	lowestSize     = 10  // lowest clicks on a game page
	recentSize     = 20  // recent clicks on a game page
	listDefault    = 50  // /lowest and /recent without ?n=
	listMax        = 100 // the most ?n= may ask for
	cardStrip      = 60  // colours of the latest clicks per game on a card
	cardStripGames = 10
)

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func mmr(milli int64) float64 { return float64(milli) / 1000 }

func (s *Server) click(c readmodel.Click) Click {
	return Click{
		Game: int64(c.Game), Number: c.Number, User: c.User, Name: c.UserName,
		AtMS: ms(c.At), ValueMS: c.Value.Milliseconds(), Band: int(c.Band), BandName: c.Band.String(),
		ClaimedMS: c.Claimed.Milliseconds(), MMR: mmr(c.MMRMilli),
	}
}

func (s *Server) clicks(cs []readmodel.Click) []Click {
	out := make([]Click, len(cs))
	for i, c := range cs {
		out[i] = s.click(c)
	}
	return out
}

// summary builds a game's summary at now: its icon and its lowest click
// cost a round trip each.
func (s *Server) summary(ctx context.Context, g readmodel.Game, now time.Time, icons map[string]string) (Game, error) {
	band := g.Band(now)
	out := Game{
		ID: int64(g.ID), URL: s.abs(gamePath(int64(g.ID))), Guild: g.Guild, Status: string(g.Status), Over: g.Over(now),
		StartMS: ms(g.Start), DurationMS: g.Duration.Milliseconds(), CooldownMS: g.Cooldown.Milliseconds(),
		Sequential: g.Sequential, DeadlineMS: ms(g.Deadline), EndMS: ms(g.End(now)), EndReason: string(g.EndReason),
		RemainingMS: g.Remaining(now).Milliseconds(), Band: int(band), BandName: band.String(),
		AliveMS: g.Lifetime(now).Milliseconds(), Clicks: g.Clicks, Players: g.Players, ClaimedMS: g.Claimed.Milliseconds(),
	}
	if g.Last != nil {
		c := s.click(*g.Last)
		out.Last = &c
	}
	icon, ok := icons[g.Guild]
	if !ok {
		var err error
		if icon, err = s.reader.GuildIcon(ctx, g.Guild); err != nil {
			return Game{}, err
		}
		icons[g.Guild] = icon
	}
	out.Icon = icon
	if g.Clicks > 0 {
		low, err := s.reader.LowestClicks(ctx, g.ID, 1)
		if err != nil {
			return Game{}, err
		}
		if len(low) > 0 {
			c := s.click(low[0])
			out.ToBeat = &c
		}
	}
	return out, nil
}

// live reads the live games.
func (s *Server) live(ctx context.Context) (Live, error) {
	pos, err := s.reader.Position(ctx)
	if err != nil {
		return Live{}, err
	}
	return s.liveAt(ctx, pos)
}

// liveAt reads the live games, once the projection was at pos: they
// reflect pos or later.
func (s *Server) liveAt(ctx context.Context, pos uint64) (Live, error) {
	now := s.now()
	games, err := s.reader.ActiveGames(ctx, "")
	if err != nil {
		return Live{}, err
	}
	out := Live{NowMS: ms(now), Position: pos, Games: make([]Game, 0, len(games))}
	icons := map[string]string{}
	for _, g := range games {
		sum, err := s.summary(ctx, g, now, icons)
		if errors.Is(err, readmodel.ErrNotFound) {
			continue // gone between the two reads
		}
		if err != nil {
			return Live{}, err
		}
		out.Games = append(out.Games, sum)
	}
	return out, nil
}

func standings(ss []readmodel.Standing) []Standing {
	out := make([]Standing, len(ss))
	for i, st := range ss {
		out[i] = Standing{
			Rank: st.Rank, User: st.User, Name: st.Name, Clicks: st.Clicks, MMR: mmr(st.MMRMilli),
			ClaimedMS: st.Claimed.Milliseconds(), BestMS: st.Best.Milliseconds(), BestBand: int(st.BestBand), Bands: st.Bands,
		}
	}
	return out
}

// gamePage reads everything a game's page shows.
func (s *Server) gamePage(ctx context.Context, id events.GameID) (GamePage, error) {
	now := s.now()
	g, err := s.reader.Game(ctx, id)
	if err != nil {
		return GamePage{}, err
	}
	sum, err := s.summary(ctx, g, now, map[string]string{})
	if err != nil {
		return GamePage{}, err
	}
	p := GamePage{NowMS: ms(now), Game: sum}
	teams, err := s.reader.Teams(ctx, id)
	if err != nil {
		return GamePage{}, err
	}
	for b := events.Purple; b >= events.Red; b-- {
		st := teams.Bands[b]
		c := Colour{Band: int(b), Name: b.String(), Clicks: st.Clicks, ClaimedMS: st.Claimed.Milliseconds(), Players: st.Players}
		if teams.Clicks > 0 {
			c.Percent = 100 * float64(st.Clicks) / float64(teams.Clicks)
		}
		p.Colours = append(p.Colours, c)
	}
	for _, board := range []struct {
		b   readmodel.Board
		dst *[]Standing
	}{{readmodel.ByMMR, &p.ByMMR}, {readmodel.ByClaimed, &p.ByClaimed}, {readmodel.ByClicks, &p.ByClicks}} {
		ss, err := s.reader.Leaderboard(ctx, id, board.b, boardSize)
		if err != nil {
			return GamePage{}, err
		}
		*board.dst = standings(ss)
	}
	low, err := s.reader.LowestClicks(ctx, id, lowestSize)
	if err != nil {
		return GamePage{}, err
	}
	p.Lowest = s.clicks(low)
	recent, err := s.reader.RecentClicks(ctx, id, recentSize)
	if err != nil {
		return GamePage{}, err
	}
	p.Recent = s.clicks(recent)
	hours, err := s.reader.ClicksPerHour(ctx, id)
	if err != nil {
		return GamePage{}, err
	}
	p.PerHour = make([]Hour, len(hours))
	for i, h := range hours {
		p.PerHour[i] = Hour{HourMS: ms(h.Hour), Clicks: h.Clicks}
	}
	return p, nil
}

// card reads a player's card; ErrNotFound if they never clicked.
func (s *Server) card(ctx context.Context, user string) (Card, error) {
	now := s.now()
	games, err := s.reader.PlayerGames(ctx, user)
	if err != nil {
		return Card{}, err
	}
	games = slices.DeleteFunc(games, func(p readmodel.Player) bool { return p.Clicks == 0 })
	if len(games) == 0 {
		return Card{}, fmt.Errorf("player %s: %w", user, readmodel.ErrNotFound)
	}
	c := Card{NowMS: ms(now), User: user, Games: make([]CardGame, 0, len(games))}
	var best *readmodel.Player
	var milli int64
	for i, p := range games {
		if c.Name == "" {
			c.Name = p.Name // the most recently clicked game first: the latest name
		}
		c.Clicks += p.Clicks
		c.ClaimedMS += p.Claimed.Milliseconds()
		milli += p.MMRMilli
		for b := range 6 {
			c.Bands[b] += p.Bands[b]
		}
		if best == nil || cmp.Or(cmp.Compare(p.Best, best.Best), cmp.Compare(p.Game, best.Game)) < 0 {
			best = &games[i]
		}
		cg := CardGame{
			Game: int64(p.Game), Clicks: p.Clicks, BestMS: p.Best.Milliseconds(), BestBand: int(p.BestBand), BestNumber: p.BestNumber,
			ClaimedMS: p.Claimed.Milliseconds(), MMR: mmr(p.MMRMilli), FirstMS: ms(p.FirstAt), LastMS: ms(p.LastAt), Bands: p.Bands,
		}
		if i < cardStripGames {
			bands, _, err := s.reader.PlayerBands(ctx, p.Game, user, int(max(0, p.Clicks-cardStrip)), cardStrip)
			if err != nil && !errors.Is(err, readmodel.ErrNotFound) {
				return Card{}, err
			}
			cg.Latest = make([]int, len(bands))
			for k, b := range bands {
				cg.Latest[k] = int(b)
			}
		}
		c.Games = append(c.Games, cg)
	}
	c.MMR = mmr(milli)
	b, err := s.reader.Clicks(ctx, best.Game, best.BestNumber, 1)
	if err != nil {
		return Card{}, err
	}
	if len(b) == 1 {
		bc := s.click(b[0])
		c.Best = &bc
	}
	return c, nil
}
