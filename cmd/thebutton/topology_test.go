package main

import (
	"context"
	"fmt"
	"os"
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
// limits), 50 games in 20 guilds. Players press at a bounded rate, their
// interactions signed and sent over HTTP through a round-robin load
// balancer to all three instances' /interactions; one
// instance — the one holding the discord-effects lease — is killed with
// SIGKILL in the middle. Then:
//   - its leases are held by the others within the lease's TTL;
//   - every press the players were told was accepted is stored exactly
//     once, no refused press is stored, none is left unanswered, and no
//     click is stored that nobody pressed;
//   - the game rules hold on the stream alone (commands.Audit);
//   - `thebutton verify` finds both projections equal to the stream;
//   - the fake Discord answered no call with 429;
//   - no channel's game message was edited by two instances at once
//     (in flight together, or less than 1 s apart: one owner keeps 2 s).
func TestTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the topology test builds the binary and runs a cluster for about a minute")
	}
	const (
		rate      = 120 // presses per second, all instances together
		load      = 18 * time.Second
		killAfter = 6 * time.Second
		leaseTTL  = 3 * time.Second
	)
	began := time.Now()
	rig := startTopology(t, topoPlan{instances: 3, guilds: 20, games: 50, players: 8, leaseTTL: leaseTTL})
	defer rig.dumpLogs()
	up := time.Since(began)
	ctx := context.Background()
	games := rig.startGames(ctx, 10*time.Minute, 2*time.Second)
	t.Logf("topology up in %s (%s); %d games in %d guilds posted %s later",
		up.Round(time.Millisecond), strings.Join(rig.phases, ", "), len(games), len(rig.guilds),
		(time.Since(began) - up).Round(time.Millisecond))

	presses := startPresses(rig.fake, games, rate, load)
	testwait.For(t, killAfter+10*time.Second, func() bool { return presses.elapsed(killAfter) },
		testwait.Say("the load never reached the kill"))
	holders := rig.leaseHolders(ctx)
	victim := rig.insts[0]
	for _, in := range rig.insts {
		if in.name == holders[reactorProjection] {
			victim = in
		}
	}
	rig.kill(victim)
	t.Logf("SIGKILL %s %s into the load; it held %s", victim.name, killAfter, leasesOf(holders, victim.name))

	moved := rig.waitLeasesMoved(ctx, victim, reactorLeaseTTL+leaseTTL+10*time.Second)
	t.Logf("its leases held by the others %s after the kill (lease TTL %s, the reactor's %s)",
		moved.Round(time.Millisecond), leaseTTL, reactorLeaseTTL)
	if limit := max(reactorLeaseTTL, leaseTTL) + 5*time.Second; moved > limit {
		t.Errorf("leases moved %s after the kill, want within %s (TTL + 5 s)", moved, limit)
	}
	all := presses.wait()
	for _, in := range rig.live() {
		rig.waitReady(in, 60*time.Second)
	}

	hist := rig.history(ctx)
	counts := checkPresses(t, all, hist)
	p50, p99 := answerLatencies(all)
	t.Logf("%d presses over %s (%.0f/s asked): %v; answer p50 %s p99 %s", len(all),
		presses.took.Round(time.Millisecond), float64(rate), counts, p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	answered, failover := rig.lb.stats()
	t.Logf("answers other than accepted: %v; interactions answered per instance %v, %d sent to another after one did not answer",
		answerTexts(all), answered, failover)
	if counts[verdictNone] > 0 || counts[verdictUnknown] > 0 {
		t.Errorf("%d presses unanswered and %d answered unknown, want none", counts[verdictNone], counts[verdictUnknown])
	}
	clicks := 0
	for id, recs := range hist {
		for _, p := range commands.Audit(recs) {
			t.Errorf("game %d: rule broken: %s", id, p)
		}
		clicks += len(recs)
	}
	t.Logf("commands.Audit on %d games (%d events)", len(hist), clicks)

	verifyStart := time.Now()
	if out, err := rig.verify(ctx); err != nil {
		t.Errorf("thebutton verify: %v\n%s", err, out)
	} else {
		t.Logf("%s (%s)", strings.TrimSpace(lastLine(out)), time.Since(verifyStart).Round(time.Millisecond))
	}

	if n := len(rig.fake.RateLimited()); n > 0 {
		t.Errorf("the fake Discord answered %d calls with 429, want none: first %s %s", n,
			rig.fake.RateLimited()[0].Method, rig.fake.RateLimited()[0].Path)
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
	t.Logf("%d REST calls (%s), %d answered 429; %d game-message edits, editing instance changed %d times across %d channels",
		len(rig.fake.Calls()), callsPerInstance(rig.insts), len(rig.fake.RateLimited()), edits, switches, len(buttons))
	load1, _ := os.ReadFile("/proc/loadavg")
	t.Logf("whole test %s; load average %s", time.Since(began).Round(time.Millisecond), strings.TrimSpace(string(load1)))
}

// reactorProjection is the discord-effects reactor's lease name.
const reactorProjection = "discord"

// waitLeasesMoved waits until no projection lease names the killed
// instance and returns how long after the kill that was.
func (r *topoRig) waitLeasesMoved(ctx context.Context, victim *topoInstance, within time.Duration) time.Duration {
	r.t.Helper()
	var held map[string]string
	testwait.For(r.t, within, func() bool {
		held = r.leaseHolders(ctx)
		return leasesOf(held, victim.name) == "" && len(held) > 0
	}, func() string { return fmt.Sprintf("leases still held by %s: %v", victim.name, held) })
	return time.Since(victim.killedAt)
}

// leasesOf lists the leases holder holds.
func leasesOf(holders map[string]string, holder string) string {
	var out []string
	for p, h := range holders {
		if h == holder {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
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
