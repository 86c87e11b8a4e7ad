package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redismarks"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// discordResult is what `bench discord` prints. Lags are measured at the
// fake Discord: from a click's time to the message announcing it, from a
// game's deadline to the edit turning its message into the end summary.
// Figures over several guilds are over all of them (the lags' worst).
type discordResult struct {
	Guilds    int     `json:"guilds"`
	Players   int     `json:"players"`
	Presses   int     `json:"presses"`
	DurationS float64 `json:"duration_s"`
	ClockS    float64 `json:"clock_s"`
	CooldownS float64 `json:"cooldown_s"`
	// SetupMS is from the first game's start to every game message
	// posted: the presses begin then, and the clocks run meanwhile.
	SetupMS int64 `json:"setup_ms"`

	Accepted          int     `json:"accepted"`
	AnnounceLagP50MS  float64 `json:"announce_lag_p50_ms"`
	AnnounceLagP99MS  float64 `json:"announce_lag_p99_ms"`
	AnnounceLagMaxMS  float64 `json:"announce_lag_max_ms"`
	Unannounced       int     `json:"unannounced"`
	AnnouncedTwice    int     `json:"announced_twice"`
	EndLagMS          float64 `json:"end_lag_ms"`
	EndAnnounceLagMS  float64 `json:"end_announce_lag_ms"`
	RoleGrants        int     `json:"role_grants"`
	RoleGrantsNeeded  int     `json:"role_grants_needed"`
	RoleGrantsRepeat  int     `json:"role_grants_repeated"`
	RoleGrantsEnd     int     `json:"role_grants_after_end"`
	RoleGrantsMax     int     `json:"role_grants_needed_max_guild"`
	RolesCompleteS    float64 `json:"roles_complete_s"`
	Status429         int     `json:"status_429"`
	EditsPerChannel5s int     `json:"edits_per_channel_max_5s"`
}

// discordBench are the settings of one run.
type discordBench struct {
	guilds, players, presses  int
	duration, clock, cooldown time.Duration
}

// discordRig is what a run goes on: the event stream, Redis for the views
// and done-marks (keys under prefix) and the reactor's consumer options.
type discordRig struct {
	conn    *Conn
	stream  string
	rdb     redis.UniversalClient
	prefix  string
	reactor projector.Options
}

