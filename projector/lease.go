package projector

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// A projection has at most one member applying to it at a time: the holder
// of its lease, a key of a JetStream key-value bucket that the holder
// renews. Other projector processes of the same projection stand by and
// take the lease over once it has not been renewed for its TTL; replay and
// verify take it over from a projector at once and wait one TTL before
// they write or read, by which time the old holder has stopped (it stops
// applying half a TTL after its last successful renewal, and bounds every
// write attempt by another half TTL). The sink's checkpoint stays the
// guarantee: even two members applying at once (a lease disabled, a
// paused process waking up) cannot corrupt a projection, because each
// batch starts right after the checkpoint it read and the sink skips what
// it has.

// Lease roles, shown by status.
const (
	RoleProjector = "projector"
	RoleReplay    = "replay"
	RoleVerify    = "verify"
)

// DefaultLeaseBucket is the key-value bucket holding the projection leases
// and replay markers.
const DefaultLeaseBucket = "BUTTON_PROJECTORS"

// LeaseOptions configures the lease of a projection.
type LeaseOptions struct {
	// Bucket is the key-value bucket (default DefaultLeaseBucket).
	Bucket string
	// TTL is how long a lease lasts without renewal: a standby takes over
	// from a dead holder after TTL, and a tool waits TTL after a takeover
	// (default 10s).
	TTL time.Duration
	// Holder names this member; default host-pid-random (see MemberName
	// for the stable name of a long-running member). A member finding a
	// lease held under its own name takes it back at once.
	Holder string
	// Disabled skips the lease: the member applies whenever it runs. Safe
	// (the checkpoint decides) but every member then does the work.
	Disabled bool
	// Replicas of the bucket (default 1).
	Replicas int
}

func (o LeaseOptions) withDefaults() LeaseOptions {
	if o.Bucket == "" {
		o.Bucket = DefaultLeaseBucket
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.Holder == "" {
		o.Holder = defaultHolder()
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	return o
}

// MemberName is the stable default name of a long-running member (`run`,
// `project`): the host name and a digest of its absolute data directory.
// Restarted on the same host with the same data directory — after a crash,
// a SIGKILL or a deploy — the member finds its leases under its own name
// and takes them back at once instead of standing by for a TTL. Two
// members on one host therefore need different data directories (or
// their own PROJECTOR_ID). Tools (replay, verify, status) keep the random
// default: a tool must never take a projector's lease back as its own.
func MemberName(dataDir string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(dataDir))
	return host + "-" + hex.EncodeToString(sum[:4])
}

func defaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:6])
}

// leaseValue is what a lease key holds.
type leaseValue struct {
	Holder  string `json:"holder"`
	Role    string `json:"role"`
	TTLMS   int64  `json:"ttl_ms"`
	SinceMS int64  `json:"since_ms"` // wall time the holder took the lease
}

func leaseKey(projection string) string  { return "lease." + projection }
func replayKey(projection string) string { return "replay." + projection }

// openBucket creates or updates the lease bucket.
func openBucket(ctx context.Context, feed events.Feed, o LeaseOptions) (events.Bucket, error) {
	return feed.Bucket(ctx, events.BucketConfig{
		Name:        o.Bucket,
		Description: "The Button: projection leases and replay markers",
		Replicas:    o.Replicas,
	})
}

// errLeaseLost ends a session whose lease another member took.
var errLeaseLost = errors.New("projector: lease lost")

