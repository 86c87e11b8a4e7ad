package redisproj

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/thebutton-game/thebutton/events"
)

// The model: what Apply must have written, computed again from the fold of
// each game (events.Game) and of the cross-game events, key by key. It
// shares with Apply the key names, the record formats and the arithmetic
// of a click (tally, playerRec.add, questRec.add).

// model is the whole projection folded from the stream.
type model struct {
	games   map[events.GameID]*modelGame
	gck     uint64 // the cross-game checkpoint
	gs      map[string]float64
	active  map[string]float64
	guildGs map[string]map[string]float64
	chans   map[string]string
	icons   map[string]string
	bans    map[string]map[string]string
	recent  []string  // click records, oldest first
	low     []zMember // every click: value, record
	quests  map[questKey]*modelQuest
	pgames  map[string]float64
}

// modelGame is one game's keys folded from the stream.
type modelGame struct {
	fold    events.Game
	ck      uint64
	upd     map[string]string
	tally   tally
	players map[string]*playerRec
	pc      map[string][]byte // user → the player's click index
	c       []string
	low     []zMember // every click: value, padded number
	edge    map[string]float64
	hours   map[int64]int64
}

type modelQuest struct {
	claimed, clicks int64
	users           map[string]*questRec
}

// expect returns every key the projection must hold after all.
func expect(k keys, all []events.Recorded) map[string]*value {
	m := newModel(len(all))
	for _, r := range all {
		m.add(r)
	}
	var last uint64
	if n := len(all); n > 0 {
		last = all[n-1].Seq
	}
	return m.values(k, last)
}

// newModel returns an empty model with room for about n messages.
func newModel(n int) *model {
	return &model{games: map[events.GameID]*modelGame{}, gs: map[string]float64{}, active: map[string]float64{},
		guildGs: map[string]map[string]float64{}, chans: map[string]string{}, icons: map[string]string{},
		bans: map[string]map[string]string{}, quests: map[questKey]*modelQuest{}, pgames: map[string]float64{},
		low: make([]zMember, 0, n)}
}

// values returns every key of the model, the position being last (0: no
// message).
func (m *model) values(k keys, last uint64) map[string]*value {
	out := map[string]*value{}
	for id, g := range m.games {
		if g.fold.Exists() {
			g.put(k, id, out)
		}
	}
	if last > 0 {
		out[k.pos()] = &value{kind: "string", str: utoa(last)}
	}
	m.put(k, out)
	return out
}

// add folds one message.
func (m *model) add(r events.Recorded) {
	if id, ok := gameEvent(r); ok {
		m.gameEvent(id, r)
		return
	}
	if !crossGameEvent(r) {
		return
	}
	m.gck = r.Seq
	switch e := r.Event.(type) {
	case events.ChannelClaimed:
		m.chans[e.Channel] = e.Game.String()
	case events.GuildIconSet:
		m.icons[e.Guild] = e.Icon
	case events.PlayerBanned:
		if m.bans[e.Guild] == nil {
			m.bans[e.Guild] = map[string]string{}
		}
		m.bans[e.Guild][e.User] = encodeBan(e)
	case events.PlayerUnbanned:
		delete(m.bans[e.Guild], e.User)
	}
}

// gameEvent folds an event of game id.
func (m *model) gameEvent(id events.GameID, r events.Recorded) {
	g := m.games[id]
	if g == nil {
		g = &modelGame{upd: map[string]string{}, players: map[string]*playerRec{}, pc: map[string][]byte{},
			edge: map[string]float64{}, hours: map[int64]int64{}}
		m.games[id] = g
	}
	_, starting := r.Event.(events.GameStarted)
	if !g.fold.Exists() && !starting {
		return // the game does not exist: nothing written
	}
	g.ck = r.Seq
	if err := g.fold.Apply(r.Seq, r.Event); err != nil {
		return // refused by the fold: only the checkpoint moves
	}
	switch e := r.Event.(type) {
	case events.GameStarted:
		m.gck = r.Seq
		maps.Copy(g.upd, map[string]string{
			"game": id.String(), "guild": e.Guild, "bch": e.ButtonChannel, "cch": e.ChatChannel,
			"dur": itoa(e.DurationMS), "cd": itoa(e.CooldownMS), "seqn": itoa(int64(e.Sequential)),
			"by": e.StartedBy, "byname": e.StarterName, "start": itoa(e.AtMS), "sseq": utoa(r.Seq),
		})
		gid := id.String()
		m.gs[gid] = float64(e.AtMS)
		m.active[gid] = float64(e.AtMS)
		if m.guildGs[e.Guild] == nil {
			m.guildGs[e.Guild] = map[string]float64{}
		}
		m.guildGs[e.Guild][gid] = float64(e.AtMS)
	case events.ButtonClicked:
		m.gck = r.Seq
		rec := encodeClick(r.Seq, e)
		g.click(e, rec)
		m.click(e, rec)
	case events.GameEnded:
		m.gck = r.Seq
		maps.Copy(g.upd, map[string]string{
			"end_reason": string(e.Reason), "end_at": itoa(e.AtMS), "end_by": e.By, "end_why": e.Why, "eseq": utoa(r.Seq),
		})
		delete(m.active, id.String())
	case events.GameMessagePosted:
		g.upd["msg_ch"], g.upd["msg_id"] = e.Channel, e.MessageID
	}
}

