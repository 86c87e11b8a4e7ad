package legacy

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/thebutton-game/thebutton/events"
)

// OldLayout says where the clicks of the older single-guild layout (rows
// of button_clicks without a game_id) belong: the original kept the guild
// and channels in its config file, not in the database.
type OldLayout struct {
	Game        events.GameID // the number the game gets here; 0: the rows are not imported
	Guild       string
	Channel     string
	ChatChannel string        // default Channel
	Duration    time.Duration // default 12 h
	Cooldown    time.Duration // default 3 h
}

// Options configure an import.
type Options struct {
	// Source names the source in every event's provenance and message id;
	// default "legacy:<database name>". Keep it the same across runs.
	Source string
	// GameOffset is added to the original's game ids to number the games
	// here (0: Game #N stays Game #N).
	GameOffset int64
	OldLayout  OldLayout
	// Examples is how many examples of each anomaly kind the report
	// keeps (0: DefaultExamples; negative: every one).
	Examples int
}

// item is one event to append, with its subject and message id.
type item struct {
	subject string
	msgID   string
	event   events.Event
}

// gamePlan is one game's events in stream order: the start, the clicks
// (numbered 1…n in time order), then the end, if it ended.
type gamePlan struct {
	id       events.GameID
	label    string // for messages: "game_sessions 12" or "old layout"
	items    []item // start, clicks, end
	clicks   int
	live     bool
	deadline int64
	guild    string
	channel  string
	claim    *item // a live game's channel claim
	startRow events.Imported
}

// plan is everything an import appends, in order: guild events, then
// every game in number order.
type plan struct {
	source string
	guilds []item
	games  []*gamePlan
	report Report
}

func (p *plan) events() int {
	n := len(p.guilds)
	for _, g := range p.games {
		n += len(g.items)
		if g.claim != nil {
			n++
		}
	}
	return n
}

