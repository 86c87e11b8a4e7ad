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

var clickFooter = regexp.MustCompile(`^Click #(\d+)$`)
var gameRef = regexp.MustCompile(`pressed game #(\d+) `)

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
					if em.Footer == nil {
						continue
					}
					c := clickFooter.FindStringSubmatch(em.Footer.Text)
					gm := gameRef.FindStringSubmatch(em.Description)
					if c != nil && gm != nil {
						out[gm[1]+"/"+c[1]]++
					}
				}
			}
		}
		return out
	}
	e.wait(3*time.Minute, "every role grant and announcement", func() bool {
		return grants() >= accepted && len(announced()) >= accepted
	})
	time.Sleep(2 * time.Second) // anything repeated would show now
	if n := grants(); n != accepted {
		t.Errorf("%d role grants, want exactly %d", n, accepted)
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
	// Per-channel pacing of game-message edits.
	for _, g := range games {
		edits := e.fake.CallsTo("PATCH /channels/{channel}/messages/{message}", "channel", g.button)
		for i := 1; i < len(edits); i++ {
			if gap := edits[i].At.Sub(edits[i-1].At); gap < e.cfg.EditInterval-50*time.Millisecond {
				t.Errorf("channel %s: edits %v apart", g.button, gap)
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
