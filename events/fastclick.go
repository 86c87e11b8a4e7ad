package events

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// clickPrefix is how Encode starts every ButtonClicked of this Version.
var clickPrefix = []byte(`{"type":"` + TypeButtonClicked + `","v":` + strconv.Itoa(Version) + `,"data":{`)

// decodeClick decodes a ButtonClicked in the exact form Encode writes it
// (no whitespace, no escapes, known fields only) without reflection: it
// is most of the stream, and a verify or a replay decodes all of it. ok is
// false for anything else, which Decode then reads with encoding/json:
// the result is the same either way (FuzzDecodeClick checks it).
func decodeClick(b []byte) (e ButtonClicked, ok bool) {
	rest, found := bytes.CutPrefix(b, clickPrefix)
	if !found || !bytes.HasSuffix(rest, []byte("}}")) {
		return e, false
	}
	rest = rest[:len(rest)-2]
	for len(rest) > 0 {
		var key []byte
		if key, rest, ok = cutString(rest); !ok || len(rest) == 0 || rest[0] != ':' {
			return e, false
		}
		rest = rest[1:]
		if rest, ok = e.setField(string(key), rest); !ok {
			return e, false
		}
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return e, false
			}
			rest = rest[1:]
		}
	}
	return e, true
}

// setField reads the value of field key at the start of b and returns
// what follows it.
func (e *ButtonClicked) setField(key string, b []byte) ([]byte, bool) {
	var s *string
	var n *int64
	var band int64
	switch key {
	case "guild":
		s = &e.Guild
	case "user":
		s = &e.User
	case "user_name":
		s = &e.UserName
	case "interaction":
		s = &e.Interaction
	case "game":
		n = (*int64)(&e.Game)
	case "number":
		n = &e.Number
	case "at_ms":
		n = &e.AtMS
	case "value_ms":
		n = &e.ValueMS
	case "claimed_ms":
		n = &e.ClaimedMS
	case "mmr_milli":
		n = &e.MMRMilli
	case "band":
		n = &band
	default:
		return nil, false
	}
	if s != nil {
		v, rest, ok := cutString(b)
		*s = string(v)
		return rest, ok
	}
	end := 0
	for end < len(b) && (b[end] == '-' || '0' <= b[end] && b[end] <= '9') {
		end++
	}
	digits := b[:end]
	if len(digits) > 1 && (digits[0] == '0' || digits[0] == '-' && digits[1] == '0') {
		return nil, false // leading zeros are not JSON
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return nil, false
	}
	*n = v
	if key == "band" {
		if int64(int(v)) != v {
			return nil, false
		}
		e.Band = int(v)
	}
	return b[end:], true
}

// cutString reads a JSON string without escapes at the start of b and
// returns its content and what follows it; ok is false for anything else
// (an escape, a control character, invalid UTF-8).
func cutString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s = b[1:i]
			return s, b[i+1:], utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, nil, false
		}
	}
	return nil, nil, false
}
