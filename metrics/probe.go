package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Probe is a reachability check of one store, such as a Redis PING or a
// MySQL PingContext. Check must honour its context.
type Probe struct {
	Sink  string // label value of thebutton_sink_up: SinkRedis, SinkMySQL
	Check func(context.Context) error
}

// RunProbes runs every probe at once, then every interval, until ctx ends,
// and sets thebutton_sink_up from each result. Every probe's series exists
// from the start, at 0 until its first check succeeds, so a store that is
// down when the process starts is seen as down (not as missing). The checks
// of one round run concurrently: a store that hangs does not delay the
// others. Each check gets at most interval (and at most 5 s). A sink going
// down or coming back is logged once, not at every probe. It blocks until ctx ends, then returns nil
// once no check is running; the caller owns the goroutine it runs on.
func (m *Metrics) RunProbes(ctx context.Context, log *slog.Logger, interval time.Duration, probes ...Probe) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = 10 * time.Second
	}
	timeout := min(interval, 5*time.Second)
	for _, p := range probes {
		m.mu.Lock()
		_, seen := m.probeErr[p.Sink]
		m.mu.Unlock()
		if !seen {
			m.SetSinkUp(p.Sink, false)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		var wg sync.WaitGroup
		for _, p := range probes {
			wg.Go(func() { m.probe(ctx, log, timeout, p) })
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// probe runs one check and records its result.
func (m *Metrics) probe(ctx context.Context, log *slog.Logger, timeout time.Duration, p Probe) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	err := p.Check(cctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		return // shutting down: the check was cancelled, not failing
	}
	m.SetSinkUp(p.Sink, err == nil)
	m.mu.Lock()
	was, seen := m.probeErr[p.Sink]
	m.probeErr[p.Sink] = err != nil
	m.mu.Unlock()
	switch {
	case err != nil && (!seen || !was):
		log.Warn("sink unreachable", "sink", p.Sink, "err", err)
	case err == nil && seen && was:
		log.Info("sink reachable again", "sink", p.Sink)
	}
}
