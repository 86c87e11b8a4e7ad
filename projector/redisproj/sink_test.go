package redisproj

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/readmodel"
)

var (
	_ projector.Sink     = (*Sink)(nil)
	_ projector.Verifier = (*Sink)(nil)
)

// snapshot reads every key of a sink's projection, with the prefix cut
// off so that two projections can be compared.
func snapshot(tb testing.TB, s *Sink) map[string]*value {
	tb.Helper()
	m, err := s.dump(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]*value, len(m))
	for k, v := range m {
		out[strings.TrimPrefix(k, s.k.prefix)] = v
	}
	return out
}

func sameProjection(t *testing.T, what string, want, got map[string]*value) {
	t.Helper()
	if d := diff(want, got); len(d) > 0 {
		t.Errorf("%s: %d differences:\n%s", what, len(d), joinLines(d))
	}
}

func TestRandomStreamViewsAndVerify(t *testing.T) {
	redistest.Backends(t, testRandomStreamViewsAndVerify)
}

func testRandomStreamViewsAndVerify(t *testing.T) {
	ctx := context.Background()
	s := randomStream(t, 7, 6, 40, 3000)
	w := fold(s.recs)
	if len(w.clicks) <= LowestCap {
		t.Fatalf("the stream has %d clicks: too few to test the cap of %d", len(w.clicks), LowestCap)
	}
	sink, r, _ := mustSink(t)
	applyInBatches(t, sink, s.recs, 1, 300)
	checkViews := func(t *testing.T) {
		for id, g := range w.games {
			if !g.fold.Exists() {
				continue
			}
			got, err := r.Game(ctx, id)
			check(t, "game "+id.String(), got, err, *w.game(id))
			for _, b := range []readmodel.Board{readmodel.ByMMR, readmodel.ByClaimed, readmodel.ByClicks, readmodel.ByBest} {
				lb, err := r.Leaderboard(ctx, id, b, 15)
				check(t, "board of game "+id.String(), lb, err, w.board(id, b, 15))
			}
			teams, err := r.Teams(ctx, id)
			check(t, "teams of game "+id.String(), teams, err, w.teams(id))
			low, err := r.LowestClicks(ctx, id, 100)
			check(t, "lowest of game "+id.String(), low, err, w.lowest(g.clicks, 100))
			edges, err := r.EdgeClicks(ctx, id, 1000)
			check(t, "edges of game "+id.String(), edges, err, w.edges(id, 1000))
			clickers, err := r.LastClickers(ctx, id, 10)
			check(t, "last clickers of game "+id.String(), clickers, err, w.clickers(id, 10))
			series, err := r.Clicks(ctx, id, 1, 100000)
			check(t, "clicks of game "+id.String(), series, err, g.clicks)
			hours, err := r.ClicksPerHour(ctx, id)
			check(t, "hours of game "+id.String(), hours, err, w.hours(id))
		}
		low, err := r.GlobalLowestClicks(ctx, LowestCap+10)
		check(t, "global lowest", low, err, w.lowest(w.clicks, LowestCap))
		recent, err := r.GlobalRecentClicks(ctx, RecentCap+10)
		check(t, "global recent", recent, err, newestFirst(w.clicks, RecentCap))
		now := time.UnixMilli(s.seqTime()).UTC().Add(time.Hour)
		rank, err := r.LifetimeRanking(ctx, now)
		check(t, "ranking", rank, err, w.ranking(now))
		for _, guild := range []string{"100", "200", "300"} {
			for m := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC); !m.After(now); m = m.AddDate(0, 1, 0) {
				q, err := r.Quest(ctx, guild, m, 20)
				check(t, "quest "+guild+" "+m.Format("2006-01"), q, err, w.quest(guild, m, 20))
			}
			bans, err := r.Bans(ctx, guild)
			check(t, "bans of "+guild, bans, err, w.banList(guild))
			icon, err := r.GuildIcon(ctx, guild)
			check(t, "icon of "+guild, icon, err, w.icons[guild])
		}
		for u := range w.players {
			pg, err := r.PlayerGames(ctx, u)
			check(t, "games of "+u, pg, err, w.playerGames(u))
		}
	}
	checkViews(t)
	diffs, err := sink.Verify(ctx, s.recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 0 {
		t.Errorf("verify: %d differences:\n%s", len(diffs), joinLines(diffs))
	}
}

