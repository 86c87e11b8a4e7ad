package redisproj

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/events"
)

// value is the content of one key, expected or read.
type value struct {
	kind string // "string", "hash", "zset" or "list"
	str  string
	hash map[string]string
	zset map[string]float64
	list []string
}

func (v *value) empty() bool {
	switch v.kind {
	case "hash":
		return len(v.hash) == 0
	case "zset":
		return len(v.zset) == 0
	case "list":
		return len(v.list) == 0
	}
	return false
}

func (v *value) size() string {
	switch v.kind {
	case "hash":
		return fmt.Sprintf("hash of %d fields", len(v.hash))
	case "zset":
		return fmt.Sprintf("sorted set of %d members", len(v.zset))
	case "list":
		return fmt.Sprintf("list of %d items", len(v.list))
	}
	return fmt.Sprintf("string %q", v.str)
}

// Verify compares every key of the projection with what applying all (the
// whole stream, in order) must have produced, by a fold written in Go
// independently of the Lua scripts, and returns one line per difference.
// It reads the whole projection: run it on a projection that is not
// moving (or expect differences for what moved).
func (s *Sink) Verify(ctx context.Context, all []events.Recorded) ([]string, error) {
	want := expect(s.k, inOrder(all))
	got, err := s.dump(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify redis projection: %w", err)
	}
	return diff(want, got), nil
}

// dump reads every key of the projection.
func (s *Sink) dump(ctx context.Context) (map[string]*value, error) {
	var names []string
	if err := s.scan(ctx, func(_ redis.UniversalClient, batch []string) error {
		names = append(names, batch...)
		return nil
	}); err != nil {
		return nil, translate("list keys", err)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make(map[string]*value, len(names))
	for chunk := range slices.Chunk(names, 500) {
		pipe := s.rdb.Pipeline()
		types := make([]*redis.StatusCmd, len(chunk))
		for i, k := range chunk {
			types[i] = pipe.Type(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, translate("read key types", err)
		}
		pipe = s.rdb.Pipeline()
		reads := make([]redis.Cmder, len(chunk))
		for i, k := range chunk {
			switch types[i].Val() {
			case "string":
				reads[i] = pipe.Get(ctx, k)
			case "hash":
				reads[i] = pipe.HGetAll(ctx, k)
			case "zset":
				reads[i] = pipe.ZRangeWithScores(ctx, k, 0, -1)
			case "list":
				reads[i] = pipe.LRange(ctx, k, 0, -1)
			case "none":
			default:
				out[k] = &value{kind: types[i].Val()}
			}
		}
		if err := execErr(ctx, pipe); err != nil {
			return nil, translate("read keys", err)
		}
		for i, k := range chunk {
			switch c := reads[i].(type) {
			case *redis.StringCmd:
				if c.Err() == nil {
					out[k] = &value{kind: "string", str: c.Val()}
				}
			case *redis.MapStringStringCmd:
				out[k] = &value{kind: "hash", hash: c.Val()}
			case *redis.ZSliceCmd:
				z := make(map[string]float64, len(c.Val()))
				for _, m := range c.Val() {
					z[m.Member.(string)] = m.Score
				}
				out[k] = &value{kind: "zset", zset: z}
			case *redis.StringSliceCmd:
				out[k] = &value{kind: "list", list: c.Val()}
			}
		}
	}
	return out, nil
}

// diff lists the differences between the expected and the read keys.
func diff(want, got map[string]*value) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w, g := want[k], got[k]
		if w.empty() {
			continue
		}
		if g == nil || g.empty() {
			out = append(out, fmt.Sprintf("%s: missing, the stream gives %s", k, w.size()))
			continue
		}
		if g.kind != w.kind {
			out = append(out, fmt.Sprintf("%s: is a %s, the stream gives a %s", k, g.kind, w.kind))
			continue
		}
		switch w.kind {
		case "string":
			if g.str != w.str {
				out = append(out, fmt.Sprintf("%s: %q, the stream gives %q", k, g.str, w.str))
			}
		case "hash":
			for _, f := range slices.Sorted(maps.Keys(union(w.hash, g.hash))) {
				wv, wok := w.hash[f]
				gv, gok := g.hash[f]
				if wok != gok || wv != gv {
					out = append(out, fmt.Sprintf("%s field %s: %s, the stream gives %s", k, f, show(gv, gok), show(wv, wok)))
				}
			}
		case "zset":
			for _, m := range slices.Sorted(maps.Keys(union(w.zset, g.zset))) {
				wv, wok := w.zset[m]
				gv, gok := g.zset[m]
				if wok != gok || wv != gv {
					out = append(out, fmt.Sprintf("%s member %s: %s, the stream gives %s", k, m,
						show(strconv.FormatFloat(gv, 'f', -1, 64), gok), show(strconv.FormatFloat(wv, 'f', -1, 64), wok)))
				}
			}
		case "list":
			if len(g.list) != len(w.list) {
				out = append(out, fmt.Sprintf("%s: %d items, the stream gives %d", k, len(g.list), len(w.list)))
			}
			for i := range min(len(g.list), len(w.list)) {
				if g.list[i] != w.list[i] {
					out = append(out, fmt.Sprintf("%s item %d: %q, the stream gives %q", k, i, g.list[i], w.list[i]))
					break
				}
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if w := want[k]; (w == nil || w.empty()) && !got[k].empty() {
			out = append(out, fmt.Sprintf("%s: not produced by the stream, holds %s", k, got[k].size()))
		}
	}
	return out
}

func union[V any](a, b map[string]V) map[string]V {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]V{}
	}
	maps.Copy(out, b)
	return out
}