func runBenchDiscord(ctx context.Context, a *Env, args []string) error {
	fs := newFlagSet(a, "bench discord",
		"bench discord --guilds G --players P --presses N --duration D --clock C --cooldown W")
	var s discordBench
	fs.IntVar(&s.guilds, "guilds", 1, "guilds, each with its own game and burst, all at once")
	fs.IntVar(&s.players, "players", 100, "members pressing in each guild")
	fs.IntVar(&s.presses, "presses", 1000, "presses per guild, spread evenly over --duration")
	fs.DurationVar(&s.duration, "duration", 20*time.Second, "how long the presses of a burst go on")
	fs.DurationVar(&s.clock, "clock", 60*time.Second, "the games' duration (their clock)")
	fs.DurationVar(&s.cooldown, "cooldown", 3*time.Second, "the games' cooldown per player")
	settings := a.w.Flags(fs, Flags{NATS: true})
	redisURL := fs.String("redis-url", "redis://127.0.0.1:6379/0",
		"Redis for the views and done-marks (keys under a scratch prefix, deleted afterwards) [REDIS_URL]")
	if err := parseFlags(a, fs, args, func() error {
		var problems []error
		if s.guilds < 1 || s.players < 1 || s.presses < 1 || s.duration <= 0 || s.clock < time.Second || s.cooldown < 0 {
			problems = append(problems, errors.New("guilds, players, presses and duration must be positive, clock at least 1s, cooldown not negative"))
		}
		return errors.Join(append(problems, settings.Check())...)
	}); err != nil {
		return err
	}
	c := settings.Config()
	log := c.Log
	// A scratch store: the bench never touches the service's data.
	cleanup, err := benchDir(&c.NATS, false, log)
	if err != nil {
		return err
	}
	defer cleanup()
	rdb, err := a.w.OpenRedis(*redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	n, err := a.w.OpenNATS(ctx, c.NATS, log)
	if err != nil {
		return err
	}
	defer n.Close()
	prefix := fmt.Sprintf("bench:discord:%d:", time.Now().UnixNano())
	defer deletePrefix(a.w, rdb, prefix)
	res, err := benchDiscord(ctx, discordRig{conn: n, stream: c.NATS.Stream, rdb: rdb, prefix: prefix,
		reactor: a.w.ReactorOptions(log)}, s, log)
	if err != nil {
		return err
	}
	return printJSON(a.stdout, res)
}

// benchDiscord runs the burst against a fake Discord with Discord's rate
// limits and measures what it shows.
func benchDiscord(ctx context.Context, r discordRig, s discordBench, log *slog.Logger) (discordResult, error) {
	res := discordResult{Guilds: s.guilds, Players: s.players, Presses: s.presses, DurationS: s.duration.Seconds(),
		ClockS: s.clock.Seconds(), CooldownS: s.cooldown.Seconds()}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n, rdb, prefix := r.conn, r.rdb, r.prefix

	const tok = "bench-token"
	fake := discordtest.NewServer(discordtest.Options{Token: tok}) // Discord's limits
	defer fake.Close()

	h := commands.NewHandler(n.Store, commands.SystemClock{}, log.With("component", "commands"))
	if err := h.Open(ctx); err != nil {
		return res, err
	}
	defer h.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	tk := commands.NewTimekeeper(h, nil, log.With("component", "timekeeper"))
	wg.Go(func() { _ = tk.Run(ctx) })
	views := projector.New(n.Store.Feed(), redisproj.New(rdb, redisproj.Options{Prefix: prefix}),
		projector.Options{Log: log.With("projection", "redis")})
	wg.Go(func() { _ = views.Run(ctx) })

	bot, err := discordbot.New(discordbot.Config{Token: tok, HTTPClient: fake.Client(), Log: log.With("component", "discordbot")},
		h, redisproj.NewReader(rdb, prefix),
		redismarks.New(rdb, redismarks.Options{Prefix: prefix + "discord:"}))
	if err != nil {
		return res, err
	}
	octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
	err = bot.Open(octx)
	ocancel()
	if err != nil {
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = bot.Close(cctx)
	}()
	reactor := projector.New(n.Store.Feed(), bot.Reactor(), r.reactor)
	wg.Go(func() { _ = reactor.Run(ctx) })

	type benchGuild struct {
		id, button, chat, admin, msg string
		game                         events.GameID
	}
	users := make([]string, s.players)
	for k := range users {
		users[k] = strconv.Itoa(800000000000000000 + k)
	}
	guilds := make([]*benchGuild, s.guilds)
	for i := range guilds {
		id, chans := fake.AddGuild(fmt.Sprintf("Bench %d", i), 0, "button", "chat")
		g := &benchGuild{id: id, button: chans[0], chat: chans[1]}
		g.admin = fake.AddMember(id, "", "Admin", AdminPerms)
		for k, u := range users {
			fake.AddMember(id, u, "Player "+strconv.Itoa(k), PlayerPerms)
		}
		guilds[i] = g
	}
	setup := time.Now()
	for _, g := range guilds {
		st, err := h.StartGame(ctx, commands.StartGame{Guild: g.id, Channel: g.button, ChatChannel: g.chat, By: g.admin,
			ByName: "Admin", Duration: s.clock, Cooldown: s.cooldown})
		if err != nil {
			return res, fmt.Errorf("start bench game: %w", err)
		}
		g.game = st.Game
	}
	if err := poll(ctx, time.Minute, func() bool {
		for _, g := range guilds {
			if g.msg == "" {
				st, ok, err := h.Game(ctx, g.game)
				if err != nil || !ok || st.MessageID == "" {
					return false
				}
				g.msg = st.MessageID
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("game messages: %w", err)
	}
	res.SetupMS = time.Since(setup).Milliseconds()

	// The bursts, every guild at once, each press at its time.
	start := time.Now()
	var pw sync.WaitGroup
	for gi, g := range guilds {
		pw.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(gi), 7))
			for k := range s.presses {
				due := start.Add(time.Duration(k) * s.duration / time.Duration(s.presses))
				if d := time.Until(due); d > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(d):
					}
				}
				if ctx.Err() != nil {
					return
				}
				u := users[rng.IntN(len(users))]
				pw.Go(func() {
					wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					_, _ = fake.Press(g.id, g.button, u, discordbot.PressID(g.game), g.msg).Wait(wctx)
				})
			}
		})
	}
	pw.Wait()
	log.Info("bench discord: presses sent", "guilds", s.guilds, "presses", s.presses*s.guilds, "in", time.Since(start).Round(time.Millisecond))

	// The clicks as the stream has them, once every game ended.
	type clickRef struct {
		game events.GameID
		n    int64
	}
	clicks := map[clickRef]events.ButtonClicked{}
	ends := map[events.GameID]events.GameEnded{}
	endStored := map[events.GameID]time.Time{}
	lastClick := map[string]time.Time{}
	needed := map[string]int{}
	if err := poll(ctx, s.clock+time.Minute, func() bool {
		for _, g := range guilds {
			st, ok, err := h.Game(ctx, g.game)
			if err != nil || !ok || st.Active() {
				return false
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("games did not end: %w", err)
	}
	for _, g := range guilds {
		recs, err := n.Store.Load(ctx, events.GameSubject(g.game), 0)
		if err != nil {
			return res, err
		}
		pairs := map[string]bool{}
		for _, r := range recs {
			switch e := r.Event.(type) {
			case events.ButtonClicked:
				clicks[clickRef{e.Game, e.Number}] = e
				pairs[e.User+"/"+strconv.Itoa(int(e.Band))] = true
				if at := time.UnixMilli(e.AtMS); at.After(lastClick[g.id]) {
					lastClick[g.id] = at
				}
			case events.GameEnded:
				ends[e.Game] = e
				endStored[e.Game] = r.Stored
			}
		}
		needed[g.id] = len(pairs)
		res.RoleGrantsMax = max(res.RoleGrantsMax, len(pairs))
		res.RoleGrantsNeeded += len(pairs)
	}
	res.Accepted = len(clicks)

	// Wait for what Discord should show: every click announced, every
	// end, every role; give up after the time the limits need and more.
	grants := func() []discordtest.Call {
		var out []discordtest.Call
		for _, call := range fake.CallsTo("PUT /guilds/{guild}/members/{user}/roles/{role}") {
			if call.Status < 300 {
				out = append(out, call)
			}
		}
		return out
	}
	announced := func() map[clickRef][]time.Time {
		out := map[clickRef][]time.Time{}
		for _, g := range guilds {
			for _, m := range fake.Messages(g.chat) {
				for _, em := range m.Embeds {
					for _, ref := range AnnouncedClicks(em) {
						r := clickRef{events.GameID(ref[0]), ref[1]}
						out[r] = append(out[r], m.CreatedAt)
					}
				}
			}
		}
		return out
	}
	maxNeeded := 0
	for _, v := range needed {
		maxNeeded = max(maxNeeded, v)
	}
	endAnnounced := func(chat string) time.Time {
		at := time.Time{}
		for _, m := range fake.Messages(chat) {
			for _, em := range m.Embeds {
				if strings.Contains(em.Description, "is over") || strings.Contains(em.Title, "is over") {
					at = m.CreatedAt
				}
			}
		}
		return at
	}
	_ = poll(ctx, time.Duration(maxNeeded)*time.Second+30*time.Second, func() bool {
		if len(grants()) < res.RoleGrantsNeeded || len(announced()) < len(clicks) ||
			!endsShown(fake, guilds2ids(guilds, func(g *benchGuild) string { return g.msg })) {
			return false
		}
		for _, g := range guilds {
			if endAnnounced(g.chat).IsZero() {
				return false
			}
		}
		return true
	})

	// Announcements.
	ann := announced()
	var lags []float64
	for ref, e := range clicks {
		at, ok := ann[ref]
		if !ok {
			res.Unannounced++
			continue
		}
		if len(at) > 1 {
			res.AnnouncedTwice++
		}
		lags = append(lags, float64(at[0].Sub(time.UnixMilli(e.AtMS)).Milliseconds()))
	}
	slices.Sort(lags)
	if len(lags) > 0 {
		res.AnnounceLagP50MS = lags[len(lags)/2]
		res.AnnounceLagP99MS = lags[min(len(lags)-1, len(lags)*99/100)]
		res.AnnounceLagMaxMS = lags[len(lags)-1]
	}
	// Ends.
	var endLags, endAnnounceLags []float64
	deadlines := map[string]time.Time{}
	for _, g := range guilds {
		if _, ok := ends[g.game]; !ok {
			continue
		}
		st, _, err := h.Game(ctx, g.game)
		if err != nil {
			return res, err
		}
		deadline := time.UnixMilli(st.DeadlineMS())
		deadlines[g.id] = deadline
		log.Info("bench discord: end", "guild", g.id, "event_lag", endStored[g.game].Sub(deadline))
		summary := time.Time{}
		for _, call := range fake.CallsTo("PATCH /channels/{channel}/messages/{message}", "message", g.msg) {
			if call.Status < 300 && strings.Contains(string(call.Body), `"disabled":true`) {
				summary = call.At
				break
			}
		}
		endLags = append(endLags, lagMS(summary, deadline))
		endAnnounceLags = append(endAnnounceLags, lagMS(endAnnounced(g.chat), deadline))
	}
	res.EndLagMS, res.EndAnnounceLagMS = worst(endLags), worst(endAnnounceLags)
	// Roles.
	seen := map[string]bool{}
	lastGrant := map[string]time.Time{}
	for _, call := range grants() {
		k := call.Vars["guild"] + "/" + call.Vars["user"] + "/" + call.Vars["role"]
		if seen[k] {
			res.RoleGrantsRepeat++
		}
		seen[k] = true
		res.RoleGrants++
		if d, ok := deadlines[call.Vars["guild"]]; ok && call.At.After(d) {
			res.RoleGrantsEnd++
		}
		if call.At.After(lastGrant[call.Vars["guild"]]) {
			lastGrant[call.Vars["guild"]] = call.At
		}
	}
	for gid, at := range lastGrant {
		res.RolesCompleteS = max(res.RolesCompleteS, at.Sub(lastClick[gid]).Seconds())
	}
	res.RolesCompleteS = float64(int(res.RolesCompleteS*10)) / 10
	res.Status429 = len(fake.RateLimited())
	// Game-message edits per channel in any 5 s.
	byChannel := map[string][]time.Time{}
	for _, call := range fake.CallsTo("PATCH /channels/{channel}/messages/{message}") {
		byChannel[call.Vars["channel"]] = append(byChannel[call.Vars["channel"]], call.At)
	}
	for _, ats := range byChannel {
		j := 0
		for i := range ats {
			for ats[i].Sub(ats[j]) >= 5*time.Second {
				j++
			}
			res.EditsPerChannel5s = max(res.EditsPerChannel5s, i-j+1)
		}
	}
	return res, nil
}

// lagMS is the lag from deadline to at, -1 when at never came.
func lagMS(at, deadline time.Time) float64 {
	if at.IsZero() {
		return -1
	}
	return float64(at.Sub(deadline).Milliseconds())
}

// worst is the highest lag, -1 when one never came or there is none.
func worst(lags []float64) float64 {
	if len(lags) == 0 || slices.Contains(lags, -1) {
		return -1
	}
	return slices.Max(lags)
}

// Permissions of the bench's members: an admin who may start games, and
// players.
const (
	AdminPerms  = int64(discordgo.PermissionManageGuild | discordgo.PermissionViewChannel | discordgo.PermissionSendMessages)
	PlayerPerms = int64(discordgo.PermissionViewChannel | discordgo.PermissionSendMessages)
)

func guilds2ids[T any](list []T, f func(T) string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, f(x))
	}
	return out
}

