package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/internal/testwait"
)

// TestTopology is the whole scaled-out deployment in one test, on
// loopback: a 3-node JetStream cluster with the stream at R3, a Redis
// Cluster (3 masters, 3 replicas), MariaDB, and 3 `thebutton run`
// processes of the built binary against the fake Discord (Discord's real
// limits, max_concurrency 1), the bot sharded over them (DISCORD_SHARDS=3,
// leases in NATS KV, one Discord budget shared in NATS), 50 games in 20
// guilds spread over the shards. Players press at a bounded rate (120/s),
// their interactions signed (Ed25519) and sent over HTTP through a
// round-robin load balancer to all three instances' /interactions. One
// instance — holding a shard and the Redis projection's lease — is killed
// with SIGKILL in the middle. Then:
//   - every shard is served again by the survivors within the shard
//     lease's TTL, a renewal period and one identify (+3 s slack); the
//     projections' leases move within their TTL (+5 s), a shard's reactor
//     lease within a reactor TTL of its shard's takeover (+5 s);
//   - every press the players were told was accepted is stored exactly
//     once, no refused press is stored, none is left unanswered, and no
//     click is stored that nobody pressed;
//   - the game rules hold on the stream alone (commands.Audit);
//   - `thebutton verify` finds both projections equal to the stream;
//   - the fake Discord answered no call with 429;
//   - no channel's game message was edited by two instances at once
//     (in flight together, or less than 1 s apart: one owner keeps 2 s).
//
// It takes about 80 s on a busy 2-core machine and says what it measured.
func TestTopology(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: the topology test builds the binary and runs a cluster for over a minute")
	}
	const (
		rate      = 120 // presses per second, all instances together
		load      = 20 * time.Second
		killAfter = 5 * time.Second
		leaseTTL  = 3 * time.Second // PROJECTOR_LEASE_TTL
		shards    = 3
		// A shard's lease lasts the reactor's TTL (10 s); its new holder
		// then identifies, one shard per 5 s (max_concurrency 1).
		shardTTL = reactorLeaseTTL
		identify = 5 * time.Second
	)
	began := time.Now()
	rig := startTopology(t, topoPlan{instances: 3, guilds: 20, games: 50, players: 8, shards: shards, leaseTTL: leaseTTL})
	defer rig.dumpLogs()
	up := time.Since(began)
	ctx := context.Background()
	t.Logf("shards at start: %v", rig.shardHolders(ctx))
	games := rig.startGames(ctx, 10*time.Minute, 2*time.Second)
	t.Logf("topology up in %s (%s); %d games in %d guilds posted %s later",
		up.Round(time.Millisecond), strings.Join(rig.phases, ", "), len(games), len(rig.guilds),
		(time.Since(began) - up).Round(time.Millisecond))

	presses := startPresses(rig.fake, games, rate, load)
	testwait.For(t, killAfter+10*time.Second, func() bool { return presses.elapsed(killAfter) },
		testwait.Say("the load never reached the kill"))
	holders, shardsHeld := rig.leaseHolders(ctx), rig.shardHolders(ctx)
	victim := rig.victim(holders, shardsHeld)
	rig.kill(victim)
	t.Logf("SIGKILL %s %s into the load; it held shards %v and leases %v", victim.name, killAfter,
		shardsOf(shardsHeld, victim.name), leasesOf(holders, victim.name))

	// The projections' leases lapse after their TTL. A shard's reactor
	// lease is sought by the shard's new holder only once it holds the
	// shard, and lapses a reactor TTL after that: effects of the victim's
	// guilds resume up to two TTLs after the kill (they are delayed, not
	// lost: the reactor's checkpoint stayed behind them).
	tk := rig.watchTakeover(ctx, victim, leasesOf(holders, victim.name), 2*reactorLeaseTTL+identify+20*time.Second)
	t.Logf("every shard served again %s after the kill (shard lease TTL %s + identify %s): %v; its leases held by others after %v (lease TTL %s, the reactors' %s)",
		tk.shards, shardTTL, identify, rig.shardHolders(ctx), tk.leases, leaseTTL, reactorLeaseTTL)
	tk.check(t, shardTTL+shardTTL/5+identify+3*time.Second, leaseTTL+5*time.Second, reactorLeaseTTL+5*time.Second)

	all := presses.wait()
	for _, in := range rig.live() {
		rig.waitReady(in, 60*time.Second)
	}
	t.Logf("%d presses over %s (%.0f/s asked)", len(all), presses.took.Round(time.Millisecond), float64(rate))
	checkStream(t, rig, all)

	verifyStart := time.Now()
	if out, err := rig.verify(ctx); err != nil {
		t.Errorf("thebutton verify: %v\n%s", err, out)
	} else {
		t.Logf("%s (%s)", strings.TrimSpace(lastLine(out)), time.Since(verifyStart).Round(time.Millisecond))
	}
	checkDiscord(t, rig, games)
	load1, _ := os.ReadFile("/proc/loadavg")
	t.Logf("whole test %s; load average %s", time.Since(began).Round(time.Millisecond), strings.TrimSpace(string(load1)))
}

