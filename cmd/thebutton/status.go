package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/cli"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector"
)

// failedSink stands for a projection whose store could not be opened, so
// status still shows it, with the error.
type failedSink struct {
	name string
	err  error
}

func (f failedSink) Name() string                                   { return f.name }
func (f failedSink) Position(context.Context) (uint64, error)       { return 0, f.err }
func (f failedSink) Apply(context.Context, []events.Recorded) error { return f.err }
func (f failedSink) Reset(context.Context) error                    { return f.err }

// runStatus is `thebutton status`.
func runStatus(ctx context.Context, a *app, args []string) error {
	var (
		c      config
		ps     projSettings
		asJSON bool
	)
	fs := newFlagSet(a, "status", "status [--json] [flags]")
	c.registerNATS(fs)
	c.registerSinks(fs)
	ps.register(fs, "target")
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of text")
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
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var sinks []projector.Sink
	for _, t := range ps.targets {
		sink, closeSink, err := openSink(ctx, &c, ps, t, log)
		if err != nil {
			sinks = append(sinks, failedSink{name: t, err: err})
			continue
		}
		defer closeSink()
		sinks = append(sinks, sink)
	}
	st, err := projector.ReadStatus(ctx, n.store.Feed(), sinks, projector.StatusOptions{Lease: ps.lease(c.replicas)})
	if err != nil {
		return err
	}
	if asJSON {
		return cli.PrintJSON(a.stdout, st)
	}
	printStatus(a.stdout, st, time.Now())
	return nil
}

// printStatus writes the status as aligned text.
func printStatus(w io.Writer, st projector.Status, now time.Time) {
	s := st.Stream
	fmt.Fprintf(w, "stream %s: %d messages, %s, sequences %d to %d, %d subjects, %d consumers, last message %s\n\n",
		s.Name, s.Messages, bytesText(s.Bytes), s.FirstSeq, s.LastSeq, s.Subjects, s.Consumers, ago(s.LastTime, now))

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tKIND\tPENDING\tACK PENDING\tREDELIVERED\tWAITING\tLAST DELIVERED\tACK FLOOR")
	for _, c := range st.Consumers {
		kind := "ephemeral"
		if c.Durable {
			kind = "durable"
		}
		if c.Paused {
			kind += ", paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", c.Name, kind, c.Pending, c.AckPending, c.Redelivered, c.Waiting, c.LastDelivered, c.AckFloor)
	}
	if len(st.Consumers) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	_ = tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTION\tCHECKPOINT\tLAG\tLEASE")
	for _, p := range st.Projections {
		if p.Err != "" {
			fmt.Fprintf(tw, "%s\t-\t-\terror: %s\n", p.Name, p.Err)
			continue
		}
		lease := "none (no projector running)"
		if p.Role != "" {
			lease = p.Role + " " + p.Holder
		}
		if p.Replay {
			lease += ", interrupted replay recorded"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", p.Name, p.Checkpoint, p.Lag, lease)
	}
	_ = tw.Flush()

	d := st.DeadLetters
	switch {
	case d.Err != "":
		fmt.Fprintf(w, "\ndead letters (%s): error: %s\n", d.Stream, d.Err)
	case d.Messages == 0:
		fmt.Fprintf(w, "\ndead letters (%s): none\n", d.Stream)
	default:
		fmt.Fprintf(w, "\ndead letters (%s): %d, last %s (nats stream view %s)\n", d.Stream, d.Messages, ago(d.LastTime, now), d.Stream)
	}
}

func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func ago(t, now time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), now.Sub(t).Round(time.Second))
}
