package events

import (
	"encoding/json"
	"fmt"
)

// Version is the payload version written by this build. Decode accepts the
// versions it knows for each type and refuses the rest.
const Version = 1

// envelope is the wire form: {"type":"game.started","v":1,"data":{…}}.
type envelope struct {
	Type    string          `json:"type"`
	Version int             `json:"v"`
	Data    json.RawMessage `json:"data"`
}

// Encode validates e and returns its wire form.
func Encode(e Event) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("encode: %w: nil event", ErrMalformed)
	}
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	return json.Marshal(envelope{Type: e.EventType(), Version: Version, Data: data})
}

// Decode parses a wire form. An unknown type or version gives an error
// wrapping ErrUnknownType; anything else that is not a valid event gives
// one wrapping ErrMalformed. It never panics.
func Decode(b []byte) (Event, error) {
	if e, ok := decodeClick(b); ok {
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("decode %s: %w", TypeButtonClicked, err)
		}
		return e, nil
	}
	return decodeJSON(b)
}

// decodeJSON is Decode by encoding/json, for every form of every type.
func decodeJSON(b []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("decode: %w: %v", ErrMalformed, err)
	}
	if env.Type == "" || len(env.Data) == 0 {
		return nil, fmt.Errorf("decode: %w: missing type or data", ErrMalformed)
	}
	if env.Version != Version {
		return nil, fmt.Errorf("decode %s v%d: %w", env.Type, env.Version, ErrUnknownType)
	}
	var e Event
	var err error
	switch env.Type {
	case TypeGameStarted:
		e, err = decodeAs[GameStarted](env.Data)
	case TypeButtonClicked:
		e, err = decodeAs[ButtonClicked](env.Data)
	case TypeGameEnded:
		e, err = decodeAs[GameEnded](env.Data)
	case TypeGameMessagePosted:
		e, err = decodeAs[GameMessagePosted](env.Data)
	case TypeChannelClaimed:
		e, err = decodeAs[ChannelClaimed](env.Data)
	case TypeGuildIconSet:
		e, err = decodeAs[GuildIconSet](env.Data)
	case TypeGuildPlayerBanned:
		e, err = decodeAs[PlayerBanned](env.Data)
	case TypeGuildPlayerUnban:
		e, err = decodeAs[PlayerUnbanned](env.Data)
	case TypeGuildNamed:
		e, err = decodeAs[GuildNamed](env.Data)
	default:
		return nil, fmt.Errorf("decode %q: %w", env.Type, ErrUnknownType)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", env.Type, err)
	}
	return e, nil
}

func decodeAs[T Event](data json.RawMessage) (Event, error) {
	var v T
	// Unknown fields are ignored so that an additive, optional field does
	// not break older readers; anything incompatible gets a new version.
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return v, nil
}
