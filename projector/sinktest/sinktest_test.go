package sinktest_test

import (
	"testing"

	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/sinktest"
)

var _ projector.Sink = (*sinktest.Memory)(nil)

func TestMemorySinkContract(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		m := sinktest.NewMemory("memory")
		return sinktest.Target{Sink: m, State: func(*testing.T) any { return m.State() }}
	})
}
