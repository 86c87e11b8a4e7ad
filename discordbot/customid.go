package discordbot

import (
	"errors"
	"strconv"
	"strings"

	"github.com/thebutton-game/thebutton/events"
)

// Component custom ids. Every id the bot hands out is one of these, and
// every id it receives is parsed strictly: anything else (forged, too long,
// malformed) is refused and nothing is recorded.
//
//	press:<game>                       the game's button
//	pg:<view>:<game>:<arg>:<page>      a page of a long answer
//
// <game> and <page> are decimal numbers without leading zeros; <arg> is a
// Discord id or "-" (none). The page lives in the id, so paging survives
// restarts.
const (
	pressPrefix = "press:"
	pagePrefix  = "pg:"
	// maxCustomID bounds what the bot accepts; its own ids are far shorter.
	maxCustomID = 64
)

// errBadCustomID means a custom id is not one the bot hands out.
var errBadCustomID = errors.New("not a button of this bot")

// PressID returns the custom id of a game's button.
func PressID(game events.GameID) string { return pressPrefix + game.String() }

// parseNumber parses a positive decimal number of at most 15 digits,
// without sign or leading zeros.
func parseNumber(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 15 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// ParsePressID returns the game of a button custom id.
func ParsePressID(id string) (events.GameID, error) {
	if len(id) > maxCustomID {
		return 0, errBadCustomID
	}
	rest, ok := strings.CutPrefix(id, pressPrefix)
	if !ok {
		return 0, errBadCustomID
	}
	n, ok := parseNumber(rest)
	if !ok {
		return 0, errBadCustomID
	}
	return events.GameID(n), nil
}

// pageRef is a page of a paged answer, as carried in a custom id.
type pageRef struct {
	View string // one of pagedViews
	Game events.GameID
	Arg  string // a Discord id, or "" for none
	Page int
}

// pagedViews are the answers that page.
var pagedViews = map[string]bool{"rank": true, "clicks": true, "games": true}

// id encodes the reference.
func (p pageRef) id() string {
	arg := p.Arg
	if arg == "" {
		arg = "-"
	}
	return pagePrefix + p.View + ":" + p.Game.String() + ":" + arg + ":" + strconv.Itoa(p.Page+1)
}

// parsePageID decodes a paging custom id.
func parsePageID(id string) (pageRef, error) {
	if len(id) > maxCustomID {
		return pageRef{}, errBadCustomID
	}
	rest, ok := strings.CutPrefix(id, pagePrefix)
	if !ok {
		return pageRef{}, errBadCustomID
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 4 || !pagedViews[parts[0]] {
		return pageRef{}, errBadCustomID
	}
	var game int64
	if parts[1] != "0" {
		var ok bool
		if game, ok = parseNumber(parts[1]); !ok {
			return pageRef{}, errBadCustomID
		}
	}
	arg := parts[2]
	if arg == "-" {
		arg = ""
	} else if !events.ValidID(arg) {
		return pageRef{}, errBadCustomID
	}
	page, ok := parseNumber(parts[3])
	if !ok || page > 100000 {
		return pageRef{}, errBadCustomID
	}
	return pageRef{View: parts[0], Game: events.GameID(game), Arg: arg, Page: int(page) - 1}, nil
}
