package redisproj

import (
	"fmt"
	"strconv"
	"strings"
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
