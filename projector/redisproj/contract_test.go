package redisproj

import (
	"fmt"
	"testing"

	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
	"github.com/thebutton-game/thebutton/projector/sinktest"
)

// TestSinkContract runs the contract every projection sink passes. A
// restarted sink is a new Sink on the same Redis and prefix.
func TestSinkContract(t *testing.T) {
	redistest.Backends(t, func(t *testing.T) {
		sinktest.Run(t, func(t *testing.T) sinktest.Target {
			sink, _, c := mustSink(t)
			return sinktest.Target{
				Sink:   sink,
				Reopen: func(*testing.T) projector.Sink { return New(c, Options{Prefix: sink.k.prefix}) },
				State: func(t *testing.T) any {
					out := map[string]string{}
					for k, v := range snapshot(t, sink) {
						if !v.empty() {
							out[k] = fmt.Sprint(*v)
						}
					}
					return out
				},
			}
		})
	})
}
