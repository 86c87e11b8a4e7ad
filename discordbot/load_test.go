package discordbot_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/discordbot"
	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/events"
)

// loadGame is a game of the load test.
type loadGame struct {
	id            events.GameID
	guild, button string
	msg           string
}

// setupGames starts n games spread over guilds (one button channel each)
// and adds players members of every guild.
func setupGames(t testing.TB, e *env, guilds, perGuild, players int) ([]loadGame, []string) {
	t.Helper()
	var users []string
	for k := range players {
		users = append(users, fmt.Sprintf("%d", 900000000000000000+k))
	}
	var games []loadGame
	for gi := range guilds {
		guild, chans := e.fake.AddGuild(fmt.Sprintf("Load %d", gi), 0)
		for _, u := range users {
			e.fake.AddMember(guild, u, "Player "+u[len(u)-3:], permPlayer)
		}
		for ci := range perGuild {
			ch := e.fake.AddChannel(guild, fmt.Sprintf("button-%d", ci))
			chans = append(chans, ch)
			g, err := e.h.StartGame(e.ctx, commands.StartGame{Guild: guild, Channel: ch, By: e.admin, ByName: "Admin", Cooldown: -1})
			if err != nil {
				t.Fatal(err)
			}
			games = append(games, loadGame{id: g.Game, guild: guild, button: ch})
		}
	}
	e.wait(60*time.Second, "every game message", func() bool {
		for i := range games {
			if games[i].msg != "" {
				continue
			}
			g, ok, err := e.h.Game(e.ctx, games[i].id)
			if err != nil || !ok || g.MessageID == "" {
				return false
			}
			games[i].msg = g.MessageID
		}
		return true
	})
	return games, users
}

var (
	clickFooter = regexp.MustCompile(`^Click #(\d+)$`)
	gameRef     = regexp.MustCompile(`pressed game #(\d+) `)
	clickLine   = regexp.MustCompile(`pressed game #(\d+):.*Click #(\d+)`)
)

// clickRefs returns the "game/click" of each click an announcement embed
// shows: one embed per click, or one line per click when many waited.
func clickRefs(em *discordgo.MessageEmbed) []string {
	if em.Footer != nil {
		c := clickFooter.FindStringSubmatch(em.Footer.Text)
		gm := gameRef.FindStringSubmatch(em.Description)
		if c != nil && gm != nil {
			return []string{gm[1] + "/" + c[1]}
		}
	}
	var out []string
	for _, line := range strings.Split(em.Description, "\n") {
		if m := clickLine.FindStringSubmatch(line); m != nil {
			out = append(out, m[1]+"/"+m[2])
		}
	}
	return out
}

func TestLoadThousandPresses(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, envOptions{})
	games, users := setupGames(t, e, 5, 4, 200)
	settle := len(e.fake.Calls())
	_ = settle

	const presses = 1000
	const rate = 250 // per second: 1000 presses in 4 s
	type result struct {
		a   discordtest.Answer
		err error
		g   loadGame
	}
	results := make([]result, presses)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for k := range presses {
		<-tick.C
		g := games[rng.IntN(len(games))]
		u := users[rng.IntN(len(users))]
		wg.Go(func() {
			i := e.fake.Press(g.guild, g.button, u, discordbot.PressID(g.id), g.msg)
			a, err := i.Wait(e.ctx)
			results[k] = result{a, err, g}
		})
	}
	tick.Stop()
	wg.Wait()
	t.Logf("%d presses sent in %v", presses, time.Since(start).Round(time.Millisecond))

	accepted := 0
	var lat []time.Duration
	for k, r := range results {
		if r.err != nil {
			t.Fatalf("press %d: %v", k, r.err)
		}
		lat = append(lat, r.a.Latency)
		if r.a.Latency >= 3*time.Second {
			t.Errorf("press %d answered after %v", k, r.a.Latency)
		}
		switch {
		case strings.Contains(r.a.Content, "click!"):
			accepted++
		case strings.Contains(r.a.Content, "cooling down"):
		default:
			t.Errorf("press %d: unexpected answer %q", k, r.a.Content)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("answers: p50 %v p99 %v max %v; %d accepted", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], accepted)

	var total int64
	for _, g := range games {
		total += e.clickCount(g.id)
	}
	if int(total) != accepted {
		t.Fatalf("%d clicks in the stream, %d presses told accepted", total, accepted)
	}

	grants := func() int { return len(e.fake.CallsTo("PUT /guilds/{guild}/members/{user}/roles/{role}")) }
	announced := func() map[string]int {
		out := map[string]int{}
		for _, g := range games {
			for _, m := range e.fake.Messages(g.button) {
				for _, em := range m.Embeds {
					for _, ref := range clickRefs(em) {
						out[ref]++
					}
				}
			}
		}
		return out
	}
	// One grant per (guild, member, colour) the member lacked: members
	// start without colour roles.
	needed := map[string]bool{}
	for _, g := range games {
		recs, err := e.store.Load(e.ctx, events.GameSubject(g.id), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if c, ok := r.Event.(events.ButtonClicked); ok {
				needed[fmt.Sprint(c.Guild, "/", c.User, "/", c.Band)] = true
			}
		}
	}
	// Discord's 10 role changes per 10 s per guild make the grants the
	// slowest effect: about one a second per guild.
	e.wait(3*time.Minute, "every role grant and announcement", func() bool {
		return grants() >= len(needed) && len(announced()) >= accepted
	})
	e.settled(30 * time.Second) // anything repeated would show now
	if n := grants(); n != len(needed) {
		t.Errorf("%d role grants, want exactly %d (one per member and colour)", n, len(needed))
	}
	ann := announced()
	if len(ann) != accepted {
		t.Errorf("%d clicks announced, want %d", len(ann), accepted)
	}
	for k, n := range ann {
		if n != 1 {
			t.Errorf("click %s announced %d times", k, n)
		}
	}
	if rl := e.fake.RateLimited(); len(rl) != 0 {
		t.Errorf("%d calls answered 429, first %s %s", len(rl), rl[0].Method, rl[0].Path)
	}
	// Per-channel pacing of message edits, against Discord's limit of 5
	// per 5 s per channel (the fake would also answer 429, counted above).
	for _, g := range games {
		edits := e.fake.CallsTo("PATCH /channels/{channel}/messages/{message}", "channel", g.button)
		j := 0
		for i := range edits {
			for edits[i].At.Sub(edits[j].At) >= 5*time.Second {
				j++
			}
			if n := i - j + 1; n > 5 {
				t.Errorf("channel %s: %d edits within 5 s, Discord allows 5", g.button, n)
				break
			}
		}
	}
	e.wait(30*time.Second, "every game message showing its clicks", func() bool {
		for _, g := range games {
			m, _ := e.fake.Message(g.msg)
			if !strings.Contains(m.Text(), fmt.Sprintf("**%s**", plural(e.clickCount(g.id), "click"))) {
				return false
			}
		}
		return true
	})
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