// TestApplyIsIdempotent applies a stream, then applies it again in every
// way a redelivery can: whole, in other batches, one old message after a
// newer one, shuffled batches. Nothing may change, and a projection built
// in other batches must be the same, key for key.
func TestApplyIsIdempotent(t *testing.T) { redistest.Backends(t, testApplyIsIdempotent) }

func testApplyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := randomStream(t, 11, 4, 25, 1500)
	s.recs = append(s.recs, scenarioTail(t, s)...)
	sink, _, _ := mustSink(t)
	applyInBatches(t, sink, s.recs, 3, 50)
	want := snapshot(t, sink)

	other, _, _ := mustSink(t)
	applyInBatches(t, other, s.recs, 4, 1)
	sameProjection(t, "one message per batch", want, snapshot(t, other))

	rng := rand.New(rand.NewPCG(5, 5))
	tests := []struct {
		name  string
		apply func() error
	}{
		{"the whole stream again", func() error { return sink.Apply(ctx, s.recs) }},
		{"every message alone again", func() error {
			for _, r := range s.recs {
				if err := sink.Apply(ctx, []events.Recorded{r}); err != nil {
					return err
				}
			}
			return nil
		}},
		{"older messages after newer ones", func() error {
			for i := len(s.recs) - 1; i >= 0; i -= 7 {
				if err := sink.Apply(ctx, []events.Recorded{s.recs[i]}); err != nil {
					return err
				}
			}
			return nil
		}},
		{"shuffled batches with duplicates", func() error {
			for range 50 {
				var batch []events.Recorded
				for range 1 + rng.IntN(40) {
					batch = append(batch, s.recs[rng.IntN(len(s.recs))])
				}
				if err := sink.Apply(ctx, batch); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.apply(); err != nil {
				t.Fatal(err)
			}
			sameProjection(t, tt.name, want, snapshot(t, sink))
		})
	}
}

// scenarioTail appends the scenario's ignored events to a stream.
func scenarioTail(tb testing.TB, s *sim) []events.Recorded {
	sc := scenario(tb)
	var out []events.Recorded
	for _, r := range sc.recs[len(sc.recs)-8:] {
		r.Seq = s.seq + uint64(len(out)) + 1
		out = append(out, r)
	}
	s.seq += uint64(len(out))
	return out
}

// failCrossGame makes the cross-game script of a pipeline fail without
// reaching Redis, as if the process died between the game scripts and it.
type failCrossGame struct {
	key string
	on  atomic.Bool
}

func (h *failCrossGame) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *failCrossGame) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *failCrossGame) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.on.Load() {
			return next(ctx, cmds)
		}
		keep := cmds[:0:0]
		for _, c := range cmds {
			if a := c.Args(); len(a) > 3 && a[0] == "evalsha" && a[3] == h.key {
				c.SetErr(errors.New("injected failure"))
				continue
			}
			keep = append(keep, c)
		}
		if len(keep) == 0 {
			return nil
		}
		return next(ctx, keep)
	}
}

// TestApplyAfterPartialFailure: a batch whose game scripts ran but whose
// cross-game script did not is completed by applying the batch again.
func TestApplyAfterPartialFailure(t *testing.T) { redistest.Backends(t, testApplyAfterPartialFailure) }

