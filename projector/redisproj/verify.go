package redisproj

import (
	"cmp"
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

// The model: what Apply must have written, computed again from the fold of
// each game (events.Game) and of the cross-game events, key by key. It
// shares only the key names and record formats with Apply.

type modelGame struct {
	fold    events.Game
	ck      uint64
	upd     map[string]string
	claimed int64
	n, t, u [6]int64
	players map[string]*playerRec
	recs    map[string][]string // user → click records
	c       []string
	low     map[string]float64
	edge    map[string]float64
	hours   map[int64]int64
}

type modelQuest struct {
	claimed, clicks int64
	users           map[string]*questRec
}

func expect(k keys, all []events.Recorded) map[string]*value {
	out := map[string]*value{}
	games := map[events.GameID]*modelGame{}
	var (
		gck     uint64
		gs      = map[string]float64{}
		active  = map[string]float64{}
		guildGs = map[string]map[string]float64{}
		chans   = map[string]string{}
		icons   = map[string]string{}
		bans    = map[string]map[string]string{}
		recent  []string
		low     = map[string]float64{}
		quests  = map[string]*modelQuest{}
		pgames  = map[string]float64{}
	)
	for _, r := range all {
		if id, ok := gameEvent(r); ok {
			g := games[id]
			if g == nil {
				g = &modelGame{upd: map[string]string{}, players: map[string]*playerRec{}, recs: map[string][]string{},
					low: map[string]float64{}, edge: map[string]float64{}, hours: map[int64]int64{}}
				games[id] = g
			}
			_, starting := r.Event.(events.GameStarted)
			if !g.fold.Exists() && !starting {
				continue // the game does not exist: nothing written
			}
			g.ck = r.Seq
			if err := g.fold.Apply(r.Seq, r.Event); err != nil {
				continue // refused by the fold: only the checkpoint moves
			}
			switch e := r.Event.(type) {
			case events.GameStarted:
				gck = r.Seq
				maps.Copy(g.upd, map[string]string{
					"game": id.String(), "guild": e.Guild, "bch": e.ButtonChannel, "cch": e.ChatChannel,
					"dur": itoa(e.DurationMS), "cd": itoa(e.CooldownMS), "seqn": itoa(int64(e.Sequential)),
					"by": e.StartedBy, "byname": e.StarterName, "start": itoa(e.AtMS), "sseq": utoa(r.Seq),
				})
				gid := id.String()
				gs[gid] = float64(e.AtMS)
				active[gid] = float64(e.AtMS)
				if guildGs[e.Guild] == nil {
					guildGs[e.Guild] = map[string]float64{}
				}
				guildGs[e.Guild][gid] = float64(e.AtMS)
			case events.ButtonClicked:
				gck = r.Seq
				rec := encodeClick(r.Seq, e)
				g.upd["last"] = rec
				p := g.players[e.User]
				if p == nil {
					p = &playerRec{firstAt: e.AtMS}
					g.players[e.User] = p
				}
				p.clicks++
				if p.b[e.Band] == 0 {
					g.u[e.Band]++
				}
				p.b[e.Band]++
				g.n[e.Band]++
				g.t[e.Band] += e.ClaimedMS
				g.claimed += e.ClaimedMS
				if p.clicks == 1 || e.ValueMS < p.best {
					p.best, p.bestN, p.bestB = e.ValueMS, e.Number, int64(e.Band)
				}
				p.lastAt, p.lastN = e.AtMS, e.Number
				p.claimed += e.ClaimedMS
				p.mmr += e.MMRMilli
				if e.UserName != "" {
					p.name = e.UserName
				}
				g.recs[e.User] = append(g.recs[e.User], rec)
				g.c = append(g.c, rec)
				g.low[pad(e.Number)] = float64(e.ValueMS)
				g.hours[e.AtMS/3600000]++
				dur := msDur(g.fold.DurationMS())
				if dist, _, _ := NearestEdge(msDur(e.ValueMS), dur); dist <= EdgeWindow(dur) {
					g.edge[pad(e.Number)] = float64(dist.Milliseconds())
				}

				recent = append(recent, rec)
				low[rec] = float64(e.ValueMS)
				qk := e.Guild + ":" + monthKey(e.AtMS)
				q := quests[qk]
				if q == nil {
					q = &modelQuest{users: map[string]*questRec{}}
					quests[qk] = q
				}
				qu := q.users[e.User]
				if qu == nil {
					qu = &questRec{}
					q.users[e.User] = qu
				}
				qu.claimed += e.ClaimedMS
				qu.clicks++
				qu.b[e.Band]++
				if e.UserName != "" {
					qu.name = e.UserName
				}
				q.claimed += e.ClaimedMS
				q.clicks++
				pgames[e.User+":"+pad(int64(id))] = 0
			case events.GameEnded:
				gck = r.Seq
				maps.Copy(g.upd, map[string]string{
					"end_reason": string(e.Reason), "end_at": itoa(e.AtMS), "end_by": e.By, "end_why": e.Why, "eseq": utoa(r.Seq),
				})
				delete(active, id.String())
			case events.GameMessagePosted:
				g.upd["msg_ch"], g.upd["msg_id"] = e.Channel, e.MessageID
			}
			continue
		}
		if !crossGameEvent(r) {
			continue
		}
		gck = r.Seq
		switch e := r.Event.(type) {
		case events.ChannelClaimed:
			chans[e.Channel] = e.Game.String()
		case events.GuildIconSet:
			icons[e.Guild] = e.Icon
		case events.PlayerBanned:
			if bans[e.Guild] == nil {
				bans[e.Guild] = map[string]string{}
			}
			bans[e.Guild][e.User] = encodeBan(e)
		case events.PlayerUnbanned:
			delete(bans[e.Guild], e.User)
		}
	}

	put := func(key string, v *value) { out[key] = v }
	for id, g := range games {
		if !g.fold.Exists() {
			continue
		}
		h := maps.Clone(g.upd)
		h["ck"] = utoa(g.ck)
		h["status"] = string(g.fold.Status)
		h["last_at"] = itoa(g.fold.LastClickMS)
		h["clicks"] = itoa(g.fold.Clicks)
		h["players"] = itoa(int64(len(g.players)))
		h["claimed"] = itoa(g.claimed)
		for b := range 6 {
			h["n"+strconv.Itoa(b)] = itoa(g.n[b])
			h["t"+strconv.Itoa(b)] = itoa(g.t[b])
			h["u"+strconv.Itoa(b)] = itoa(g.u[b])
		}
		put(k.game(id), &value{kind: "hash", hash: h})
		put(k.clicks(id), &value{kind: "list", list: g.c})
		put(k.low(id), &value{kind: "zset", zset: lowest(g.low, LowestCap)})
		put(k.edge(id), &value{kind: "zset", zset: g.edge})
		hours := map[string]string{}
		for hr, n := range g.hours {
			hours[itoa(hr)] = itoa(n)
		}
		put(k.hours(id), &value{kind: "hash", hash: hours})
		pl := map[string]string{}
		for u, p := range g.players {
			pl[u] = p.String()
			var index strings.Builder
			for _, rec := range g.recs[u] {
				c, err := decodeClick(rec)
				if err != nil {
					panic(err) // the model encoded it
				}
				index.WriteString(pcEntry(c.Number, int(c.Band)))
			}
			put(k.playerClicks(id, u), &value{kind: "string", str: index.String()})
		}
		put(k.players(id), &value{kind: "hash", hash: pl})
	}

	if n := len(all); n > 0 {
		put(k.pos(), &value{kind: "string", str: utoa(all[n-1].Seq)})
	}
	if gck > 0 {
		put(k.meta(), &value{kind: "hash", hash: map[string]string{"ck": utoa(gck)}})
	}
	put(k.games(), &value{kind: "zset", zset: gs})
	put(k.active(), &value{kind: "zset", zset: active})
	for guild, z := range guildGs {
		put(k.guildGames(guild), &value{kind: "zset", zset: z})
	}
	put(k.channels(), &value{kind: "hash", hash: chans})
	put(k.icons(), &value{kind: "hash", hash: icons})
	for guild, h := range bans {
		put(k.bans(guild), &value{kind: "hash", hash: h})
	}
	slices.Reverse(recent)
	put(k.recent(), &value{kind: "list", list: recent[:min(len(recent), RecentCap)]})
	put(k.globalLow(), &value{kind: "zset", zset: lowest(low, LowestCap)})
	for qk, q := range quests {
		guild, month, _ := strings.Cut(qk, ":")
		h := map[string]string{"_claimed": itoa(q.claimed), "_clicks": itoa(q.clicks)}
		for u, qu := range q.users {
			h[u] = qu.String()
		}
		put(k.quest(guild, month), &value{kind: "hash", hash: h})
	}
	put(k.playerGames(), &value{kind: "zset", zset: pgames})
	return out
}

// lowest keeps the n lowest members of a sorted set, in Redis's order
// (score, then member).
func lowest(z map[string]float64, n int) map[string]float64 {
	ms := slices.SortedFunc(maps.Keys(z), func(a, b string) int { return cmp.Or(cmp.Compare(z[a], z[b]), strings.Compare(a, b)) })
	out := make(map[string]float64, min(n, len(ms)))
	for _, m := range ms[:min(n, len(ms))] {
		out[m] = z[m]
	}
	return out
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
// writing a batch's keys and moving its position.
const liveAttempts = 50

// snapshotScript reads the position (KEYS[1]) and every key matching the
// patterns ARGV, with its type and content, in one script: atomically,
// and with no key list read beforehand that keys created since would miss.
// The bulk of the projection is append-only (a game's click list, grown by
// RPUSH, and the players' click strings, grown by APPEND): of those it
// reads only the length (types "list+" and "string+"), and the content up
// to that length is read after the script, so Redis is held for the small
// keys only.
var snapshotScript = redis.NewScript(`
local out = {redis.call('GET', KEYS[1])}
for i = 1, #ARGV do
  for _, k in ipairs(redis.call('KEYS', ARGV[i])) do
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
// position); then it compares the snapshot with the fold of upTo(position),
// the stream's messages up to that sequence. It takes no lease and pauses
// no projector. It returns the snapshot's position and one line per
// difference.
func (s *Sink) VerifyLive(ctx context.Context, upTo func(ctx context.Context, seq uint64) ([]events.Recorded, error)) (uint64, []string, error) {
	c, ok := s.rdb.(*redis.Client)
	if !ok {
		return 0, nil, ErrNotLive
	}
	for attempt := 0; attempt < liveAttempts; attempt++ {
		t := time.Now()
		pos, got, err := s.snapshot(ctx, c)
		if err != nil {
			return 0, nil, err
		}
		s.log.Info("redis snapshot read", "position", pos, "keys", len(got), "attempt", attempt+1,
			"took", time.Since(t).Round(time.Millisecond))
		if !settled(s.k, got, pos) {
			continue // a batch was half applied: read again
		}
		all, err := upTo(ctx, pos)
		if err != nil {
			return 0, nil, err
		}
		return pos, diff(expect(s.k, inOrder(all)), got), nil
	}
	return 0, nil, fmt.Errorf("redis projection: no settled snapshot in %d attempts", liveAttempts)
}

// snapshot runs snapshotScript and decodes its answer.
func (s *Sink) snapshot(ctx context.Context, c *redis.Client) (uint64, map[string]*value, error) {
	patterns := s.k.patterns()
	args := make([]any, len(patterns))
	for i, p := range patterns {
		args[i] = p
	}
	res, err := snapshotScript.Run(ctx, c, []string{s.k.pos()}, args...).Slice()
	if err != nil {
		return 0, nil, translate("read a snapshot", err)
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
	type grown struct {
		name string
		n    int64
		cmd  redis.Cmder
	}
	var tails []grown // append-only keys: their length in the snapshot
	for i := 1; i+2 < len(res); i += 3 {
		name, _ := res[i].(string)
		kind, _ := res[i+1].(string)
		items, _ := res[i+2].([]any)
		v := &value{kind: kind}
		switch kind {
		case "list+", "string+":
			if n, _ := res[i+2].(int64); n > 0 {
				tails = append(tails, grown{name: name, n: n})
			}
			continue
		case "string":
			v.str, _ = res[i+2].(string)
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
					return 0, nil, fmt.Errorf("redis projection: score %q of %s: %w", sc, name, err)
				}
				v.zset[m] = f
			}
		case "list":
			v.list = make([]string, len(items))
			for j, x := range items {
				v.list[j], _ = x.(string)
			}
		case "none":
			continue // deleted between KEYS and TYPE: cannot happen in a script
		}
		out[name] = v
	}
	// What the append-only keys held at the snapshot: their first n items
	// or bytes, which no later write changes.
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
			return 0, nil, translate("read the append-only keys", err)
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
	return pos, out, nil
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
