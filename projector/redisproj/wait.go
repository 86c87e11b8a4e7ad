package redisproj

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// WaitApplied returns once the projection's position is at least seq. It
// reads the position and, while it is below seq, listens on the channel
// the position is published on each time it moves (position.lua). The
// waits of one Reader share one subscription (one pub/sub connection),
// opened by the first wait and closed by the last to end: it reads the
// position again each time it is subscribed (also after go-redis
// subscribed anew over a new connection), so no move is missed between a
// read and the subscription. It does not poll. It works alike on one Redis
// and on Redis Cluster (a PUBLISH reaches every node). It returns an error
// wrapping ctx.Err() when ctx ends first, and one wrapping
// readmodel.ErrUnavailable when Redis cannot be reached (a subscription
// that fails ends every wait on it with its error). It is safe for
// concurrent use.
func (r *Reader) WaitApplied(ctx context.Context, seq uint64) error {
	if seq == 0 {
		return nil
	}
	pos, err := r.Position(ctx)
	if err != nil || pos >= seq {
		return err
	}
	w := &waiter{seq: seq, done: make(chan error, 1)}
	sub := r.join(w)
	defer r.leave(sub, w)
	select {
	case err := <-w.done:
		if err != nil {
			return fmt.Errorf("wait for the views to apply %d: %w", seq, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the views to apply %d (at %d): %w", seq, pos, ctx.Err())
	}
}

// appliedSub is the subscription to the applied positions that the waits
// of one Reader share. Its goroutine (run) is started by the wait that
// opens it and stopped, and waited for, by the last wait to leave it.
type appliedSub struct {
	ps     *redis.PubSub
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	// Guarded by Reader.wmu.
	known   uint64               // a position applied, read or published since the subscription was confirmed
	waiters map[*waiter]struct{} // waits not answered yet
	joined  int                  // waits that joined and have not left
}

// waiter is one WaitApplied on a subscription.
type waiter struct {
	seq  uint64
	done chan error // buffered; one value: nil once seq is applied, or the subscription's error
}

// join adds w to the reader's subscription, opening one if there is none,
// and returns it; w is answered at once if the subscription has seen its
// sequence applied already.
func (r *Reader) join(w *waiter) *appliedSub {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	sub := r.sub
	if sub == nil {
		sctx, cancel := context.WithCancel(context.Background())
		sub = &appliedSub{
			// No channel yet: nothing is sent before run subscribes.
			ps:      r.rdb.Subscribe(sctx),
			cancel:  cancel,
			done:    make(chan struct{}),
			waiters: make(map[*waiter]struct{}),
		}
		r.sub = sub
		go r.run(sctx, sub)
	}
	sub.joined++
	if sub.known >= w.seq {
		w.done <- nil
	} else {
		sub.waiters[w] = struct{}{}
	}
	return sub
}

// leave takes w off sub; the last wait to leave closes the subscription
// and waits for its goroutine.
func (r *Reader) leave(sub *appliedSub, w *waiter) {
	r.wmu.Lock()
	delete(sub.waiters, w)
	sub.joined--
	last := sub.joined == 0
	if last && r.sub == sub {
		r.sub = nil
	}
	r.wmu.Unlock()
	if last {
		sub.cancel()
		_ = sub.ps.Close() // ends a Receive, which does not heed the context
		<-sub.done
	}
}

// run subscribes to the applied positions and answers the waits of sub as
// the position reaches them, until sub is closed or fails.
func (r *Reader) run(ctx context.Context, sub *appliedSub) {
	defer close(sub.done)
	if err := sub.ps.Subscribe(ctx, r.k.applied()); err != nil {
		r.fail(ctx, sub, translate("subscribe to the applied positions", err))
		return
	}
	for {
		msg, err := sub.ps.Receive(ctx)
		if err != nil {
			r.fail(ctx, sub, translate("receive the applied positions", err))
			return
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			pos, err := r.Position(ctx)
			if err != nil {
				r.fail(ctx, sub, err)
				return
			}
			r.reached(sub, pos)
		case *redis.Message:
			if n, err := strconv.ParseUint(m.Payload, 10, 64); err == nil {
				r.reached(sub, n)
			}
		}
	}
}

// reached answers the waits of sub for a sequence up to pos.
func (r *Reader) reached(sub *appliedSub, pos uint64) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	sub.known = max(sub.known, pos)
	for w := range sub.waiters {
		if w.seq <= pos {
			w.done <- nil
			delete(sub.waiters, w)
		}
	}
}

// fail ends every wait of sub with err, unless sub was closed (ctx ended);
// the next wait opens a new subscription.
func (r *Reader) fail(ctx context.Context, sub *appliedSub, err error) {
	if ctx.Err() != nil {
		return
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.sub == sub {
		r.sub = nil
	}
	for w := range sub.waiters {
		w.done <- err
		delete(sub.waiters, w)
	}
}