func testApplyAfterPartialFailure(t *testing.T) {
	ctx := context.Background()
	s := randomStream(t, 13, 3, 10, 400)
	full, _, _ := mustSink(t)
	applyInBatches(t, full, s.recs, 1, 64)

	sink, _, c := mustSink(t)
	hook := &failCrossGame{key: sink.k.meta()}
	faulty := redistest.NewLike(t, c)
	faulty.AddHook(hook)
	broken := New(faulty, Options{Prefix: sink.k.prefix})

	half := len(s.recs) / 2
	applyInBatches(t, sink, s.recs[:half], 1, 64)
	hook.on.Store(true)
	if err := broken.Apply(ctx, s.recs[half:half+100]); err == nil {
		t.Fatal("apply with the cross-game script failing: no error")
	}
	hook.on.Store(false)
	if pos, _ := sink.Position(ctx); pos != s.recs[half-1].Seq {
		t.Fatalf("position %d after the partial batch, want %d", pos, s.recs[half-1].Seq)
	}
	g, err := NewReader(c, sink.k.prefix).Game(ctx, 1)
	if err != nil || g.Seq <= s.recs[half-1].Seq {
		t.Fatalf("game 1 after the partial batch: seq %d, %v: the game scripts did not run", g.Seq, err)
	}
	applyInBatches(t, sink, s.recs[half:], 2, 64)
	sameProjection(t, "after the partial batch", snapshot(t, full), snapshot(t, sink))
	diffs, err := sink.Verify(ctx, s.recs)
	if err != nil || len(diffs) > 0 {
		t.Errorf("verify: %v, %d differences:\n%s", err, len(diffs), joinLines(diffs))
	}
}

func TestVerifyReportsCorruption(t *testing.T) { redistest.Backends(t, testVerifyReportsCorruption) }

func testVerifyReportsCorruption(t *testing.T) {
	ctx := context.Background()
	s := scenario(t)
	tests := []struct {
		name    string
		corrupt func(c redis.UniversalClient, k keys) error
		want    string // a difference line must contain this
	}{
		{"a game counter", func(c redis.UniversalClient, k keys) error { return c.HSet(ctx, k.game(1), "clicks", 99).Err() },
			"{g:1}:game field clicks"},
		{"a deleted player", func(c redis.UniversalClient, k keys) error { return c.HDel(ctx, k.players(1), "201").Err() },
			"{g:1}:pl field 201"},
		{"a player's click index", func(c redis.UniversalClient, k keys) error {
			return c.Append(ctx, k.playerClicks(1, "202"), pcEntry(99, 3)).Err()
		}, "{g:1}:pc:202: "},
		{"a player's figures", func(c redis.UniversalClient, k keys) error {
			rec, err := c.HGet(ctx, k.players(1), "203").Result()
			if err != nil {
				return err
			}
			return c.HSet(ctx, k.players(1), "203", "9"+rec).Err()
		}, "{g:1}:pl field 203"},
		{"a key the stream never made", func(c redis.UniversalClient, k keys) error {
			return c.Set(ctx, k.gameTag(1)+"junk", "x", 0).Err()
		}, "{g:1}:junk: not produced by the stream"},
		{"a click record", func(c redis.UniversalClient, k keys) error {
			return c.LSet(ctx, k.clicks(3), 1, "garbage").Err()
		}, "{g:3}:c item 1"},
		{"the cross-game checkpoint", func(c redis.UniversalClient, k keys) error { return c.HSet(ctx, k.meta(), "ck", 3).Err() },
			"{btn}:meta field ck"},
		{"the position", func(c redis.UniversalClient, k keys) error { return c.Set(ctx, k.pos(), 5, 0).Err() },
			"{btn}:pos"},
		{"the recent clicks", func(c redis.UniversalClient, k keys) error { return c.LPop(ctx, k.recent()).Err() },
			"{btn}:rec"},
		{"a player's games", func(c redis.UniversalClient, k keys) error {
			return c.ZAdd(ctx, k.playerGames(), redis.Z{Score: 1, Member: "201:" + pad(2)}).Err()
		}, "{btn}:pg member 201:0000000000002"},
		{"a monthly board", func(c redis.UniversalClient, k keys) error {
			return c.HSet(ctx, k.quest("100", "202602"), "999", "1:1:0:0:0:0:0:1:x").Err()
		}, "{btn}:q:100:202602 field 999"},
		{"a ban", func(c redis.UniversalClient, k keys) error { return c.HDel(ctx, k.bans("100"), "209").Err() },
			"{btn}:ban:100: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink, _, c := mustSink(t)
			applyInBatches(t, sink, s.recs, 9, 10)
			if diffs, err := sink.Verify(ctx, s.recs); err != nil || len(diffs) != 0 {
				t.Fatalf("before the corruption: %v, %d differences:\n%s", err, len(diffs), joinLines(diffs))
			}
			if err := tt.corrupt(c, sink.k); err != nil {
				t.Fatal(err)
			}
			diffs, err := sink.Verify(ctx, s.recs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(diffs, func(l string) bool { return strings.Contains(l, tt.want) }) {
				t.Errorf("no difference mentions %q; got:\n%s", tt.want, joinLines(diffs))
			}
		})
	}
}

