package redisproj

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/thebutton-game/thebutton/events"
)

// playerRec is a player's figures in one game, packed in G pl as
//
//	clicks:best:best_n:best_b:first_at:last_at:last_n:claimed:mmr:b0:b1:b2:b3:b4:b5:name
type playerRec struct {
	clicks, best, bestN, bestB, firstAt, lastAt, lastN, claimed, mmr int64
	b                                                                [6]int64
	name                                                             string
}

func parsePlayerRec(s string) (playerRec, error) {
	var n [15]int64
	rest := s
	for i := range n {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return playerRec{}, fmt.Errorf("player record %q", s)
		}
		v, err := strconv.ParseInt(rest[:j], 10, 64)
		if err != nil {
			return playerRec{}, fmt.Errorf("player record %q: %w", s, err)
		}
		n[i], rest = v, rest[j+1:]
	}
	return playerRec{clicks: n[0], best: n[1], bestN: n[2], bestB: n[3], firstAt: n[4], lastAt: n[5], lastN: n[6],
		claimed: n[7], mmr: n[8], b: [6]int64{n[9], n[10], n[11], n[12], n[13], n[14]}, name: rest}, nil
}

func (p playerRec) String() string {
	b := make([]byte, 0, 96+len(p.name))
	for _, v := range [...]int64{p.clicks, p.best, p.bestN, p.bestB, p.firstAt, p.lastAt, p.lastN, p.claimed, p.mmr,
		p.b[0], p.b[1], p.b[2], p.b[3], p.b[4], p.b[5]} {
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ':')
	}
	return string(append(b, p.name...))
}

// questRec is a player's line of a monthly board, packed in B qc as
// claimed:clicks:b0:b1:b2:b3:b4:b5:name.
type questRec struct {
	claimed, clicks int64
	b               [6]int64
	name            string
}

func parseQuestRec(s string) (questRec, error) {
	parts := strings.SplitN(s, ":", 9)
	if len(parts) != 9 {
		return questRec{}, fmt.Errorf("board record %q", s)
	}
	var n [8]int64
	for i := range n {
		v, err := strconv.ParseInt(parts[i], 10, 64)
		if err != nil {
			return questRec{}, fmt.Errorf("board record %q: %w", s, err)
		}
		n[i] = v
	}
	return questRec{claimed: n[0], clicks: n[1], b: [6]int64{n[2], n[3], n[4], n[5], n[6], n[7]}, name: parts[8]}, nil
}

func (q questRec) String() string {
	b := make([]byte, 0, 48+len(q.name))
	for _, v := range [...]int64{q.claimed, q.clicks, q.b[0], q.b[1], q.b[2], q.b[3], q.b[4], q.b[5]} {
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ':')
	}
	return string(append(b, q.name...))
}

// A player's click index, G pc:<user>, is a string of one entry per click
// in order: the click number padded to padWidth digits, then the band.
const pcEntryLen = padWidth + 1

func pcEntry(number int64, band int) string { return pad(number) + strconv.Itoa(band) }

// The arithmetic of a click, written once: Apply folds the batch with it
// and Verify's model folds the whole stream with it.

// add counts an accepted click in a player's figures in its game.
func (p *playerRec) add(c events.ButtonClicked) {
	if p.clicks == 0 {
		p.firstAt = c.AtMS
	}
	p.clicks++
	p.b[c.Band]++
	if p.clicks == 1 || c.ValueMS < p.best {
		p.best, p.bestN, p.bestB = c.ValueMS, c.Number, int64(c.Band)
	}
	p.lastAt, p.lastN = c.AtMS, c.Number
	p.claimed += c.ClaimedMS
	p.mmr += c.MMRMilli
	if c.UserName != "" {
		p.name = c.UserName
	}
}

// add counts an accepted click in a player's line of its monthly board.
func (q *questRec) add(c events.ButtonClicked) {
	q.claimed += c.ClaimedMS
	q.clicks++
	q.b[c.Band]++
	if c.UserName != "" {
		q.name = c.UserName
	}
}

// tally is a game's counters, kept in G game: distinct players, time
// claimed, and per band clicks (n), time claimed (t) and distinct players
// (u).
type tally struct {
	players, claimed int64
	n, t, u          [6]int64
}

// add counts an accepted click of player p (before p.add counts it there)
// and reports whether it is the player's first click in the game.
func (t *tally) add(p *playerRec, c events.ButtonClicked) (first bool) {
	first = p.clicks == 0
	if first {
		t.players++
	}
	if p.b[c.Band] == 0 {
		t.u[c.Band]++
	}
	t.n[c.Band]++
	t.t[c.Band] += c.ClaimedMS
	t.claimed += c.ClaimedMS
	return first
}

// click counts an accepted click in the game's tally and in the player's
// figures, and reports whether it is the player's first click in the game.
func (t *tally) click(p *playerRec, c events.ButtonClicked) (first bool) {
	first = t.add(p, c)
	p.add(c)
	return first
}

// bandFields are the names of a band's fields in G game.
var bandFields = func() (f [6][3]string) {
	for b := range f {
		s := strconv.Itoa(b)
		f[b] = [3]string{"n" + s, "t" + s, "u" + s}
	}
	return f
}()

// putBand writes a band's counters into a game's hash fields.
func (t *tally) putBand(h map[string]string, b int) {
	h[bandFields[b][0]] = strconv.FormatInt(t.n[b], 10)
	h[bandFields[b][1]] = strconv.FormatInt(t.t[b], 10)
	h[bandFields[b][2]] = strconv.FormatInt(t.u[b], 10)
}

// putTotals writes the game's player count and time claimed.
func (t *tally) putTotals(h map[string]string) {
	h["players"] = strconv.FormatInt(t.players, 10)
	h["claimed"] = strconv.FormatInt(t.claimed, 10)
}

// edgeDistance is a click's distance (ms) to the nearest colour edge of a
// game of duration durMS, and whether it is within EdgeWindow (kept in
// G edge).
func edgeDistance(valueMS, durMS int64) (int64, bool) {
	dist, _, _ := NearestEdge(msDur(valueMS), msDur(durMS))
	return dist.Milliseconds(), dist <= EdgeWindow(msDur(durMS))
}