// check fails the test if the shards were served again later than
// shards after the kill, a projection's lease moved later than leases,
// or a shard's reactor lease later than reactors after its shard.
func (tk takeover) check(t *testing.T, shards, leases, reactors time.Duration) {
	t.Helper()
	if tk.shards > shards {
		t.Errorf("shards served again %s after the kill, want within %s (TTL, a renewal period, identify, 3 s slack)", tk.shards, shards)
	}
	for lease, took := range tk.leases {
		limit := leases
		if strings.HasPrefix(lease, "discord-shard-") {
			limit = tk.shards + reactors
		}
		if took > limit {
			t.Errorf("lease %s moved %s after the kill, want within %s", lease, took, limit)
		}
	}
}

// checkStream compares what the players were told with the stream (no
// press lost or doubled, none unanswered) and checks the game rules on
// the stream alone.
func checkStream(t *testing.T, rig *topoRig, all []*topoPress) {
	t.Helper()
	hist := rig.history(context.Background())
	counts := checkPresses(t, all, hist)
	p50, p99 := answerLatencies(all)
	answered, failover := rig.lb.stats()
	t.Logf("answers %v, p50 %s p99 %s; other than accepted: %v; answered per instance %v, %d sent to another after one did not answer",
		counts, p50.Round(time.Microsecond), p99.Round(time.Microsecond), answerTexts(all), answered, failover)
	if counts[verdictNone] > 0 || counts[verdictUnknown] > 0 {
		t.Errorf("%d presses unanswered and %d answered unknown, want none", counts[verdictNone], counts[verdictUnknown])
	}
	n := 0
	for id, recs := range hist {
		for _, p := range commands.Audit(recs) {
			t.Errorf("game %d: rule broken: %s", id, p)
		}
		n += len(recs)
	}
	t.Logf("commands.Audit on %d games (%d events)", len(hist), n)
}

// checkDiscord checks what the fake Discord saw: no call answered 429, no
// game message edited by two instances at once.
func checkDiscord(t *testing.T, rig *topoRig, games []*topoGame) {
	t.Helper()
	for _, l := range rig.rateLimited() {
		t.Errorf("answered 429 (want none): %s", l)
	}
	buttons := map[string]bool{}
	for _, g := range games {
		buttons[g.channel] = true
	}
	clashes, switches, edits := editClashes(rig.insts, buttons, time.Second)
	for i, c := range clashes {
		if i == 10 {
			t.Errorf("… %d clashes in all", len(clashes))
			break
		}
		t.Errorf("a game message edited by two instances at once: %s", c)
	}
	t.Logf("%d calls at the fake Discord (REST by instance: %s), %d answered 429; %d game-message edits, the editing instance changed %d times in %d channels",
		len(rig.fake.Calls()), callsPerInstance(rig.insts), len(rig.fake.RateLimited()), edits, switches, len(buttons))
}

// victim is the instance to kill: the one holding the Redis projection's
// lease, if it also holds a shard; else one holding a shard.
func (r *topoRig) victim(leases map[string]string, shards map[int]string) *topoInstance {
	r.t.Helper()
	var pick *topoInstance
	for _, in := range r.insts {
		if len(shardsOf(shards, in.name)) == 0 {
			continue
		}
		if pick == nil || leases["redis"] == in.name {
			pick = in
		}
	}
	if pick == nil {
		r.t.Fatalf("no instance holds a shard: %v", shards)
	}
	return pick
}

// shardsOf lists the shards holder holds.
func shardsOf(shards map[int]string, holder string) []int {
	var out []int
	for k, h := range shards {
		if h == holder {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// takeover is how long after the kill its work was taken over.
type takeover struct {
	shards time.Duration            // every shard served again, spread over the survivors
	leases map[string]time.Duration // each of the victim's leases held by another
}

// watchTakeover polls the fake Discord's sessions and the leases in NATS
// KV until the survivors serve every shard and hold every lease of
// leases (projection names), and says when each happened.
func (r *topoRig) watchTakeover(ctx context.Context, victim *topoInstance, leases []string, within time.Duration) takeover {
	r.t.Helper()
	tk := takeover{leases: map[string]time.Duration{}}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		since := time.Since(victim.killedAt).Round(100 * time.Millisecond)
		if tk.shards == 0 && r.shardsServed() && r.spread() {
			tk.shards = since
		}
		held := r.leaseHolders(ctx)
		for _, l := range leases {
			if _, ok := tk.leases[l]; !ok && held[l] != "" && held[l] != victim.name {
				tk.leases[l] = since
			}
		}
		if tk.shards > 0 && len(tk.leases) == len(leases) {
			return tk
		}
		if since > within {
			r.dumpLogsNow()
			r.t.Fatalf("%s after the kill of %s: shards %v (sessions %v), leases %v", within, victim.name,
				r.shardHolders(ctx), r.fake.ShardSessions(), held)
		}
		<-tick.C
	}
}

// leasesOf lists the leases holder holds.
func leasesOf(holders map[string]string, holder string) []string {
	var out []string
	for p, h := range holders {
		if h == holder {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func callsPerInstance(insts []*topoInstance) string {
	var out []string
	for _, in := range insts {
		out = append(out, fmt.Sprintf("%s %d", in.name, len(in.tap.Calls())))
	}
	return strings.Join(out, ", ")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
