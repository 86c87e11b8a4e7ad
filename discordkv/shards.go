package discordkv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/discordbot"
)

// ServeFunc runs the work of one shard while this process holds it: it
// opens the shard's gateway session, runs its reactor, and returns when
// ctx ends (the lease was lost or given up, or the process stops), having
// closed what it opened. Returning before ctx ends is a failure: the shard
// is given up for others to take.
type ServeFunc func(ctx context.Context, shard int) error

// ShardOptions configure the shard leases.
type ShardOptions struct {
	// Count is the number of shards (DISCORD_SHARDS or Discord's
	// recommendation); required.
	Count int
	// MaxConcurrency is how many shards may identify per 5 s (Discord's
	// session_start_limit.max_concurrency; default 1), counted over every
	// process.
	MaxConcurrency int
	// TTL is how long a lease lasts without renewal (default 10 s): a dead
	// process's shards are taken over after it; a process stops a shard's
	// work TTL/2 after its last renewal.
	TTL time.Duration
	// Holder names this process (default random); a process finding a
	// lease under its own name takes it back at once. Letters, digits and
	// -_ only; anything else is replaced.
	Holder string
	// Log receives the leases' changes (default: discarded).
	Log *slog.Logger
	// OnChange, if set, is told how many shards this process holds after
	// each change, and OnTakeover how long a shard had been without a live
	// holder when this process took it (metrics). Both must be quick.
	OnChange   func(held int)
	OnTakeover func(shard int, unowned time.Duration)
}

var unsafeKey = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func (o ShardOptions) withDefaults() ShardOptions {
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = 1
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.Holder == "" {
		o.Holder = fmt.Sprintf("bot-%08x", rand.Uint32())
	}
	o.Holder = unsafeKey.ReplaceAllString(o.Holder, "_")
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Shards spreads the gateway shards over the live processes of one bot:
// each shard is owned by one process through a lease, a key of the
// bucket renewed every TTL/5 with a revision check. Every process also
// renews a member key; a process holds at most its fair share,
// ceil(Count / live members), giving up its highest shards when a process
// joins and taking free ones when one leaves. A lease whose revision has
// not changed for a whole TTL, as this process observed it, is free: no
// clock is compared across machines. Identifies are spaced over all
// processes: at most MaxConcurrency per 5 s (a key per identify bucket).
//
// Owns tells the updater which guilds are this process's: the guilds of
// the shards it holds, until TTL/2 after the last renewal. Shards
// implements discordbot.Guilds; it is safe for concurrent use.
type Shards struct {
	kv    jetstream.KeyValue
	o     ShardOptions
	serve ServeFunc

	mu      sync.Mutex
	seen    map[string]seenKey // shard and member keys, as watched
	held    map[int]*heldShard
	resting map[int]time.Time // shards that failed here: not taken again before
	wg      sync.WaitGroup    // serve goroutines
}

type seenKey struct {
	rev    uint64
	at     time.Time // when this process saw the revision first
	holder string
	gone   bool // deleted
}

type heldShard struct {
	rev        uint64
	failed     bool // its work ended by itself: given up next round
	validUntil time.Time
	cancel     context.CancelFunc
	done       chan struct{}
}

// leaseData is a shard key's value.
type leaseData struct {
	Holder string `json:"holder"`
	TTLMS  int64  `json:"ttl_ms"`
}

// NewShards returns the shard leases of kv (see OpenBucket); serve runs a
// shard while held.
func NewShards(kv jetstream.KeyValue, serve ServeFunc, o ShardOptions) (*Shards, error) {
	if o.Count < 1 {
		return nil, fmt.Errorf("discordkv: shard count %d: at least 1", o.Count)
	}
	return &Shards{kv: kv, o: o.withDefaults(), serve: serve,
		seen: make(map[string]seenKey), held: make(map[int]*heldShard), resting: make(map[int]time.Time)}, nil
}

func (s *Shards) shardKey(k int) string { return fmt.Sprintf("shard.%d.%d", s.o.Count, k) }
func (s *Shards) memberKey() string     { return "member." + s.o.Holder }

// Count is the number of shards.
func (s *Shards) Count() int { return s.o.Count }

// Owns reports whether this process holds the shard of guild (and its
// lease is still valid).
func (s *Shards) Owns(guild string) bool {
	k := discordbot.ShardOf(guild, s.o.Count)
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.held[k]
	return h != nil && time.Now().Before(h.validUntil)
}

// Held returns the shards this process holds, in order.
func (s *Shards) Held() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, 0, len(s.held))
	for k := range s.held {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Run takes, renews and gives up shards until ctx ends, then stops every
// shard's work and deletes its leases so that others take them at once.
func (s *Shards) Run(ctx context.Context) error {
	var watchers sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	for _, filter := range []string{fmt.Sprintf("shard.%d.*", s.o.Count), "member.*"} {
		w, err := s.kv.Watch(wctx, filter)
		if err != nil {
			stopWatch()
			return fmt.Errorf("discordkv: watch %s: %w", filter, err)
		}
		watchers.Go(func() { s.watch(wctx, w) })
	}
	defer func() {
		s.releaseAll()
		stopWatch()
		watchers.Wait()
	}()
	every := s.o.TTL / 5
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// watch records every change of the watched keys with the time it was
// seen.
func (s *Shards) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue // the initial values are in
			}
			sk := seenKey{rev: e.Revision(), at: time.Now(),
				gone: e.Operation() != jetstream.KeyValuePut}
			var d leaseData
			if json.Unmarshal(e.Value(), &d) == nil {
				sk.holder = d.Holder
			}
			s.mu.Lock()
			s.seen[e.Key()] = sk
			s.mu.Unlock()
		}
	}
}