// TestVerifyReportsMissingEvents: a projection that lacks the end of the
// stream is reported.
func TestVerifyReportsMissingEvents(t *testing.T) {
	redistest.Backends(t, testVerifyReportsMissingEvents)
}

func testVerifyReportsMissingEvents(t *testing.T) {
	ctx := context.Background()
	s := scenario(t)
	sink, _, _ := mustSink(t)
	applyInBatches(t, sink, s.recs[:len(s.recs)-20], 1, 10)
	diffs, err := sink.Verify(ctx, s.recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) == 0 {
		t.Fatal("verify found nothing missing")
	}
}

// TestFlushedRedis: when Redis loses the projection, Apply refuses to build
// on nothing (ErrFlushed, nothing written, position 0); applied again from
// the start of the stream, the projection is whole.
func TestFlushedRedis(t *testing.T) { redistest.Backends(t, testFlushedRedis) }

func testFlushedRedis(t *testing.T) {
	ctx := context.Background()
	s := randomStream(t, 17, 3, 10, 300)
	sink, _, c := mustSink(t)
	half := len(s.recs) / 2
	applyInBatches(t, sink, s.recs[:half], 1, 20)
	redistest.Drop(t, c, sink.k.prefix) // what FLUSHALL would do to our keys

	err := sink.Apply(ctx, s.recs[half:half+20])
	if !errors.Is(err, ErrFlushed) {
		t.Fatalf("apply after the flush: %v, want ErrFlushed", err)
	}
	if pos, err := sink.Position(ctx); err != nil || pos != 0 {
		t.Fatalf("position after the flush: %d, %v; want 0", pos, err)
	}
	if snap := snapshot(t, sink); slices.ContainsFunc(slices.Collect(maps.Keys(snap)), func(k string) bool {
		return strings.HasPrefix(k, "{btn}")
	}) {
		t.Fatalf("the refused batch wrote cross-game keys: %v", slices.Sorted(maps.Keys(snap)))
	}
	applyInBatches(t, sink, s.recs, 2, 20)
	diffs, err := sink.Verify(ctx, s.recs)
	if err != nil || len(diffs) != 0 {
		t.Errorf("verify after the rebuild: %v, %d differences:\n%s", err, len(diffs), joinLines(diffs))
	}
}

// TestReset: Reset empties the projection, sets the position to 0 and
// lets a replay start anywhere.
func TestReset(t *testing.T) { redistest.Backends(t, testReset) }

func testReset(t *testing.T) {
	ctx := context.Background()
	s := scenario(t)
	sink, r, c := mustSink(t)
	applyInBatches(t, sink, s.recs, 1, 10)
	// A key of another prefix and one without prefix-like shape survive.
	otherKey := sink.k.prefix + "x{g:1}:game"
	if err := c.Set(ctx, otherKey, "keep", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if pos, err := sink.Position(ctx); err != nil || pos != 0 {
		t.Fatalf("position after reset: %d, %v", pos, err)
	}
	snap := snapshot(t, sink)
	if d := cmp.Diff([]string{"{btn}:pos"}, slices.Sorted(maps.Keys(snap))); d != "" {
		t.Errorf("keys after reset (-want +got):\n%s", d)
	}
	if v, _ := c.Get(ctx, otherKey).Result(); v != "keep" {
		t.Errorf("reset deleted %s", otherKey)
	}
	if _, err := r.Game(ctx, 1); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("game 1 after reset: %v", err)
	}
	// After a reset, a batch may start anywhere (a replay --from-seq).
	if err := sink.Apply(ctx, s.recs[10:]); err != nil {
		t.Fatalf("apply from the middle after reset: %v", err)
	}
}

