package memfeed_test

import (
	"testing"

	"github.com/thebutton-game/thebutton/events/feedtest"
	"github.com/thebutton-game/thebutton/events/memfeed"
)

// TestFeedContract runs the contract of events.Feed in memory: the same
// body events/natsstore's feed passes on JetStream.
func TestFeedContract(t *testing.T) {
	feedtest.Run(t, func(*testing.T) feedtest.Target {
		f := memfeed.New()
		return feedtest.Target{
			Feed:   f,
			Append: func(_ *testing.T, subject string, data []byte) uint64 { return f.AppendRaw(subject, data) },
		}
	})
}
