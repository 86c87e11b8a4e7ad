package main

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// component is a part of the process that shutdown stops. stop, if not
// nil, tells it to stop; wait blocks until it has stopped and returns what
// went wrong.
type component struct {
	name string
	stop func()
	wait func() error
}

// shutdown stops the components in order, each once the one before has
// stopped, all within grace, and returns what went wrong: the components'
// errors, or the one still running when grace ran out (it is left behind:
// the process is about to exit). It logs the start and, when everything
// stopped cleanly, the end.
func shutdown(log *slog.Logger, grace time.Duration, components ...component) error {
	log.Info("shutting down", "grace", grace)
	var current atomic.Pointer[string]
	current.Store(new("components"))
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, c := range components {
			current.Store(&c.name)
			if c.stop != nil {
				c.stop()
			}
			errs = append(errs, c.wait())
		}
		done <- errors.Join(errs...)
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		log.Info("stopped")
		return nil
	case <-timer.C:
		return fmt.Errorf("shutdown: %s still running after %s", *current.Load(), grace)
	}
}
