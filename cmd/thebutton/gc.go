package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The process's garbage-collection policy, while the operator sets neither
// GOGC nor GOMEMLIMIT. Go's default (GOGC=100: collect each time the heap
// doubles) runs a collection every second or so on a small heap at 1,000
// presses/s, and each one shows in the p99 of a press (docs/benchmarks.md,
// "Garbage collection and the press p99"). So a small heap is let grow to
// five times what is live (GOGC=400), while a soft memory limit of twice
// the live heap (plus room for what is not heap) and at least gcFloor
// keeps a large one where GOGC=100 would: at 10,000 active games the peak
// stays what it was. The limit follows the live heap every gcEvery.
const (
	gcPercent = 400
	gcFloor   = 256 << 20
	gcSlack   = 64 << 20
	gcEvery   = 250 * time.Millisecond
)

// gcLimit is the soft memory limit for a live heap of live bytes.
func gcLimit(live uint64) int64 {
	return int64(max(gcFloor, 2*live+gcSlack))
}

// tuneGC applies the policy until ctx ends, unless getenv names GOGC or
// GOMEMLIMIT (the operator's settings are the runtime's, untouched). It
// returns a channel closed once it stopped following the live heap, or
// nil if it did not apply the policy.
func tuneGC(ctx context.Context, getenv func(string) string) <-chan struct{} {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return nil
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	update := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			debug.SetMemoryLimit(gcLimit(sample[0].Value.Uint64()))
		}
	}
	update()
	debug.SetGCPercent(gcPercent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(gcEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				update()
			}
		}
	}()
	return done
}
