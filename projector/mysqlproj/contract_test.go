package mysqlproj_test

import (
	"testing"

	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/sinktest"
)

// TestSinkContract runs the contract every projection sink passes. A
// restarted sink is a new connection to the same database.
func TestSinkContract(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		dsn := mysqltest.DSN(t)
		sink := openSink(t, dsn)
		return sinktest.Target{
			Sink:   sink,
			Reopen: func(t *testing.T) projector.Sink { return openSink(t, dsn) },
			State:  func(t *testing.T) any { return dump(t, sink.DB()) },
		}
	})
}
