package imaging

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// SyntheticGame returns a made-up game of n clicks for previews, tests and
// benchmarks: deterministic for a seed, played under the real rules (each
// click's value is the time left when it came, so clicks follow each other
// by duration − value; a 3-hour cooldown per player when possible), with
// mostly early Purple clicks and a thin tail down to Red, player activity
// skewed like a real server, and names that include a 32-character one and
// non-ASCII letters. The game has a 12-hour clock, starts on 3 March 2025
// 18:00 UTC and ends at its last click + 12 h when it ended.
func SyntheticGame(seed int64, n int, ended bool) GameStats {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7468656275747465))
	const duration = 12 * time.Hour
	start := time.Date(2025, 3, 3, 18, 0, 0, 0, time.UTC)
	players := syntheticNames(max(2, min(120, n/40+8)))
	// Zipf-like activity: player i is picked with weight 1/(i+1)^0.9.
	weights := make([]float64, len(players))
	total := 0.0
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), 0.9)
		total += weights[i]
	}
	lastClick := make([]time.Time, len(players))
	g := GameStats{Game: 42, Duration: duration, Start: start, Status: "active"}
	g.Clicks = make([]Click, 0, n)
	now := start
	for i := 0; i < n; i++ {
		// Remaining fraction u: 88 % early Purple (exponential in time
		// claimed, a few minutes on average), then thinner bands.
		var u float64
		switch r := rng.Float64(); {
		case r < 0.88:
			u = 1 - math.Min(rng.ExpFloat64()*(6.0/720), 1.0/6-1e-9)
		case r < 0.93:
			u = (4 + rng.Float64()) / 6
		case r < 0.96:
			u = (3 + rng.Float64()) / 6
		case r < 0.98:
			u = (2 + rng.Float64()) / 6
		case r < 0.992:
			u = (1 + rng.Float64()) / 6
		default:
			u = rng.Float64() / 6
		}
		value := time.Duration(u*float64(duration)) / time.Millisecond * time.Millisecond
		at := now.Add(duration - value)
		// Pick an active player whose cooldown is over, if any.
		p := -1
		for try := 0; try < 12 && p < 0; try++ {
			x := rng.Float64() * total
			for j, w := range weights {
				if x < w || j == len(weights)-1 {
					if lastClick[j].IsZero() || at.Sub(lastClick[j]) >= 3*time.Hour {
						p = j
					}
					break
				}
				x -= w
			}
		}
		if p < 0 {
			p = rng.IntN(len(players))
		}
		lastClick[p] = at
		band := Band(min(5, int(int64(NumBands)*int64(value)/int64(duration))))
		g.Clicks = append(g.Clicks, Click{
			At: at, Value: value, Duration: duration, Band: band, Claimed: duration - value,
			PlayerID: fmt.Sprintf("p%03d", p), Player: players[p],
		})
		now = at
	}
	g.End = now
	if ended {
		g.Status = "ended"
		g.End = now.Add(duration)
	}
	return g
}

// SyntheticPlayer returns the PlayerStats of the player with the given
// PlayerID in g, ranked by total time claimed among all players of g.
func SyntheticPlayer(g GameStats, playerID string) PlayerStats {
	claimed := map[string]time.Duration{}
	ps := PlayerStats{Game: g.Game, Duration: g.Duration}
	for _, c := range g.Clicks {
		claimed[c.PlayerID] += c.Claimed
		if c.PlayerID == playerID {
			ps.Name = c.Player
			ps.Clicks = append(ps.Clicks, c)
		}
	}
	ids := make([]string, 0, len(claimed))
	for id := range claimed {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if claimed[a] != claimed[b] {
			if claimed[a] > claimed[b] {
				return -1
			}
			return 1
		}
		return cmpString(a, b)
	})
	ps.Players = len(ids)
	ps.Rank = slices.Index(ids, playerID) + 1
	return ps
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// syntheticNames returns n distinct player names; the first ones are the
// awkward cases a chart must survive.
func syntheticNames(n int) []string {
	names := []string{
		"Sir Pressalot the Unstoppable 32", // exactly 32 characters
		"Zoë",
		"moss",
		"Ørjan Kvist",
		"TimeGuardian_99",
		"WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW", // 32 of the widest letter
		"x",
		"Łucja",
		"el_botón",
		"Naïve Clicker",
	}
	adj := []string{"Amber", "Brisk", "Calm", "Daring", "Eager", "Frosty", "Gentle", "Hasty", "Idle", "Jolly", "Keen", "Lucky"}
	noun := []string{"Otter", "Falcon", "Badger", "Comet", "Lantern", "Pebble", "Heron", "Maple", "Quill", "Raven"}
	for i := 0; len(names) < n; i++ {
		names = append(names, fmt.Sprintf("%s%s%d", adj[i%len(adj)], noun[(i/len(adj))%len(noun)], i))
	}
	return names[:n]
}