func show(v string, ok bool) string {
	if !ok {
		return "absent"
	}
	return strconv.Quote(v)
}

func itoa(n int64) string  { return strconv.FormatInt(n, 10) }
func utoa(n uint64) string { return strconv.FormatUint(n, 10) }

// ErrNotLive is returned by VerifyLive where a consistent snapshot cannot
// be read in one transaction (Redis Cluster, a Ring: the projection spans
// several servers); verify the projection paused instead. Its NotLive
// method tells projector.Verify so.
var ErrNotLive error = notLive{}

type notLive struct{}

func (notLive) Error() string {
	return "redis projection: a live snapshot needs a single Redis server"
}
func (notLive) NotLive() bool { return true }

// liveAttempts bounds how many snapshots VerifyLive reads before it gives
// up: a snapshot is read again when it caught the projector between
// writing a batch's keys and moving its position. Such a snapshot is
// cheap (the script answers without the values), and the next is read
// after liveRetryMin, doubling up to liveRetryMax.
const (
	liveAttempts = 50
	liveRetryMin = time.Millisecond
	liveRetryMax = 64 * time.Millisecond
)

// snapshotScript reads the position (KEYS[1]) and every key matching the
// patterns ARGV, with its type and content, in one script: atomically,
// and with no key list read beforehand that keys created since would miss.
// The bulk of the projection is append-only (a game's click list, grown by
// RPUSH, and the players' click strings, grown by APPEND): of those it
// reads only the length (types "list+" and "string+"), and the content up
// to that length is read after the script, so Redis is held for the small
// keys only. A snapshot that catches a batch half applied (the hash
// KEYS[2] or a game's hash with a checkpoint "ck" beyond the position) is
// answered at once with the position and "unsettled" only.
var snapshotScript = redis.NewScript(`
local out = {redis.call('GET', KEYS[1])}
local pos = tonumber(out[1]) or 0
local all = {}
for i = 1, #ARGV do
  for _, k in ipairs(redis.call('KEYS', ARGV[i])) do
    all[#all + 1] = k
  end
end
for _, k in ipairs(all) do
  if (k == KEYS[2] or string.sub(k, -6) == '}:game') and redis.call('TYPE', k).ok == 'hash' then
    local ck = tonumber(redis.call('HGET', k, 'ck'))
    if ck and ck > pos then
      return {out[1], 'unsettled'}
    end
  end
end
do
  for _, k in ipairs(all) do
    local t = redis.call('TYPE', k).ok
    local v = false
    if t == 'list' and string.sub(k, -3) == '}:c' then
      t = 'list+'
      v = redis.call('LLEN', k)
    elseif t == 'string' and string.find(k, '}:pc:', 1, true) then
      t = 'string+'
      v = redis.call('STRLEN', k)
    elseif t == 'string' then v = redis.call('GET', k)
    elseif t == 'hash' then v = redis.call('HGETALL', k)
    elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
    elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
    end
    out[#out + 1] = k
    out[#out + 1] = t
    out[#out + 1] = v
  end
end
return out
`)

