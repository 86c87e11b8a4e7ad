package redisproj

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
)

// A click record is one accepted click as the projection stores it:
//
//	<game, padded>:<number, padded>:<seq>:<at ms>:<value ms>:<band>:<claimed ms>:<mmr milli>:<guild>:<user>:<name>
//
// Every field is copied from the ButtonClicked event (nothing is
// recomputed). Records sort by game, then click number; the name is last
// and may contain anything.
func encodeClick(seq uint64, c events.ButtonClicked) string {
	b := make([]byte, 0, 96+len(c.UserName))
	b = appendPad(b, int64(c.Game))
	b = append(b, ':')
	b = appendPad(b, c.Number)
	b = append(b, ':')
	b = strconv.AppendUint(b, seq, 10)
	for _, v := range [...]int64{c.AtMS, c.ValueMS, int64(c.Band), c.ClaimedMS, c.MMRMilli} {
		b = append(b, ':')
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, ':')
	b = append(b, c.Guild...)
	b = append(b, ':')
	b = append(b, c.User...)
	b = append(b, ':')
	b = append(b, c.UserName...)
	return string(b)
}

// recordFields is the number of fields before the name.
const recordFields = 10

// decodeClick parses a click record.
func decodeClick(rec string) (readmodel.Click, error) {
	parts := strings.SplitN(rec, ":", recordFields+1)
	if len(parts) != recordFields+1 {
		return readmodel.Click{}, fmt.Errorf("click record %q: %d fields", rec, len(parts))
	}
	var n [8]int64
	for i := range n {
		v, err := strconv.ParseInt(parts[i], 10, 64)
		if err != nil {
			return readmodel.Click{}, fmt.Errorf("click record %q: field %d: %w", rec, i+1, err)
		}
		n[i] = v
	}
	return readmodel.Click{
		Game:     events.GameID(n[0]),
		Number:   n[1],
		Seq:      uint64(n[2]),
		At:       msTime(n[3]),
		Value:    msDur(n[4]),
		Band:     events.Band(n[5]),
		Claimed:  msDur(n[6]),
		MMRMilli: n[7],
		Guild:    parts[8],
		User:     parts[9],
		UserName: parts[10],
	}, nil
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func msDur(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// monthKey is the UTC month of a time in ms, as YYYYMM.
func monthKey(ms int64) string { return time.UnixMilli(ms).UTC().Format("200601") }
