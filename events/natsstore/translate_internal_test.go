package natsstore

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
)

// A publish's API error is a conflict (read and decide again), a refusal
// (nothing stored), or of unknown outcome (repeat the same append): a
// message id "in process" on a cluster is the last kind, since the other
// publish with that id may still be stored.
func TestTranslateAppend(t *testing.T) {
	tests := []struct {
		name              string
		err               *jetstream.APIError
		conflict, refused bool
	}{
		{"wrong last sequence", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}, true, false},
		{"no leader", &jetstream.APIError{Code: 503, ErrorCode: 10008}, false, false},
		{"message id in process", &jetstream.APIError{Code: 409, ErrorCode: 10158, Description: "duplicate message id is in process"}, false, false},
		{"message too large", &jetstream.APIError{Code: 400, ErrorCode: 10054}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := translateAppend(tt.err)
			if got := errors.Is(err, events.ErrConflict); got != tt.conflict {
				t.Errorf("ErrConflict: %v, want %v (%v)", got, tt.conflict, err)
			}
			if got := errors.Is(err, events.ErrRefused); got != tt.refused {
				t.Errorf("ErrRefused: %v, want %v (%v)", got, tt.refused, err)
			}
		})
	}
}