// VerifyLive compares the projection with the stream while its projector
// keeps running: one Lua script reads the position and every key of the
// projection (an atomic snapshot; Redis runs nothing else meanwhile, for
// about as long as reading the keys takes), read again until it holds no
// half-applied batch (every game's and the global checkpoint at most the
// position); then it compares the snapshot with the fold of the stream's
// messages up to that sequence, which each hands over in order, chunk by
// chunk, as they are read (folded up to last while the snapshot is read).
// It takes no lease and pauses no projector. It returns the snapshot's
// position and one line per difference.
func (s *Sink) VerifyLive(ctx context.Context, last uint64, each func(ctx context.Context, seq uint64, fn func([]events.Recorded) error) error) (uint64, []string, error) {
	c, ok := s.rdb.(*redis.Client)
	if !ok {
		return 0, nil, ErrNotLive
	}
	// The stream is folded up to last while the snapshot is read, and on
	// up to the snapshot's position after; again from the start only if
	// the position is below last (a projection behind the stream).
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m, folded := newModel(int(last)), uint64(0)
	fold := func(chunk []events.Recorded) error {
		for _, r := range inOrder(chunk) {
			if r.Seq > folded {
				m.add(r)
				folded = r.Seq
			}
		}
		return nil
	}
	early := make(chan error, 1)
	go func() { early <- each(fctx, last, fold) }()
	pos, got, err := s.settledSnapshot(ctx, c)
	if err != nil {
		cancel()
		<-early
		return 0, nil, err
	}
	if err := <-early; err != nil {
		return 0, nil, err
	}
	if pos < folded {
		m, folded = newModel(int(pos)), 0
	}
	if err := each(ctx, pos, fold); err != nil {
		return 0, nil, err
	}
	return pos, diff(m.values(s.k, folded), got), nil
}

// settledSnapshot reads snapshots until one holds no half-applied batch.
func (s *Sink) settledSnapshot(ctx context.Context, c *redis.Client) (uint64, map[string]*value, error) {
	t := time.Now()
	wait := liveRetryMin
	for attempt := 0; attempt < liveAttempts; attempt++ {
		pos, got, err := s.snapshot(ctx, c)
		if err != nil {
			return 0, nil, err
		}
		if got != nil && settled(s.k, got, pos) {
			s.log.Info("redis snapshot read", "position", pos, "keys", len(got), "attempts", attempt+1,
				"took", time.Since(t).Round(time.Millisecond))
			return pos, got, nil
		}
		// A batch was half applied: read again, a little later.
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, liveRetryMax)
	}
	return 0, nil, fmt.Errorf("redis projection: no settled snapshot in %d attempts", liveAttempts)
}