func snowflake(v int64) (string, bool) {
	if v <= 0 {
		return "", false
	}
	return strconv.FormatInt(v, 10), true
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// maxTimeMS is the latest time an event may carry (events' limit, 2^52 ms).
const maxTimeMS = 1 << 52

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

// buildPlan turns the snapshot into events. now decides whether a game
// without end_time is still live (its deadline is ahead) or ended at its
// deadline while nobody recorded it.
func buildPlan(s *snapshot, o Options, now time.Time) (*plan, error) {
	p := &plan{source: o.Source}
	p.report.Anomalies.Limit = o.Examples
	a := &p.report.Anomalies
	for _, k := range s.Unknown.Kinds() { // all of them: the snapshot keeps DefaultExamples
		for _, ex := range s.Unknown.Examples[k] {
			a.add(k, "%s", ex)
		}
		a.Count[k] = s.Unknown.Count[k]
	}
	prov := func(table string, row int64) events.Imported {
		return events.Imported{Source: o.Source, Table: table, RowID: row}
	}
	msgID := func(table string, row int64, kind string) string {
		id := o.Source + ":" + table + ":" + strconv.FormatInt(row, 10)
		if kind != "" {
			id += ":" + kind
		}
		return id
	}

	// Games of the multi-guild layout, by id.
	type source struct {
		row    *gameRow // nil: old layout
		clicks []clickRow
	}
	byID := map[int64]*source{}
	for i := range s.Games {
		byID[s.Games[i].ID] = &source{row: &s.Games[i]}
	}
	var old source
	for _, c := range s.Clicks {
		if !c.Game.Valid {
			old.clicks = append(old.clicks, c)
			continue
		}
		g := byID[c.Game.Int64]
		if g == nil {
			a.add(KindClickWithoutGame, "button_clicks %d names game %d", c.ID, c.Game.Int64)
			p.report.Skipped++
			continue
		}
		g.clicks = append(g.clicks, c)
	}

	users := map[string]bool{}
	truncated := map[string]bool{}
	guilds := map[string]bool{}
	taken := map[events.GameID]string{}
	build := func(label string, src *source, id events.GameID, st events.GameStarted, end *time.Time, startRow events.Imported, startMsg string) {
		if prev, dup := taken[id]; dup {
			a.add(KindGameInvalid, "%s would be game #%d, already given to %s", label, id, prev)
			p.report.Skipped += len(src.clicks) + 1
			return
		}
		taken[id] = label
		durMS := st.DurationMS
		gp := &gamePlan{id: id, label: label, guild: st.Guild, channel: st.ButtonChannel, startRow: startRow}
		subject := events.GameSubject(id)
		// Time order; the original's row order breaks ties (same second).
		clicks := src.clicks
		sort.SliceStable(clicks, func(i, j int) bool {
			if !clicks[i].At.Equal(clicks[j].At) {
				return clicks[i].At.Before(clicks[j].At)
			}
			return clicks[i].ID < clicks[j].ID
		})
		outOfOrder := 0
		for i := 1; i < len(clicks); i++ {
			if clicks[i].ID < clicks[i-1].ID {
				outOfOrder++
				if outOfOrder == 1 {
					a.add(KindOutOfOrder, "%s: row %d (%s) was stored after row %d (%s)", label,
						clicks[i-1].ID, fmtTime(clicks[i-1].At), clicks[i].ID, fmtTime(clicks[i].At))
				}
			}
		}
		if outOfOrder > 1 {
			a.Count[KindOutOfOrder] += outOfOrder - 1
		}
		if st.AtMS < 0 || st.AtMS > maxTimeMS {
			a.add(KindInvalidTime, "%s: start_time %s", label, fmtTime(time.UnixMilli(st.AtMS)))
			p.report.Skipped += len(src.clicks) + 1
			return
		}
		if st.AtMS == 0 { // no start time recorded
			if len(clicks) == 0 {
				a.add(KindGameInvalid, "%s has no start time and no clicks", label)
				p.report.Skipped++
				return
			}
			st.AtMS = ms(clicks[0].At)
			a.add(KindStartInferred, "%s: start taken as its first click, %s", label, fmtTime(clicks[0].At))
		}
		gp.items = append(gp.items, item{subject, startMsg, st})
		lastClick := st.AtMS
		lastEvent := st.AtMS
		lastByUser := map[string]int64{}
		idxByUser := map[string]int{}
		var order []string
		var prevAt int64 = -1
		n := int64(0)
		for _, c := range clicks {
			user, ok := snowflake(c.User)
			if !ok {
				a.add(KindInvalidID, "button_clicks %d: user_id %d", c.ID, c.User)
				p.report.Skipped++
				continue
			}
			at := ms(c.At)
			if at <= 0 || at > maxTimeMS {
				a.add(KindInvalidTime, "button_clicks %d: click_time %s", c.ID, fmtTime(c.At))
				p.report.Skipped++
				continue
			}
			if c.ValueS*1000 > events.MaxDurationMS {
				a.add(KindValueOutOfRange, "%s: button_clicks %d timer_value %d s: not importable", label, c.ID, c.ValueS)
				p.report.Skipped++
				continue
			}
			if end != nil && c.At.After(*end) {
				a.add(KindClickAfterEnd, "%s: button_clicks %d at %s, end_time %s", label, c.ID, fmtTime(c.At), fmtTime(*end))
			}
			if at < st.AtMS {
				a.add(KindClickBeforeStart, "%s: button_clicks %d at %s, start %s", label, c.ID, fmtTime(c.At), fmtTime(time.UnixMilli(st.AtMS)))
			}
			if at >= lastClick+durMS {
				a.add(KindClickAfterDeadline, "%s: button_clicks %d at %s, deadline was %s", label, c.ID,
					fmtTime(c.At), fmtTime(time.UnixMilli(lastClick+durMS)))
			}
			if at == prevAt {
				a.add(KindSameSecond, "%s: button_clicks %d and the click before it both at %s", label, c.ID, fmtTime(c.At))
			}
			valueMS := c.ValueS * 1000
			switch {
			case valueMS < 0:
				a.add(KindValueOutOfRange, "%s: button_clicks %d timer_value %d s, imported as 0", label, c.ID, c.ValueS)
				valueMS = 0
			case valueMS > durMS:
				a.add(KindValueOutOfRange, "%s: button_clicks %d timer_value %d s above the duration %d s (claimed 0)",
					label, c.ID, c.ValueS, durMS/1000)
			}
			if clock := max(0, lastClick+durMS-at); clock != valueMS {
				a.add(KindValueNotClock, "%s: button_clicks %d timer_value %d s, the clock said %d s", label, c.ID, c.ValueS, clock/1000)
			}
			band := events.BandOf(valueMS, durMS)
			for _, f := range originalBands(c.ValueS, durMS/1000) {
				if f.band != band {
					a.add(KindClassifier, "%s: button_clicks %d timer_value %d s of %d s: %s here, %s by the original's %s",
						label, c.ID, c.ValueS, durMS/1000, band, f.band, f.name)
					break
				}
			}
			if prev, ok := lastByUser[user]; ok {
				if prev+st.CooldownMS > at {
					a.add(KindCooldownBroken, "%s: button_clicks %d by %s %s after the player's last click (cooldown %s)",
						label, c.ID, user, time.Duration(at-prev)*time.Millisecond, time.Duration(st.CooldownMS)*time.Millisecond)
				}
				if st.Sequential > 0 {
					others := map[string]bool{}
					for _, u := range order[idxByUser[user]+1:] {
						if u != user {
							others[u] = true
						}
					}
					if len(others) < st.Sequential {
						a.add(KindSequentialBroken, "%s: button_clicks %d by %s after %d other players, N = %d",
							label, c.ID, user, len(others), st.Sequential)
					}
				}
			}
			name := ""
			if c.UserName.Valid {
				name = c.UserName.String
			} else if un, ok := s.Users[c.User]; ok {
				name = un.String
			} else {
				a.add(KindUserWithoutRow, "button_clicks %d: user %s has no users row", c.ID, user)
			}
			if cut, was := clip(name, events.MaxNameLen); was {
				if !truncated[user] {
					a.add(KindNameTruncated, "user %s: name of %d bytes", user, len(name))
				}
				truncated[user] = true
				name = cut
			}
			n++
			gp.items = append(gp.items, item{subject, msgID("button_clicks", c.ID, ""), events.ButtonClicked{
				Game: id, Guild: st.Guild, Number: n, User: user, UserName: name, AtMS: at,
				ValueMS: valueMS, Band: int(band), ClaimedMS: events.Claimed(valueMS, durMS),
				MMRMilli: events.MMRMilli(valueMS, durMS), Imported: prov("button_clicks", c.ID),
			}})
			users[user] = true
			lastByUser[user] = at
			idxByUser[user] = len(order)
			order = append(order, user)
			lastClick = max(lastClick, at)
			lastEvent = max(lastEvent, at)
			prevAt = at
		}
		if n == 0 {
			a.add(KindZeroClicks, "%s has no clicks", label)
		}
		gp.clicks = int(n)
		gp.deadline = lastClick + durMS
		endProv := startRow
		endMsg := startMsg[:len(startMsg)-len("start")] + "end"
		switch {
		case end != nil && ms(*end) != gp.deadline && gp.deadline <= now.UnixMilli():
			a.add(KindEndTimeNotDeadline, "%s: end_time %s, last click + duration %s", label,
				fmtTime(*end), fmtTime(time.UnixMilli(gp.deadline)))
			endProv.OriginalAtMS = ms(*end)
			fallthrough
		case end != nil && gp.deadline <= now.UnixMilli():
			gp.items = append(gp.items, item{subject, endMsg, events.GameEnded{Game: id, Reason: events.EndExpired,
				AtMS: gp.deadline, Imported: endProv}})
		case end != nil:
			a.add(KindEndedBeforeDeadline, "%s: end_time %s but the deadline %s is still ahead: recorded as aborted",
				label, fmtTime(*end), fmtTime(time.UnixMilli(gp.deadline)))
			gp.items = append(gp.items, item{subject, endMsg, events.GameEnded{Game: id, Reason: events.EndAborted,
				AtMS: max(ms(*end), lastEvent), Why: "ended in the original bot before its deadline", Imported: endProv}})
		case gp.deadline <= now.UnixMilli():
			a.add(KindEndNotRecorded, "%s: no end_time, deadline %s passed: ended at the deadline", label,
				fmtTime(time.UnixMilli(gp.deadline)))
			gp.items = append(gp.items, item{subject, endMsg, events.GameEnded{Game: id, Reason: events.EndExpired,
				AtMS: gp.deadline, Imported: endProv}})
		default:
			gp.live = true
			claimProv := startRow
			gp.claim = &item{events.ChannelSubject(st.ButtonChannel), startMsg[:len(startMsg)-len("start")] + "claim",
				events.ChannelClaimed{Channel: st.ButtonChannel, Guild: st.Guild, Game: id, AtMS: lastEvent, Imported: claimProv}}
		}
		if _, err := events.Encode(st); err != nil {
			a.add(KindGameInvalid, "%s: %v", label, err)
			p.report.Skipped += len(clicks) + 1
			return
		}
		guilds[st.Guild] = true
		p.games = append(p.games, gp)
		p.report.Games++
		p.report.Clicks += gp.clicks
		if gp.live {
			p.report.Live++
		}
	}

	for i := range s.Games {
		g := &s.Games[i]
		src := byID[g.ID]
		label := "game_sessions " + strconv.FormatInt(g.ID, 10)
		guild, ok1 := snowflake(g.Guild)
		button, ok2 := snowflake(g.Button)
		chat, ok3 := snowflake(g.Chat)
		if !ok1 || !ok2 || !ok3 {
			a.add(KindInvalidID, "%s: guild %d, button channel %d, chat channel %d", label, g.Guild, g.Button, g.Chat)
			p.report.Skipped += len(src.clicks) + 1
			continue
		}
		dur, cool := g.DurationS*1000, g.CooldownH*3600*1000
		if dur <= 0 || dur > events.MaxDurationMS || cool < 0 || cool > events.MaxDurationMS {
			a.add(KindGameInvalid, "%s: timer_duration %d s, cooldown_duration %d h", label, g.DurationS, g.CooldownH)
			p.report.Skipped += len(src.clicks) + 1
			continue
		}
		seq := int(g.Sequential.Int64)
		if seq < 0 || seq > events.MaxSequential {
			a.add(KindGameInvalid, "%s: sequential_click_requirement %d", label, seq)
			p.report.Skipped += len(src.clicks) + 1
			continue
		}
		var start int64
		if !g.Start.IsZero() {
			start = ms(g.Start)
		}
		st := events.GameStarted{Game: events.GameID(g.ID + o.GameOffset), Guild: guild, ButtonChannel: button,
			ChatChannel: chat, DurationMS: dur, CooldownMS: cool, Sequential: seq, AtMS: start,
			Imported: prov("game_sessions", g.ID)}
		var end *time.Time
		if g.End.Valid {
			end = &g.End.Time
		}
		build(label, src, st.Game, st, end, st.Imported, msgID("game_sessions", g.ID, "start"))
	}

	if len(old.clicks) > 0 {
		a.add(KindOldLayout, "%d clicks without game_id (the single-guild layout)", len(old.clicks))
		a.Count[KindOldLayout] = len(old.clicks)
		ol := o.OldLayout
		if ol.Game <= 0 || !events.ValidID(ol.Guild) || !events.ValidID(ol.Channel) {
			a.add(KindOldLayoutUnmapped, "%d clicks not importable without --old-game, --old-guild and --old-channel", len(old.clicks))
			p.report.Skipped += len(old.clicks)
		} else {
			if ol.ChatChannel == "" {
				ol.ChatChannel = ol.Channel
			}
			if ol.Duration <= 0 {
				ol.Duration = 12 * time.Hour
			}
			if ol.Cooldown <= 0 {
				ol.Cooldown = 3 * time.Hour
			}
			first := old.clicks[0].ID
			for _, c := range old.clicks {
				first = min(first, c.ID)
			}
			// The game has no row of its own: its start is attributed to
			// the first click's row, under a table name of its own.
			startRow := prov("button_clicks/old_layout", first)
			st := events.GameStarted{Game: ol.Game, Guild: ol.Guild, ButtonChannel: ol.Channel, ChatChannel: ol.ChatChannel,
				DurationMS: ol.Duration.Milliseconds(), CooldownMS: ol.Cooldown.Milliseconds(), Imported: startRow}
			build("old layout", &old, ol.Game, st, nil, startRow, msgID("button_clicks/old_layout", first, "start"))
		}
	}
	sort.Slice(p.games, func(i, j int) bool { return p.games[i].id < p.games[j].id })

	// Two live games in one channel: only the newest (by start, as the
	// original chose "the game" of a guild) holds the channel.
	liveIn := map[string]*gamePlan{}
	startOf := func(g *gamePlan) int64 { return g.items[0].event.(events.GameStarted).AtMS }
	for _, g := range p.games {
		if !g.live {
			continue
		}
		if prev := liveIn[g.channel]; prev != nil {
			older, newer := prev, g
			if startOf(g) < startOf(prev) {
				older, newer = g, prev
			}
			a.add(KindChannelTaken, "game #%d and game #%d are both live in channel %s: the newer, #%d, holds it",
				prev.id, g.id, g.channel, newer.id)
			older.claim = nil
			g = newer
		}
		liveIn[g.channel] = g
	}

	// Guild names and icons. A row without last_updated is dated at the
	// guild's first game (deterministic across runs), else at the import.
	firstGame := map[string]int64{}
	for _, g := range p.games {
		at := g.items[0].event.(events.GameStarted).AtMS
		if f, ok := firstGame[g.guild]; !ok || at < f {
			firstGame[g.guild] = at
		}
	}
	guildTime := func(guild string, r guildRow) int64 {
		if r.At.Valid && !r.At.Time.IsZero() && ms(r.At.Time) > 0 {
			return ms(r.At.Time)
		}
		if f, ok := firstGame[guild]; ok {
			return f
		}
		return now.Truncate(time.Second).UnixMilli()
	}
	for _, r := range s.Names {
		guild, ok := snowflake(r.Guild)
		if !ok {
			a.add(KindInvalidID, "guild_names: guild_id %d", r.Guild)
			p.report.Skipped++
			continue
		}
		name, cut := clip(r.Text, events.MaxNameLen)
		if cut {
			a.add(KindNameTruncated, "guild %s: name of %d bytes", guild, len(r.Text))
		}
		p.guilds = append(p.guilds, item{events.GuildSubject(guild), msgID("guild_names", r.Guild, ""),
			events.GuildNamed{Guild: guild, Name: name, AtMS: guildTime(guild, r), Imported: prov("guild_names", r.Guild)}})
		guilds[guild] = true
	}
	for _, r := range s.Icons {
		guild, ok := snowflake(r.Guild)
		if !ok {
			a.add(KindInvalidID, "guild_icons: guild_id %d", r.Guild)
			p.report.Skipped++
			continue
		}
		if !events.ValidIcon(r.Text) {
			a.add(KindIconNotAllowed, "guild %s: icon %q is not one of the %d icons here", guild, r.Text, len(events.Icons))
			p.report.Skipped++
			continue
		}
		p.guilds = append(p.guilds, item{events.GuildSubject(guild), msgID("guild_icons", r.Guild, ""),
			events.GuildIconSet{Guild: guild, Icon: r.Text, AtMS: guildTime(guild, r), Imported: prov("guild_icons", r.Guild)}})
		guilds[guild] = true
	}
	p.report.Guilds = len(guilds)
	p.report.Users = len(users)
	return p, nil
}

// originalBands classifies a stored value the ways the original did
// (behaviour reference §2.2): the rounded percentage with ≥ thresholds
// (its emoji, embed colour and SQL boards), the unrounded percentage
// (role and announced name) and the rounded percentage with ≤ thresholds
// (its tier table and end summary). nil for a duration of 0.
func originalBands(valueS, durS int64) []originalBand {
	if durS <= 0 {
		return nil
	}
	p := 100 * float64(valueS) / float64(durS)
	rounded := math.Round(p*100) / 100
	ge := func(p float64) events.Band {
		for i, t := range []float64{83.33, 66.67, 50.00, 33.33, 16.67} {
			if p >= t {
				return events.Band(5 - i)
			}
		}
		return events.Red
	}
	le := func(p float64) events.Band {
		for i, t := range []float64{16.67, 33.33, 50.00, 66.67, 83.33} {
			if p <= t {
				return events.Band(i)
			}
		}
		return events.Purple
	}
	return []originalBand{{"rounded >= form", ge(rounded)}, {"unrounded form", ge(p)}, {"SQL <= form", le(rounded)}}
}

type originalBand struct {
	name string
	band events.Band
}

func (g *gamePlan) String() string { return fmt.Sprintf("game #%d (%s)", g.id, g.label) }
