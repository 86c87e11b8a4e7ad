package main

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// shutdown stops the components in order, each after the one before has
// stopped, and returns their errors together.
func TestShutdownInOrder(t *testing.T) {
	var steps []string
	step := func(s string) func() { return func() { steps = append(steps, s) } }
	errA, errB := errors.New("a failed"), errors.New("b failed")
	err := shutdown(slog.New(slog.DiscardHandler), time.Minute,
		component{name: "a", wait: func() error { step("wait a")(); return errA }},
		component{name: "b", stop: step("stop b"), wait: func() error { step("wait b")(); return errB }},
		component{name: "c", stop: step("stop c"), wait: func() error { step("wait c")(); return nil }})
	if !errors.Is(err, errA) || !errors.Is(err, errB) || !strings.HasPrefix(err.Error(), "shutdown: ") {
		t.Errorf("error %v, want both components' errors after \"shutdown: \"", err)
	}
	if want := []string{"wait a", "stop b", "wait b", "stop c", "wait c"}; !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
	if err := shutdown(slog.New(slog.DiscardHandler), time.Minute, component{name: "a", wait: func() error { return nil }}); err != nil {
		t.Errorf("clean shutdown: %v", err)
	}
}

// A component still running when the grace runs out is named, and the
// ones after it are not waited for.
func TestShutdownGrace(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	later := false
	err := shutdown(slog.New(slog.DiscardHandler), 50*time.Millisecond,
		component{name: "quick", wait: func() error { return nil }},
		component{name: "stuck", wait: func() error { <-release; return nil }},
		component{name: "later", stop: func() { later = true }, wait: func() error { return nil }})
	if err == nil || !strings.Contains(err.Error(), "stuck still running after 50ms") {
		t.Errorf("error %v, want the stuck component named", err)
	}
	if later {
		t.Error("the component after the stuck one was stopped")
	}
}