// round renews what is held, then gives up or takes shards towards the
// fair share.
func (s *Shards) round(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, s.o.TTL/5)
	_, err := s.kv.Put(rctx, s.memberKey(), []byte(`{"holder":"`+s.o.Holder+`"}`))
	cancel()
	if err != nil {
		s.o.Log.Warn("shard member key not renewed", "err", err)
	}
	s.renew(ctx)
	for _, k := range s.Held() {
		s.mu.Lock()
		failed := s.held[k] != nil && s.held[k].failed
		s.mu.Unlock()
		if failed {
			s.release(k)
		}
	}
	share := s.share()
	held := s.Held()
	for i := len(held) - 1; i >= share && ctx.Err() == nil; i-- {
		s.o.Log.Info("giving up a shard: another process has joined", "shard", held[i], "share", share)
		s.release(held[i])
	}
	for _, k := range s.candidates(share - len(held)) {
		if ctx.Err() != nil {
			return
		}
		s.take(ctx, k)
	}
}

// share is this process's fair share of the shards: ceil(Count / live
// members), live meaning renewed within a TTL (this process included).
func (s *Shards) share() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := 1
	for key, sk := range s.seen {
		if len(key) > 7 && key[:7] == "member." && key != s.memberKey() && !sk.gone && time.Since(sk.at) < s.o.TTL {
			live++
		}
	}
	return (s.o.Count + live - 1) / live
}

