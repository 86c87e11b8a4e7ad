package events_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/events"
)

const t0 = int64(1_764_000_000_000) // a fixed instant, unix ms

func sampleEvents() []events.Event {
	return []events.Event{
		events.GameStarted{Game: 7, Guild: "100", ButtonChannel: "200", ChatChannel: "201", DurationMS: 12 * hour,
			CooldownMS: 3 * hour, Sequential: 2, StartedBy: "300", StarterName: "Ada", AtMS: t0},
		events.ButtonClicked{Game: 7, Guild: "100", Number: 1, User: "301", UserName: "Bob", Interaction: "900",
			AtMS: t0 + 5, ValueMS: 12*hour - 5, Band: 5, ClaimedMS: 5, MMRMilli: 1500},
		events.GameEnded{Game: 7, Reason: events.EndExpired, AtMS: t0 + 12*hour},
		events.GameEnded{Game: 7, Reason: events.EndAborted, AtMS: t0 + 1, By: "300", Why: "testing"},
		events.GameMessagePosted{Game: 7, Channel: "200", MessageID: "555", AtMS: t0},
		events.ChannelClaimed{Channel: "200", Guild: "100", Game: 7, AtMS: t0},
		events.ChannelClaimed{Channel: "200", Guild: "100", Game: 7, AtMS: t0, Start: &events.GameStarted{Game: 7, Guild: "100",
			ButtonChannel: "200", ChatChannel: "201", DurationMS: 12 * hour, StartedBy: "300", AtMS: t0}},
		events.GuildIconSet{Guild: "100", Icon: "🐉", By: "300", AtMS: t0},
		events.PlayerBanned{Guild: "100", User: "301", By: "300", Reason: "spam", AtMS: t0},
		events.PlayerUnbanned{Guild: "100", User: "301", By: "300", AtMS: t0},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, e := range sampleEvents() {
		t.Run(e.EventType(), func(t *testing.T) {
			b, err := events.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.Decode(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if diff := cmp.Diff(e, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// The wire names are part of the contract: changing one breaks every
// stored stream.
func TestStableWireForm(t *testing.T) {
	b, err := events.Encode(events.GameEnded{Game: 3, Reason: events.EndExpired, AtMS: 42})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"game.ended","v":1,"data":{"game":3,"reason":"expired","at_ms":42}}`
	if string(b) != want {
		t.Errorf("wire form\n got %s\nwant %s", b, want)
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not json", `hello`, events.ErrMalformed},
		{"empty", ``, events.ErrMalformed},
		{"null", `null`, events.ErrMalformed},
		{"no type", `{"v":1,"data":{}}`, events.ErrMalformed},
		{"unknown type", `{"type":"game.exploded","v":1,"data":{}}`, events.ErrUnknownType},
		{"unknown version", `{"type":"game.ended","v":2,"data":{"game":3,"reason":"expired","at_ms":42}}`, events.ErrUnknownType},
		{"data not an object", `{"type":"game.ended","v":1,"data":[1]}`, events.ErrMalformed},
		{"data null", `{"type":"game.ended","v":1,"data":null}`, events.ErrMalformed},
		{"wrong field type", `{"type":"game.ended","v":1,"data":{"game":"x"}}`, events.ErrMalformed},
		{"bad reason", `{"type":"game.ended","v":1,"data":{"game":3,"reason":"bored","at_ms":42}}`, events.ErrMalformed},
		{"band out of range", `{"type":"game.button_clicked","v":1,"data":{"game":1,"guild":"1","number":1,"user":"2","interaction":"i","at_ms":5,"value_ms":1,"band":6}}`, events.ErrMalformed},
		{"id not a snowflake", `{"type":"channel.claimed","v":1,"data":{"channel":"a.b","guild":"1","game":1,"at_ms":5}}`, events.ErrMalformed},
		{"claim whose start is another game's", `{"type":"channel.claimed","v":1,"data":{"channel":"2","guild":"1","game":1,"at_ms":5,"start":{"game":2,"guild":"1","button_channel":"2","chat_channel":"2","duration_ms":1000,"cooldown_ms":0,"sequential":0,"started_by":"3","at_ms":5}}}`, events.ErrMalformed},
		{"icon not allowed", `{"type":"guild.icon_set","v":1,"data":{"guild":"1","icon":"x","by":"2","at_ms":5}}`, events.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := events.Decode([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%s) = %v, %v; want error %v", tt.in, e, err, tt.want)
			}
		})
	}
}

func TestEncodeValidates(t *testing.T) {
	if _, err := events.Encode(events.ButtonClicked{Game: 1}); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("Encode(incomplete click) = %v, want ErrMalformed", err)
	}
	if _, err := events.Encode(nil); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("Encode(nil) = %v, want ErrMalformed", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range sampleEvents() {
		b, err := events.Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"game.started","v":1,"data":{"game":-1}}`))
	f.Add([]byte(`{"type":"game.button_clicked","v":1,"data":{"band":99}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := events.Decode(b)
		if err != nil {
			if e != nil {
				t.Fatalf("Decode returned an event with an error")
			}
			if !errors.Is(err, events.ErrMalformed) && !errors.Is(err, events.ErrUnknownType) {
				t.Fatalf("Decode error %v wraps neither sentinel", err)
			}
			return
		}
		// Whatever decodes re-encodes and decodes to the same event.
		again, err := events.Encode(e)
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		e2, err := events.Decode(again)
		if err != nil || !cmp.Equal(e, e2) {
			t.Fatalf("re-decode: %v, %v vs %v", err, e, e2)
		}
	})
}