// lease is a held lease. A nil kv means leases are disabled: always valid.
type lease struct {
	kv   events.Bucket
	key  string
	ttl  time.Duration
	data []byte
	log  *slog.Logger

	mu         sync.Mutex
	rev        uint64
	validUntil time.Time // monotonic: stop writing after this

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// disabledLease is always valid and never lost.
func disabledLease() *lease {
	return &lease{lost: make(chan struct{}), ttl: 0}
}

// acquireLease blocks until this member holds the projection's lease. With
// takeover, a lease held by a projector is taken at once and the call then
// waits one TTL of that holder, so it has stopped writing; a lease held by
// another tool is waited for like a standby. The returned lease renews
// itself until release.
func acquireLease(ctx context.Context, kv events.Bucket, projection, role string, o LeaseOptions, takeover bool, log *slog.Logger) (*lease, error) {
	key := leaseKey(projection)
	data, err := json.Marshal(leaseValue{Holder: o.Holder, Role: role, TTLMS: o.TTL.Milliseconds(), SinceMS: time.Now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	poll := min(max(o.TTL/8, 20*time.Millisecond), time.Second)
	var (
		seenRev    uint64
		seenAt     time.Time
		announced  bool
		failures   int
		lastLogged time.Time
	)
	for {
		sent := time.Now()
		rev, grace, err := tryLease(ctx, kv, key, data, o, role, takeover, &seenRev, &seenAt)
		switch {
		case err == nil && rev != 0:
			l := &lease{kv: kv, key: key, ttl: o.TTL, data: data, log: log, rev: rev,
				validUntil: sent.Add(o.TTL / 2), lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.renew() // owned by l: release waits for it
			if grace > 0 {
				log.Info("lease taken over, waiting for the previous holder to stop", "key", key, "wait", grace)
				select {
				case <-time.After(grace):
				case <-ctx.Done():
					l.release()
					return nil, ctx.Err()
				}
			}
			log.Info("lease acquired", "key", key, "role", role, "holder", o.Holder)
			return l, nil
		case err != nil:
			failures++
			if time.Since(lastLogged) >= errorLogEvery {
				log.Warn("lease unavailable, retrying", "key", key, "failures", failures, "err", err)
				lastLogged = time.Now()
			}
		case !announced:
			log.Info("standing by: another member holds the lease", "key", key)
			announced = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// tryLease makes one attempt: it returns the new revision when the lease
// is ours (and how long to wait before using it), 0 when another member
// holds it.
func tryLease(ctx context.Context, kv events.Bucket, key string, data []byte, o LeaseOptions, role string, takeover bool, seenRev *uint64, seenAt *time.Time) (uint64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, max(o.TTL, time.Second))
	defer cancel()
	value, curRev, err := kv.Get(ctx, key)
	if errors.Is(err, events.ErrNotFound) {
		rev, err := kv.Create(ctx, key, data)
		if errors.Is(err, events.ErrConflict) {
			return 0, 0, nil // someone was faster
		}
		return rev, 0, err
	}
	if err != nil {
		return 0, 0, err
	}
	var cur leaseValue
	if err := json.Unmarshal(value, &cur); err != nil || cur.TTLMS <= 0 {
		cur = leaseValue{TTLMS: o.TTL.Milliseconds()} // unreadable: treat as a holder with our TTL
	}
	curTTL := time.Duration(cur.TTLMS) * time.Millisecond
	take := func(grace time.Duration) (uint64, time.Duration, error) {
		rev, err := kv.Update(ctx, key, data, curRev)
		if isRevisionConflict(err) {
			return 0, 0, nil
		}
		return rev, grace, err
	}
	switch {
	case cur.Holder == o.Holder:
		return take(0) // ours from before (a reconnect or a restart under the same name)
	case takeover && cur.Role == RoleProjector:
		return take(curTTL)
	}
	if curRev != *seenRev {
		*seenRev, *seenAt = curRev, time.Now()
		return 0, 0, nil
	}
	if time.Since(*seenAt) >= curTTL {
		return take(0) // not renewed for a whole TTL: the holder is gone
	}
	return 0, 0, nil
}

func isRevisionConflict(err error) bool { return errors.Is(err, events.ErrConflict) }

// renew keeps the lease alive until release, or marks it lost when
// another member took it or renewal failed for longer than its validity.
func (l *lease) renew() {
	defer close(l.done)
	every := l.ttl / 5
	t := time.NewTicker(every)
	defer t.Stop()
	var lastLogged time.Time
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		l.mu.Lock()
		rev := l.rev
		l.mu.Unlock()
		next, err := l.kv.Update(ctx, l.key, l.data, rev)
		cancel()
		switch {
		case err == nil:
			l.mu.Lock()
			l.rev, l.validUntil = next, sent.Add(l.ttl/2)
			l.mu.Unlock()
		case isRevisionConflict(err):
			l.log.Warn("lease taken by another member", "key", l.key)
			l.markLost()
			return
		default:
			if time.Since(lastLogged) >= errorLogEvery {
				l.log.Warn("lease renewal failed", "key", l.key, "err", err)
				lastLogged = time.Now()
			}
			if !l.valid() {
				l.log.Warn("lease expired: renewal failing", "key", l.key, "err", err)
				l.markLost()
				return
			}
		}
	}
}

func (l *lease) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

// valid reports whether the holder may start a write now.
func (l *lease) valid() bool {
	if l.kv == nil {
		return true
	}
	select {
	case <-l.lost:
		return false
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.validUntil)
}

// attemptTimeout bounds one write attempt so that it ends within the TTL
// of the last renewal.
func (l *lease) attemptTimeout(def time.Duration) time.Duration {
	if l.kv == nil {
		return def
	}
	return min(def, l.ttl/2)
}

// release stops renewing and deletes the lease so a standby takes it at
// once. It waits for the renewal goroutine.
func (l *lease) release() {
	if l.kv == nil {
		return
	}
	close(l.stop)
	<-l.done
	select {
	case <-l.lost:
		return // not ours any more
	default:
	}
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, l.key, rev); err != nil && !isRevisionConflict(err) {
		l.log.Warn("lease release failed; it expires by itself", "key", l.key, "err", err)
	}
}