// snapshot runs snapshotScript and decodes its answer: nil values (and no
// error) if it caught a batch half applied.
func (s *Sink) snapshot(ctx context.Context, c *redis.Client) (uint64, map[string]*value, error) {
	patterns := s.k.patterns()
	args := make([]any, len(patterns))
	for i, p := range patterns {
		args[i] = p
	}
	res, err := snapshotScript.Run(ctx, c, []string{s.k.pos(), s.k.meta()}, args...).Slice()
	if err != nil {
		return 0, nil, translate("read a snapshot", err)
	}
	if len(res) == 2 && res[1] == "unsettled" {
		return 0, nil, nil
	}
	if len(res) == 0 || (len(res)-1)%3 != 0 {
		return 0, nil, fmt.Errorf("redis projection: snapshot of %d values", len(res))
	}
	var pos uint64
	if v, ok := res[0].(string); ok {
		if pos, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, nil, fmt.Errorf("redis projection: position %q: %w", v, err)
		}
	}
	out := make(map[string]*value, (len(res)-1)/3)
	var tails []grown // append-only keys: their length in the snapshot
	for i := 1; i+2 < len(res); i += 3 {
		name, _ := res[i].(string)
		kind, _ := res[i+1].(string)
		if kind == "list+" || kind == "string+" {
			if n, _ := res[i+2].(int64); n > 0 {
				tails = append(tails, grown{name: name, n: n})
			}
			continue
		}
		v, err := snapshotValue(name, kind, res[i+2])
		if err != nil {
			return 0, nil, err
		}
		if v != nil {
			out[name] = v
		}
	}
	if err := readGrown(ctx, c, tails, out); err != nil {
		return 0, nil, err
	}
	return pos, out, nil
}

// snapshotValue decodes one key's content as snapshotScript returns it
// (nil for a key that no longer exists).
func snapshotValue(name, kind string, res any) (*value, error) {
	items, _ := res.([]any)
	v := &value{kind: kind}
	switch kind {
	case "string":
		v.str, _ = res.(string)
	case "hash":
		v.hash = make(map[string]string, len(items)/2)
		for j := 0; j+1 < len(items); j += 2 {
			f, _ := items[j].(string)
			x, _ := items[j+1].(string)
			v.hash[f] = x
		}
	case "zset":
		v.zset = make(map[string]float64, len(items)/2)
		for j := 0; j+1 < len(items); j += 2 {
			m, _ := items[j].(string)
			sc, _ := items[j+1].(string)
			f, err := strconv.ParseFloat(sc, 64)
			if err != nil {
				return nil, fmt.Errorf("redis projection: score %q of %s: %w", sc, name, err)
			}
			v.zset[m] = f
		}
	case "list":
		v.list = make([]string, len(items))
		for j, x := range items {
			v.list[j], _ = x.(string)
		}
	case "none":
		return nil, nil // deleted between KEYS and TYPE: cannot happen in a script
	}
	return v, nil
}

// grown is an append-only key and its length (items or bytes) in a
// snapshot.
type grown struct {
	name string
	n    int64
	cmd  redis.Cmder
}

// readGrown reads what the append-only keys held at the snapshot: their
// first n items or bytes, which no later write changes.
func readGrown(ctx context.Context, c *redis.Client, tails []grown, out map[string]*value) error {
	for chunk := range slices.Chunk(tails, 500) {
		pipe := c.Pipeline()
		for i := range chunk {
			g := &chunk[i]
			if strings.HasSuffix(g.name, "}:"+sfxClicks) {
				g.cmd = pipe.LRange(ctx, g.name, 0, g.n-1)
			} else {
				g.cmd = pipe.GetRange(ctx, g.name, 0, g.n-1)
			}
		}
		if err := execErr(ctx, pipe); err != nil {
			return translate("read the append-only keys", err)
		}
		for _, g := range chunk {
			switch cmd := g.cmd.(type) {
			case *redis.StringSliceCmd:
				out[g.name] = &value{kind: "list", list: cmd.Val()}
			case *redis.StringCmd:
				out[g.name] = &value{kind: "string", str: cmd.Val()}
			}
		}
	}
	return nil
}

// settled reports whether no key of the snapshot was written by a batch
// beyond pos: the global checkpoint and every game's checkpoint are at
// most pos (the projector writes a batch's keys, then moves the position).
func settled(k keys, got map[string]*value, pos uint64) bool {
	for name, v := range got {
		if v.kind != "hash" {
			continue
		}
		if name != k.meta() && !strings.HasSuffix(name, "}:"+sfxGame) {
			continue
		}
		if ck, err := strconv.ParseUint(v.hash["ck"], 10, 64); err == nil && ck > pos {
			return false
		}
	}
	return true
}
