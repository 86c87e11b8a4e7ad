// Package testwait waits in tests for a condition to hold, with a
// deadline, instead of sleeping for a guessed time. It polls: the
// condition is checked at once, then every Interval until it holds or the
// deadline passes.
//
// It imports the standard library only, and is for tests alone.
package testwait

import (
	"testing"
	"time"
)

// Interval is how often a condition is polled.
const Interval = 10 * time.Millisecond

// Until polls cond until it holds or within has passed, and reports
// whether it held. It never fails a test; use it where the caller decides
// what a timeout means.
func Until(within time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return true
			}
		case <-deadline.C:
			return cond()
		}
	}
}

// For polls cond until it holds, and fails tb with what() (called once,
// at the deadline) if it does not within the given time. Call it from the
// test's goroutine.
func For(tb testing.TB, within time.Duration, cond func() bool, what func() string) {
	tb.Helper()
	if !Until(within, cond) {
		tb.Fatalf("after %s: %s", within, what())
	}
}

// Say returns a what() for For that always says s.
func Say(s string) func() string { return func() string { return s } }