// candidates returns up to n shards this process could take now: free
// (never held, deleted, or not renewed for a TTL) or held under its name.
// The search starts at a place of the holder's own so that processes
// starting together try different shards first.
func (s *Shards) candidates(n int) []int {
	if n <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	off := 0
	for _, c := range s.o.Holder {
		off = (off*31 + int(c)) % s.o.Count
	}
	var out []int
	for i := range s.o.Count {
		k := (off + i) % s.o.Count
		if s.held[k] != nil || time.Now().Before(s.resting[k]) {
			continue
		}
		sk, ok := s.seen[s.shardKey(k)]
		if !ok || sk.gone || sk.holder == s.o.Holder || time.Since(sk.at) >= s.o.TTL {
			out = append(out, k)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// take tries to acquire shard k and starts its work.
func (s *Shards) take(ctx context.Context, k int) {
	key := s.shardKey(k)
	data, _ := json.Marshal(leaseData{Holder: s.o.Holder, TTLMS: s.o.TTL.Milliseconds()})
	s.mu.Lock()
	sk, known := s.seen[key]
	s.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, s.o.TTL/5)
	defer cancel()
	sent := time.Now()
	var (
		rev uint64
		err error
	)
	if !known || sk.gone {
		rev, err = s.kv.Create(rctx, key, data) // Create takes a deleted key too
	} else {
		rev, err = s.kv.Update(rctx, key, data, sk.rev)
	}
	switch {
	case conflict(err):
		return // someone was faster
	case err != nil:
		s.o.Log.Warn("shard lease not taken", "shard", k, "err", err)
		return
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h := &heldShard{rev: rev, validUntil: sent.Add(s.o.TTL / 2), cancel: stop, done: make(chan struct{})}
	s.mu.Lock()
	s.held[k] = h
	n := len(s.held)
	s.mu.Unlock()
	if known && !sk.gone && sk.holder != s.o.Holder && s.o.OnTakeover != nil {
		s.o.OnTakeover(k, time.Since(sk.at))
	}
	s.o.Log.Info("shard lease taken", "shard", k, "shards", s.o.Count, "holder", s.o.Holder)
	s.changed(n)
	s.wg.Go(func() {
		defer close(h.done)
		err := s.identify(sctx, k)
		if err == nil {
			err = s.serve(sctx, k)
		}
		if sctx.Err() == nil {
			// The work failed by itself: give the shard up for a while.
			s.o.Log.Warn("shard work failed: giving the shard up", "shard", k, "err", err)
			s.mu.Lock()
			s.resting[k] = time.Now().Add(s.o.TTL)
			h.failed = true
			s.mu.Unlock()
		}
	})
}

// identifyWindow is Discord's: max_concurrency identifies per 5 s.
const identifyWindow = 5 * time.Second

// identify waits for shard k's turn to identify: the bucket k %
// MaxConcurrency allows one identify per 5 s across every process. The
// key holds the wall time of the last identify, plus a margin for clocks.
func (s *Shards) identify(ctx context.Context, k int) error {
	key := "identify." + strconv.Itoa(k%s.o.MaxConcurrency)
	const margin = 250 * time.Millisecond
	for {
		var (
			last time.Time
			rev  uint64
		)
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("discordkv: read %s: %w", key, err)
		default:
			ms, _ := strconv.ParseInt(string(e.Value()), 10, 64)
			last, rev = time.UnixMilli(ms), e.Revision()
		}
		if wait := time.Until(last.Add(identifyWindow + margin)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		now := []byte(strconv.FormatInt(time.Now().UnixMilli(), 10))
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, now)
		} else {
			_, err = s.kv.Update(ctx, key, now, rev)
		}
		if err == nil {
			return nil
		}
		if !conflict(err) {
			return fmt.Errorf("discordkv: write %s: %w", key, err)
		}
	}
}

// renew renews every held lease; a lease another process took, or one
// not renewed within TTL/2, is lost and its work stopped.
func (s *Shards) renew(ctx context.Context) {
	data, _ := json.Marshal(leaseData{Holder: s.o.Holder, TTLMS: s.o.TTL.Milliseconds()})
	for _, k := range s.Held() {
		s.mu.Lock()
		h := s.held[k]
		s.mu.Unlock()
		if h == nil {
			continue
		}
		sent := time.Now()
		uctx, cancel := context.WithTimeout(ctx, s.o.TTL/5)
		rev, err := s.kv.Update(uctx, s.shardKey(k), data, h.rev)
		cancel()
		switch {
		case err == nil:
			s.mu.Lock()
			h.rev, h.validUntil = rev, sent.Add(s.o.TTL/2)
			s.mu.Unlock()
		case conflict(err):
			s.o.Log.Warn("shard lease taken by another process", "shard", k)
			s.drop(k, false)
		case time.Now().After(h.validUntil):
			s.o.Log.Warn("shard lease expired: renewal failing", "shard", k, "err", err)
			s.drop(k, false)
		}
	}
}

// release stops shard k's work and deletes its lease.
func (s *Shards) release(k int) { s.drop(k, true) }

// drop stops shard k's work and forgets it; with del, the lease is
// deleted (if still ours) so that another process takes it at once.
func (s *Shards) drop(k int, del bool) {
	s.mu.Lock()
	h := s.held[k]
	if h != nil {
		h.validUntil = time.Time{} // Owns says no from now on
	}
	s.mu.Unlock()
	if h == nil {
		return
	}
	h.cancel()
	<-h.done
	s.mu.Lock()
	delete(s.held, k)
	n := len(s.held)
	s.mu.Unlock()
	s.changed(n)
	if !del {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.kv.Delete(ctx, s.shardKey(k), jetstream.LastRevision(h.rev)); err != nil && !conflict(err) {
		s.o.Log.Warn("shard lease not deleted; it expires by itself", "shard", k, "err", err)
	}
}

// releaseAll gives every shard up and deletes the member key.
func (s *Shards) releaseAll() {
	for _, k := range s.Held() {
		s.release(k)
	}
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.kv.Delete(ctx, s.memberKey())
}

func (s *Shards) changed(n int) {
	if s.o.OnChange != nil {
		s.o.OnChange(n)
	}
}
