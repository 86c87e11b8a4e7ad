// Package legacy imports the history of the original Python bot (its MySQL
// database: game_sessions, button_clicks, users, guild_icons, guild_names,
// and the older single-guild layout without game_id) into the event
// stream, as the events this service writes itself, marked with their
// provenance (events.Imported).
//
// It owns reading the original's schema (read-only: one READ ONLY
// transaction, never a write), turning its rows into events with every
// anomaly of the original's data counted and exemplified, and appending
// them idempotently and resumably: every event has a message id derived
// from its source row, the import continues from what the stream already
// holds (the last imported event of each game's subject), and the appends
// are pipelined with each one conditional on its predecessor being the
// stream's last message, so an interrupted import leaves a prefix of the
// uninterrupted one and never a gap.
//
// It imports events, events/natsstore (header names), nats.go's jetstream
// package and database/sql with the MySQL driver. It must not import
// commands, projector, discordbot or web: the imported history reaches
// every view through the stream, like native history.
package legacy

import (
	"fmt"
	"sort"
	"strings"
)

// Anomaly kinds: what the original's data holds that today's rules or
// schema would not produce. Each is imported faithfully when it is a fact
// (the click happened, the original counted it), and reported.
const (
	KindUnknownTable        = "unknown_table"         // a table the original's code never created; not read
	KindUnknownColumn       = "unknown_column"        // a column of a known table the importer does not know; not read
	KindOldLayout           = "old_layout"            // clicks without game_id (the single-guild layout)
	KindOldLayoutUnmapped   = "old_layout_unmapped"   // such clicks but no --old-* settings: not importable
	KindStartInferred       = "start_inferred"        // no start time recorded: the first click's time is the start
	KindUserWithoutRow      = "user_without_row"      // a click whose user has no users row: imported without a name
	KindNameTruncated       = "name_truncated"        // a name longer than events.MaxNameLen bytes
	KindInvalidID           = "invalid_id"            // a Discord id that is not a positive number: row not importable
	KindInvalidTime         = "invalid_time"          // a time before 1970 or absurdly late: row not importable
	KindClickWithoutGame    = "click_without_game"    // game_id names no game_sessions row: not importable
	KindGameInvalid         = "game_invalid"          // a game whose duration or cooldown is out of range: not importable
	KindEndTimeNotDeadline  = "end_time_not_deadline" // end_time differs from last click + duration; the end is recorded at the deadline
	KindEndNotRecorded      = "end_not_recorded"      // end_time NULL although the deadline passed: ended at the deadline
	KindEndedBeforeDeadline = "ended_before_deadline" // end_time set while the deadline is still ahead: recorded as aborted at end_time
	KindClickAfterDeadline  = "click_after_deadline"  // a click at or after the deadline of the click before it
	KindClickAfterEnd       = "click_after_end"       // a click later than the game's end_time
	KindClickBeforeStart    = "click_before_start"    // a click earlier than the game's start_time
	KindClassifier          = "classifier_disagreement"
	KindValueNotClock       = "value_not_clock"    // timer_value differs from duration − (click − previous click)
	KindValueOutOfRange     = "value_out_of_range" // timer_value above the duration (claimed 0) or negative (imported as 0)
	KindCooldownBroken      = "cooldown_broken"
	KindSequentialBroken    = "sequential_broken"
	KindSameSecond          = "same_second"  // two clicks of one game in the same second
	KindOutOfOrder          = "out_of_order" // row order (id) differs from time order; imported in time order
	KindZeroClicks          = "zero_clicks"
	KindChannelTaken        = "channel_taken" // a live game's channel is held by another game here: not claimed
	KindIconNotAllowed      = "icon_not_allowed"
	KindIconAlreadySet      = "icon_already_set"
	KindTakenOver           = "source_after_takeover" // source rows newer than a game this service already continued
)

// DefaultExamples is how many examples an anomaly kind keeps by default.
const DefaultExamples = 5

// Anomalies counts anomalies by kind and keeps examples of each: Limit
// per kind (0: DefaultExamples, negative: all of them).
type Anomalies struct {
	Count    map[string]int
	Examples map[string][]string
	Limit    int
}

func (a *Anomalies) add(kind, format string, args ...any) {
	if a.Count == nil {
		a.Count = map[string]int{}
		a.Examples = map[string][]string{}
	}
	a.Count[kind]++
	limit := a.Limit
	if limit == 0 {
		limit = DefaultExamples
	}
	if limit < 0 || len(a.Examples[kind]) < limit {
		a.Examples[kind] = append(a.Examples[kind], fmt.Sprintf(format, args...))
	}
}

// Kinds returns the kinds found, sorted.
func (a *Anomalies) Kinds() []string {
	var out []string
	for k := range a.Count {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Report is what an import found and did.
type Report struct {
	Source  string
	DryRun  bool
	Guilds  int
	Games   int // games in the source that are importable
	Live    int // of which still running: continued here with their clock
	Clicks  int // clicks in the importable games
	Users   int // distinct players of those clicks
	Skipped int // source rows that could not be imported (see anomalies)

	Appended     int // events appended by this run
	AlreadyThere int // events found in the stream from an earlier run
	Anomalies    Anomalies
}

// String is the final report as plain lines.
func (r *Report) String() string {
	var b strings.Builder
	mode := "imported"
	if r.DryRun {
		mode = "dry run, nothing written"
	}
	fmt.Fprintf(&b, "import-legacy %s (%s)\n", r.Source, mode)
	fmt.Fprintf(&b, "  guilds %d, games %d (%d live), clicks %d, players %d, rows skipped %d\n",
		r.Guilds, r.Games, r.Live, r.Clicks, r.Users, r.Skipped)
	if r.DryRun {
		fmt.Fprintf(&b, "  events that an import would write: %d\n", r.Appended)
	} else {
		fmt.Fprintf(&b, "  events appended %d, already in the stream %d\n", r.Appended, r.AlreadyThere)
	}
	kinds := r.Anomalies.Kinds()
	if len(kinds) == 0 {
		b.WriteString("  anomalies: none\n")
		return b.String()
	}
	b.WriteString("  anomalies:\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "    %-24s %d\n", k, r.Anomalies.Count[k])
		for _, ex := range r.Anomalies.Examples[k] {
			fmt.Fprintf(&b, "      e.g. %s\n", ex)
		}
	}
	return b.String()
}