// endsShown reports whether every game message shows its end summary.
func endsShown(fake *discordtest.Server, msgs []string) bool {
	for _, id := range msgs {
		m, ok := fake.Message(id)
		if !ok || len(m.Embeds) == 0 || !strings.Contains(m.Embeds[0].Title, "is over") {
			return false
		}
	}
	return true
}

var (
	richClick    = regexp.MustCompile(`pressed game #(\d+) `)
	richFooter   = regexp.MustCompile(`^Click #(\d+)$`)
	compactClick = regexp.MustCompile(`pressed game #(\d+):.*Click #(\d+)`)
)

// AnnouncedClicks returns the (game, click number) pairs an announcement
// embed shows: one embed per click, or one line per click.
func AnnouncedClicks(em *discordgo.MessageEmbed) [][2]int64 {
	var out [][2]int64
	desc := em.Description
	if m := richClick.FindStringSubmatch(desc); m != nil && em.Footer != nil {
		if f := richFooter.FindStringSubmatch(em.Footer.Text); f != nil {
			g, _ := strconv.ParseInt(m[1], 10, 64)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return append(out, [2]int64{g, n})
		}
	}
	for _, line := range strings.Split(desc, "\n") {
		if m := compactClick.FindStringSubmatch(line); m != nil {
			g, _ := strconv.ParseInt(m[1], 10, 64)
			n, _ := strconv.ParseInt(m[2], 10, 64)
			out = append(out, [2]int64{g, n})
		}
	}
	return out
}

// poll checks cond every 100 ms until it holds, ctx ends or d passed.
func poll(ctx context.Context, d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// deletePrefix deletes the bench's Redis keys (on every master of a
// cluster).
func deletePrefix(w Wiring, rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = deleteRedisPrefix(ctx, w, rdb, prefix)
}
