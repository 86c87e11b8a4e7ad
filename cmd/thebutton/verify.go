package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/cli"
	"github.com/thebutton-game/thebutton/projector"
)

// runVerify is `thebutton verify`.
func runVerify(ctx context.Context, a *app, args []string) error {
	var (
		c       config
		ps      projSettings
		wait    time.Duration
		profile string
	)
	fs := newFlagSet(a, "verify", "verify [flags]\n\n"+
		"Reads the whole stream, waits (--wait) for each projection to catch up, reads each projection\n"+
		"at one consistent point while its projector keeps running (Redis: one script; MySQL: one\n"+
		"transaction) and compares it with the stream up to that point. A projection on a Redis\n"+
		"Cluster is compared with its projector paused (its lease taken). Prints every difference;\n"+
		"a projection behind the stream is a difference too.")
	c.registerNATS(fs)
	c.registerSinks(fs)
	ps.register(fs, "target")
	fs.DurationVar(&wait, "wait", 30*time.Second, "how long to wait for each projection to reach the stream's end")
	fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the verification to this file")
	if err := parseFlags(a, fs, args, c.check, ps.check); err != nil {
		return err
	}
	log := c.logger(a)
	c.preferRunning = true
	n, err := openNATS(ctx, &c, log)
	if err != nil {
		return err
	}
	defer n.close()
	var sinks []projector.Sink
	for _, t := range ps.targets {
		sink, closeSink, err := openSink(ctx, &c, ps, t, log)
		if err != nil {
			return err
		}
		defer closeSink()
		sinks = append(sinks, sink)
	}
	stopProfile, err := cli.StartCPUProfile(profile)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	start := time.Now()
	diffs, err := projector.Verify(ctx, n.store.Feed(), sinks, projector.VerifyOptions{Log: log, Wait: wait, Lease: ps.lease(c.replicas)})
	if perr := stopProfile(); perr != nil && err == nil {
		err = fmt.Errorf("cpu profile: %w", perr)
	}
	if err != nil {
		return err
	}
	for _, d := range diffs {
		fmt.Fprintln(a.stdout, d.String())
	}
	last := uint64(0)
	if seq, err := n.store.Feed().LastSeq(ctx); err == nil {
		last = seq
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%d differences between the stream (last sequence %d) and %s", len(diffs), last, strings.Join(ps.targets, ", "))
	}
	fmt.Fprintf(a.stdout, "verify: %s match the stream (last sequence %d), checked in %s\n",
		strings.Join(ps.targets, " and "), last, time.Since(start).Round(time.Millisecond))
	return nil
}
