package main

import (
	"context"
	"runtime/debug"
	"testing"
)

func TestGCLimitFollowsTheLiveHeap(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, gcFloor},
		{64 << 20, gcFloor},    // 2×64 + 64 = 192 MiB: the floor
		{160 << 20, 384 << 20}, // 2×160 + 64
		{1 << 30, 2<<30 + gcSlack},
	} {
		if got := gcLimit(c.live); got != c.want {
			t.Errorf("gcLimit(%d MiB) = %d MiB, want %d MiB", c.live>>20, got>>20, c.want>>20)
		}
	}
}

func TestTuneGCLeavesTheOperatorsSettings(t *testing.T) {
	before := debug.SetGCPercent(-1)
	debug.SetGCPercent(before)
	limit := debug.SetMemoryLimit(-1)
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		env := map[string]string{name: "200"}
		if tuneGC(context.Background(), func(k string) string { return env[k] }) != nil {
			t.Errorf("with %s set, tuneGC applied its policy", name)
		}
		if got := debug.SetGCPercent(before); got != before {
			t.Errorf("with %s set, GOGC became %d", name, got)
		}
		if got := debug.SetMemoryLimit(-1); got != limit {
			t.Errorf("with %s set, the memory limit became %d", name, got)
		}
	}
}

func TestTuneGCAppliesThePolicy(t *testing.T) {
	before := debug.SetGCPercent(-1)
	debug.SetGCPercent(before)
	limit := debug.SetMemoryLimit(-1)
	ctx, cancel := context.WithCancel(context.Background())
	done := tuneGC(ctx, func(string) string { return "" })
	defer func() {
		cancel()
		if done != nil {
			<-done
		}
		debug.SetGCPercent(before)
		debug.SetMemoryLimit(limit)
	}()
	if done == nil {
		t.Fatal("tuneGC did not apply its policy with neither GOGC nor GOMEMLIMIT set")
	}
	if got := debug.SetGCPercent(gcPercent); got != gcPercent {
		t.Errorf("GOGC = %d, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(-1); got < gcFloor {
		t.Errorf("memory limit = %d, want at least %d", got, gcFloor)
	}
}