// TestScriptCacheMiss: scripts Redis does not know (its cache was flushed)
// are loaded and run; a sink never sees NOSCRIPT. Each sink gets scripts
// no Redis has seen, so the shared server's cache is left alone.
func TestScriptCacheMiss(t *testing.T) { redistest.Backends(t, testScriptCacheMiss) }

func testScriptCacheMiss(t *testing.T) {
	ctx := context.Background()
	s := scenario(t)
	sink, r, _ := mustSink(t)
	nonce := sink.k.prefix // unique to this test
	sink.apply = newLuaScript(applyLua + "\n-- " + nonce)
	sink.position = newLuaScript(positionLua + "\n-- " + nonce)
	applyInBatches(t, sink, s.recs, 1, 10)
	if _, err := r.Game(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if diffs, err := sink.Verify(ctx, s.recs); err != nil || len(diffs) != 0 {
		t.Errorf("verify: %v, %d differences", err, len(diffs))
	}
}

// TestUnavailable: a Redis that does not answer gives ErrUnavailable to
// readers and an error to the sink.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	r := NewReader(c, "x:")
	_, err := r.Game(ctx, 1)
	if !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("game: %v, want ErrUnavailable", err)
	}
	if _, err := r.Leaderboard(ctx, 1, readmodel.ByMMR, 5); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("leaderboard: %v, want ErrUnavailable", err)
	}
	if err := r.Ping(ctx); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("ping: %v, want ErrUnavailable", err)
	}
	sink := New(c, Options{Prefix: "x:"})
	s := scenario(t)
	if err := sink.Apply(ctx, s.recs[:5]); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("apply: %v, want ErrUnavailable", err)
	}
	if _, err := sink.Position(ctx); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("position: %v, want ErrUnavailable", err)
	}
}

// TestConcurrentAppliers: two appliers (a live projector and a replay, say)
// write the same stream into one projection at once, in different batches.
// Their checkpoints' compare-and-set makes one of them read again when the
// other moved a slot; the result is the projection one writer makes.
func TestConcurrentAppliers(t *testing.T) { redistest.Backends(t, testConcurrentAppliers) }

func testConcurrentAppliers(t *testing.T) {
	ctx := context.Background()
	s := randomStream(t, 23, 3, 15, 1500)
	ref, _, _ := mustSink(t)
	applyInBatches(t, ref, s.recs, 1, 50)

	sink, _, c := mustSink(t)
	other := New(c, Options{Prefix: sink.k.prefix})
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for i, sk := range []*Sink{sink, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			recs := s.recs
			for len(recs) > 0 {
				n := min(len(recs), 1+rng.IntN(12))
				err := sk.Apply(ctx, recs[:n])
				if errors.Is(err, errConflict) {
					conflicts.Add(1)
					continue // the loop retries a batch that failed
				}
				if err != nil {
					t.Errorf("applier %d: %v", i, err)
					return
				}
				recs = recs[n:]
			}
		}()
	}
	wg.Wait()
	sameProjection(t, "two appliers", snapshot(t, ref), snapshot(t, sink))
	if diffs, err := sink.Verify(ctx, s.recs); err != nil || len(diffs) > 0 {
		t.Errorf("verify: %v, %d differences:\n%s", err, len(diffs), joinLines(diffs))
	}
	retried := sink.conflicts.Load() + other.conflicts.Load()
	t.Logf("%d reads again after a conflict; %d batches gave up after %d in a row", retried, conflicts.Load(), maxConflicts)
	if retried == 0 {
		t.Error("no conflict happened: the test did not exercise the compare-and-set")
	}
}
