package discordkv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/discordbot"
)

// BudgetOptions configure a shared budget.
type BudgetOptions struct {
	// Rate is the requests per second of every process together (default
	// 40: Discord allows 50) and Burst how many may leave at once
	// (default 5).
	Rate  float64
	Burst int
	// Key is the bucket's key holding the budget (default "budget.global").
	Key string
	// Timeout bounds one update of the key (default 2 s). When the key
	// cannot be updated in time the process falls back to a budget of its
	// own for FallbackFor (default 5 s), logged once per outage, at
	// FallbackRate (default a quarter of Rate: a few processes falling
	// back together still stay under Discord's limit).
	Timeout      time.Duration
	FallbackFor  time.Duration
	FallbackRate float64
	// Log receives the fallback's start and end (default: discarded).
	Log *slog.Logger
}

func (o BudgetOptions) withDefaults() BudgetOptions {
	if o.Rate <= 0 {
		o.Rate = 40
	}
	if o.Burst <= 0 {
		o.Burst = 5
	}
	if o.Key == "" {
		o.Key = "budget.global"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.FallbackFor <= 0 {
		o.FallbackFor = 5 * time.Second
	}
	if o.FallbackRate <= 0 {
		o.FallbackRate = o.Rate / 4
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Budget is a token bucket kept in one key of a key-value bucket and
// shared by every process using the same key: each request takes a token
// with one revision-checked update of the key (a read first only after
// another process updated it), so N processes together never exceed Rate
// per second beyond Burst. A token not yet available is reserved (the
// bucket goes into debt) and the caller told how long to wait, so waiters
// do not race for the next token. There is no leader: a process dying
// costs nothing but the tokens it had reserved.
//
// Clocks: the key holds the wall time of its last update and a process
// refills only from max(that time, its own clock); a clock running ahead
// in one process makes the others refill later, never sooner.
//
// A process makes one update at a time (its callers queue for it), so
// revision conflicts happen only between processes.
//
// When NATS does not answer within Timeout, Budget falls back to a
// budget of this process alone (FallbackRate, Burst) for FallbackFor:
// more processes than Rate/FallbackRate falling back at once may exceed
// Discord's limit, and their 429s are retried.
// Budget implements discordbot.Budget and is safe for concurrent use.
type Budget struct {
	kv    jetstream.KeyValue
	o     BudgetOptions
	local discordbot.Budget
	turn  chan struct{} // one update of the key at a time

	mu       sync.Mutex
	st       budgetState
	rev      uint64 // of st; 0: unknown
	fallback time.Time
	updates  uint64
	retries  uint64
}

// budgetState is the key's value.
type budgetState struct {
	Tokens float64 `json:"tokens"`
	AtUS   int64   `json:"at_us"` // wall time of Tokens, Unix microseconds
}

// NewBudget returns a budget kept in kv (see OpenBucket).
func NewBudget(kv jetstream.KeyValue, o BudgetOptions) *Budget {
	o = o.withDefaults()
	return &Budget{kv: kv, o: o, local: discordbot.LocalBudget(o.FallbackRate, o.Burst), turn: make(chan struct{}, 1)}
}

// refill returns st brought forward to now.
func (b *Budget) refill(st budgetState, now time.Time) budgetState {
	at := max(st.AtUS, now.UnixMicro())
	dt := float64(at-st.AtUS) / 1e6
	return budgetState{Tokens: min(float64(b.o.Burst), st.Tokens+dt*b.o.Rate), AtUS: at}
}

// Reserve takes one token and returns how long to wait for it.
func (b *Budget) Reserve(ctx context.Context) (time.Duration, error) {
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-b.turn }()
	b.mu.Lock()
	falling := time.Now().Before(b.fallback)
	b.mu.Unlock()
	if falling {
		return b.local.Reserve(ctx)
	}
	d, err := b.reserve(ctx)
	if err == nil || ctx.Err() != nil {
		return d, err
	}
	b.mu.Lock()
	b.fallback, b.rev = time.Now().Add(b.o.FallbackFor), 0
	b.mu.Unlock()
	b.o.Log.Warn("shared discord budget unavailable: this process paces itself alone for a while",
		"for", b.o.FallbackFor, "err", err)
	return b.local.Reserve(ctx)
}

// reserve takes a token from the key, retrying on conflicts.
func (b *Budget) reserve(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
	defer cancel()
	b.mu.Lock()
	st, rev := b.st, b.rev
	b.mu.Unlock()
	for {
		if rev == 0 {
			var err error
			if st, rev, err = b.read(ctx); err != nil {
				return 0, err
			}
		}
		next := b.refill(st, time.Now())
		next.Tokens--
		data, _ := json.Marshal(next)
		var (
			nrev uint64
			err  error
		)
		if rev == noKey {
			nrev, err = b.kv.Create(ctx, b.o.Key, data)
		} else {
			nrev, err = b.kv.Update(ctx, b.o.Key, data, rev)
		}
		switch {
		case err == nil:
			b.mu.Lock()
			if nrev > b.rev {
				b.st, b.rev = next, nrev
			}
			b.updates++
			b.mu.Unlock()
			if next.Tokens >= 0 {
				return 0, nil
			}
			return time.Duration(-next.Tokens / b.o.Rate * float64(time.Second)), nil
		case conflict(err):
			b.mu.Lock()
			b.retries++
			b.mu.Unlock()
			rev = 0 // another process took a token: read again
		default:
			return 0, fmt.Errorf("discordkv: take a token from %s: %w", b.o.Key, err)
		}
	}
}

// noKey is the revision read for a key that does not exist yet.
const noKey = ^uint64(0)

// read returns the key's state and revision (noKey and a full bucket
// when it does not exist).
func (b *Budget) read(ctx context.Context) (budgetState, uint64, error) {
	e, err := b.kv.Get(ctx, b.o.Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return budgetState{Tokens: float64(b.o.Burst), AtUS: time.Now().UnixMicro()}, noKey, nil
	}
	if err != nil {
		return budgetState{}, 0, fmt.Errorf("discordkv: read %s: %w", b.o.Key, err)
	}
	var st budgetState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		// Unreadable: start over from a full bucket with this revision.
		st = budgetState{Tokens: float64(b.o.Burst), AtUS: time.Now().UnixMicro()}
	}
	return st, e.Revision(), nil
}

// Spare is the tokens as this process last saw them, refilled to now.
func (b *Budget) Spare() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Now().Before(b.fallback) {
		return b.local.Spare()
	}
	if b.rev == 0 {
		return float64(b.o.Burst)
	}
	return b.refill(b.st, time.Now()).Tokens
}

// Stats returns the key updates made and the conflicts retried so far.
func (b *Budget) Stats() (updates, conflicts uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.updates, b.retries
}
