package events

import "errors"

// Imported says that an event was brought in from another system's
// records (`thebutton import-legacy`) instead of being decided by this
// service: which source, which table and which row it came from. The zero
// value means "decided here"; it is left out of the wire form (omitzero),
// so native events encode byte for byte as they did before the field
// existed.
//
// An imported event records a fact of the source as it was: readers fold
// it like any other event, and only the rules re-check (commands.Audit)
// treats it differently, since the source did not enforce today's rules.
type Imported struct {
	// Source names the imported database, e.g. "legacy:thebutton".
	Source string `json:"source"`
	// Table and RowID identify the source row (for a guild row, the guild
	// id is the row id).
	Table string `json:"table"`
	RowID int64  `json:"row_id"`
	// OriginalAtMS is a time the source recorded but this event does not
	// use, kept as evidence: the original's end_time of a game, which it
	// computed wrongly (the event's own time is the deadline). 0: none.
	OriginalAtMS int64 `json:"original_at_ms,omitempty"`
}

// IsZero reports whether the event was decided here rather than imported.
func (i Imported) IsZero() bool { return i == Imported{} }

// Limits on provenance.
const (
	MaxSourceLen = 100
	maxTableLen  = 64
)

func (i Imported) validate() error {
	if i.IsZero() {
		return nil
	}
	var errs []error
	if i.Source == "" || i.Table == "" {
		errs = append(errs, malformed("imported without source or table"))
	}
	errs = append(errs, checkText("imported.source", i.Source, MaxSourceLen),
		checkText("imported.table", i.Table, maxTableLen),
		checkRange("imported.row_id", i.RowID, 0, 1<<63-1))
	if i.OriginalAtMS != 0 {
		errs = append(errs, checkTime(i.OriginalAtMS))
	}
	return errors.Join(errs...)
}

// ImportedFrom returns the provenance of an imported event; ok is false
// for an event decided by this service.
func ImportedFrom(e Event) (Imported, bool) {
	var i Imported
	switch e := e.(type) {
	case GameStarted:
		i = e.Imported
	case ButtonClicked:
		i = e.Imported
	case GameEnded:
		i = e.Imported
	case ChannelClaimed:
		i = e.Imported
	case GuildIconSet:
		i = e.Imported
	case GuildNamed:
		i = e.Imported
	}
	return i, !i.IsZero()
}

// TypeGuildNamed is the wire name of GuildNamed.
const TypeGuildNamed = "guild.named"

// GuildNamed records a guild's display name as a source knew it. Only the
// legacy import writes it today (the original bot kept guild names in a
// table); readers that do not know it skip it.
type GuildNamed struct {
	Guild    string   `json:"guild"`
	Name     string   `json:"name"`
	AtMS     int64    `json:"at_ms"`
	Imported Imported `json:"imported,omitzero"`
}

// EventType implements Event.
func (GuildNamed) EventType() string { return TypeGuildNamed }

func (e GuildNamed) validate() error {
	return errors.Join(checkID("guild", e.Guild), checkText("name", e.Name, MaxNameLen),
		checkTime(e.AtMS), e.Imported.validate())
}
