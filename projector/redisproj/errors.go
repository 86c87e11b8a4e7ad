package redisproj

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/readmodel"
)

// The Reader's errors are the read model's: readmodel.ErrNotFound and
// readmodel.ErrUnavailable.

// translate wraps a go-redis error saying what was attempted. A reply
// error from Redis (a refused command, a script error) is wrapped as is;
// a cancelled context too; anything else (network, timeout, closed
// client, exhausted pool) also wraps ErrUnavailable.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var reply redis.Error
	if errors.As(err, &reply) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, readmodel.ErrUnavailable, err)
}

// execErr runs a pipeline and returns the first error of its commands
// other than redis.Nil (a missing key or field, which callers read as
// such).
func execErr(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, _ := pipe.Exec(ctx)
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}
