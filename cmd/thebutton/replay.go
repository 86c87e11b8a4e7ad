package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// runReplay is `thebutton replay`.
func runReplay(ctx context.Context, a *app, args []string) error {
	var (
		c      config
		ps     projSettings
		target string
		from   uint64
		fresh  bool
		batch  int
	)
	fs := newFlagSet(a, "replay", "replay --target redis|mysql [--from-seq N] [flags]\n\n"+
		"Rebuilds a projection from the stream, also while the service runs (its projector stands by\n"+
		"and then goes on). An interrupted replay resumes where it stopped. Point NATS_URL at the\n"+
		"service's NATS (for the embedded one: nats://NATS_LISTEN).")
	c.registerNATS(fs)
	c.registerSinks(fs)
	ps.register(fs, "")
	fs.StringVar(&target, "target", "", "the projection to rebuild: redis or mysql (required)")
	fs.Uint64Var(&from, "from-seq", 0, "after the reset, apply the stream from this sequence only (default: all of it)")
	fs.BoolVar(&fresh, "fresh", false, "start over even if an interrupted replay is recorded (default: resume it)")
	fs.IntVar(&batch, "batch", 5000, "messages per write")
	err := parseFlags(a, fs, args, c.check, ps.check, func() error {
		var problems []error
		if target != targetRedis && target != targetMySQL {
			problems = append(problems, fmt.Errorf("--target: %q is not redis or mysql", target))
		}
		if batch < 1 {
			problems = append(problems, fmt.Errorf("--batch: %d is not positive", batch))
		}
		return errors.Join(problems...)
	})
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		fmt.Fprintln(a.stderr, err)
		fs.Usage()
		return errUsage
	}
	log := c.logger(a)
	c.preferRunning = true
	n, err := openNATS(ctx, &c, log)
	if err != nil {
		return err
	}
	defer n.close()
	sink, closeSink, err := openSink(ctx, &c, ps, target, log)
	if err != nil {
		return err
	}
	defer closeSink()

	bar := newProgressBar(a.stderr, "replay "+target)
	res, err := projector.Replay(ctx, n.store.Feed(), sink, projector.ReplayOptions{
		Log: log, From: from, Fresh: fresh, BatchSize: batch,
		Lease: ps.lease(c.replicas), DeadLetter: projector.DeadLetterOptions{Replicas: c.replicas},
		Progress: bar.update, ProgressEvery: bar.every,
	})
	bar.close()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%w: interrupted; run replay again to resume", err)
		}
		return err
	}
	resumed := ""
	if res.Resumed {
		resumed = " (resumed)"
	}
	fmt.Fprintf(a.stdout, "replayed %s%s: %d messages, sequences %d to %d, in %s (%.0f messages/s)\n",
		target, resumed, res.Applied, res.From, res.To, res.Elapsed.Round(time.Millisecond), rate(res.Applied, res.Elapsed))
	return nil
}

func rate(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// openSink opens one projection's sink; close releases its connections.
func openSink(ctx context.Context, c *config, ps projSettings, target string, log *slog.Logger) (projector.Sink, func(), error) {
	switch target {
	case targetRedis:
		rdb, err := openRedis(c.redisURL)
		if err != nil {
			return nil, nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := rdb.Ping(pctx).Err(); err != nil {
			_ = rdb.Close()
			return nil, nil, fmt.Errorf("redis at %s: %w", redisAddr(rdb), err)
		}
		sink := redisproj.New(rdb, redisproj.Options{Prefix: ps.redisPrefix, Log: log.With("component", "redis")})
		return sink, func() { _ = rdb.Close() }, nil
	case targetMySQL:
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		sink, err := openMySQL(octx, c.mysqlDSN, log)
		if err != nil {
			return nil, nil, err
		}
		return sink, func() { _ = sink.Close() }, nil
	}
	return nil, nil, fmt.Errorf("no projection %q", target)
}

// progressBar shows a replay's progress: a bar redrawn in place on a
// terminal, a plain line every few seconds otherwise.
type progressBar struct {
	w     io.Writer
	label string
	tty   bool
	every time.Duration
	drawn bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	b := &progressBar{w: w, label: label, tty: isTerminal(w), every: 2 * time.Second}
	if b.tty {
		b.every = 200 * time.Millisecond
	}
	return b
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (b *progressBar) update(p projector.ReplayProgress) {
	r := rate(p.Applied, p.Elapsed)
	frac := 1.0
	if p.Total > 0 {
		frac = float64(p.Applied) / float64(p.Total)
	}
	eta := "?"
	if r > 0 && p.Total >= p.Applied {
		eta = time.Duration(float64(p.Total-p.Applied) / r * float64(time.Second)).Round(time.Second).String()
	}
	if !b.tty {
		fmt.Fprintf(b.w, "%s: %d/%d messages (%.1f%%), %.0f messages/s, ETA %s, at sequence %d of %d\n",
			b.label, p.Applied, p.Total, 100*frac, r, eta, p.Seq, p.Last)
		return
	}
	const width = 30
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	if fill > 0 && fill < width {
		bar = bar[:fill-1] + ">" + bar[fill:]
	}
	fmt.Fprintf(b.w, "\r%s [%s] %5.1f%%  %d/%d  %.0f/s  ETA %-8s", b.label, bar, 100*frac, p.Applied, p.Total, r, eta)
	b.drawn = true
	if p.Done {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

// close ends a bar left mid-line (an interrupted replay).
func (b *progressBar) close() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
