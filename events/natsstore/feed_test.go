package natsstore_test

import (
	"context"
	"testing"

	"github.com/thebutton-game/thebutton/events/feedtest"
)

// TestFeedContract runs the contract of events.Feed on JetStream.
func TestFeedContract(t *testing.T) {
	feedtest.Run(t, func(t *testing.T) feedtest.Target {
		s := openStore(t)
		return feedtest.Target{
			Feed: s.Feed(),
			Append: func(t *testing.T, subject string, data []byte) uint64 {
				t.Helper()
				ack, err := s.JetStream().Publish(context.Background(), subject, data)
				if err != nil {
					t.Fatal(err)
				}
				return ack.Sequence
			},
		}
	})
}