// click folds a valid click (record rec) into its game's keys.
func (g *modelGame) click(e events.ButtonClicked, rec string) {
	g.upd["last"] = rec
	p := g.players[e.User]
	if p == nil {
		p = &playerRec{}
		g.players[e.User] = p
	}
	g.tally.click(p, e)
	g.pc[e.User] = append(appendPad(g.pc[e.User], e.Number), byte('0'+e.Band))
	g.c = append(g.c, rec)
	padded := pad(e.Number)
	g.low = append(g.low, zMember{e.ValueMS, padded})
	g.hours[e.AtMS/3600000]++
	if dist, ok := edgeDistance(e.ValueMS, g.fold.DurationMS()); ok {
		g.edge[padded] = float64(dist)
	}
}

// click folds a valid click (record rec) into the cross-game keys.
func (m *model) click(e events.ButtonClicked, rec string) {
	m.recent = append(m.recent, rec)
	m.low = append(m.low, zMember{e.ValueMS, rec})
	qk := questKey{e.Guild, monthKey(e.AtMS)}
	q := m.quests[qk]
	if q == nil {
		q = &modelQuest{users: map[string]*questRec{}}
		m.quests[qk] = q
	}
	qu := q.users[e.User]
	if qu == nil {
		qu = &questRec{}
		q.users[e.User] = qu
	}
	qu.add(e)
	q.claimed += e.ClaimedMS
	q.clicks++
	m.pgames[e.User+":"+pad(int64(e.Game))] = 0
}

// put writes the game's keys into out.
func (g *modelGame) put(k keys, id events.GameID, out map[string]*value) {
	h := maps.Clone(g.upd)
	h["ck"] = utoa(g.ck)
	h["status"] = string(g.fold.Status)
	h["last_at"] = itoa(g.fold.LastClickMS)
	h["clicks"] = itoa(g.fold.Clicks)
	g.tally.putTotals(h)
	for b := range 6 {
		g.tally.putBand(h, b)
	}
	out[k.game(id)] = &value{kind: "hash", hash: h}
	out[k.clicks(id)] = &value{kind: "list", list: g.c}
	out[k.low(id)] = &value{kind: "zset", zset: lowest(g.low, LowestCap)}
	out[k.edge(id)] = &value{kind: "zset", zset: g.edge}
	hours := make(map[string]string, len(g.hours))
	for hr, n := range g.hours {
		hours[itoa(hr)] = itoa(n)
	}
	out[k.hours(id)] = &value{kind: "hash", hash: hours}
	pl := make(map[string]string, len(g.players))
	for u, p := range g.players {
		pl[u] = p.String()
		out[k.playerClicks(id, u)] = &value{kind: "string", str: string(g.pc[u])}
	}
	out[k.players(id)] = &value{kind: "hash", hash: pl}
}

// put writes the cross-game keys into out.
func (m *model) put(k keys, out map[string]*value) {
	if m.gck > 0 {
		out[k.meta()] = &value{kind: "hash", hash: map[string]string{"ck": utoa(m.gck)}}
	}
	out[k.games()] = &value{kind: "zset", zset: m.gs}
	out[k.active()] = &value{kind: "zset", zset: m.active}
	for guild, z := range m.guildGs {
		out[k.guildGames(guild)] = &value{kind: "zset", zset: z}
	}
	out[k.channels()] = &value{kind: "hash", hash: m.chans}
	out[k.icons()] = &value{kind: "hash", hash: m.icons}
	for guild, h := range m.bans {
		out[k.bans(guild)] = &value{kind: "hash", hash: h}
	}
	recent := slices.Clone(m.recent[max(0, len(m.recent)-RecentCap):])
	slices.Reverse(recent)
	out[k.recent()] = &value{kind: "list", list: recent}
	out[k.globalLow()] = &value{kind: "zset", zset: lowest(m.low, LowestCap)}
	for qk, q := range m.quests {
		h := map[string]string{"_claimed": itoa(q.claimed), "_clicks": itoa(q.clicks)}
		for u, qu := range q.users {
			h[u] = qu.String()
		}
		out[k.quest(qk.guild, qk.month)] = &value{kind: "hash", hash: h}
	}
	out[k.playerGames()] = &value{kind: "zset", zset: m.pgames}
}

// lowest keeps the n lowest members of a sorted set, in Redis's order
// (score, then member). It reorders z.
func lowest(z []zMember, n int) map[string]float64 {
	slices.SortFunc(z, func(a, b zMember) int {
		return cmp.Or(cmp.Compare(a.value, b.value), strings.Compare(a.member, b.member))
	})
	out := make(map[string]float64, min(n, len(z)))
	for _, m := range z[:min(n, len(z))] {
		out[m.member] = float64(m.value)
	}
	return out
}
