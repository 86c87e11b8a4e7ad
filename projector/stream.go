package projector

import (
	"context"

	"github.com/thebutton-game/thebutton/events"
)

// ReadAll returns every message of the stream with a sequence from 1 up to
// and including until, in order, read through feed.
func ReadAll(ctx context.Context, feed events.Feed, until uint64) ([]events.Recorded, error) {
	var all []events.Recorded
	err := feed.ReadRange(ctx, 1, until, 4096, func(chunk []events.Recorded) error {
		all = append(all, chunk...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}
