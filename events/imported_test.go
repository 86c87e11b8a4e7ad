package events

import (
	"errors"
	"strings"
	"testing"
)

func TestImportedIsOmittedFromNativeEvents(t *testing.T) {
	b, err := Encode(ButtonClicked{Game: 1, Guild: "1", Number: 1, User: "2", Interaction: "i", AtMS: 1000,
		ValueMS: 5, Band: 0, ClaimedMS: 5, MMRMilli: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"game.button_clicked","v":1,"data":{"game":1,"guild":"1","number":1,"user":"2","interaction":"i","at_ms":1000,"value_ms":5,"band":0,"claimed_ms":5,"mmr_milli":1}}`
	if string(b) != want {
		t.Fatalf("native encoding changed:\n got %s\nwant %s", b, want)
	}
}

func TestImportedRoundTrip(t *testing.T) {
	prov := Imported{Source: "legacy:db", Table: "game_sessions", RowID: 7, OriginalAtMS: 5000}
	in := []Event{
		GameStarted{Game: 7, Guild: "1", ButtonChannel: "2", ChatChannel: "2", DurationMS: 1000, AtMS: 1000, Imported: prov},
		GameEnded{Game: 7, Reason: EndExpired, AtMS: 2000, Imported: prov},
		GuildIconSet{Guild: "1", Icon: Icons[0], AtMS: 1000, Imported: Imported{Source: "s", Table: "guild_icons", RowID: 1}},
		GuildNamed{Guild: "1", Name: "Guild", AtMS: 1000, Imported: Imported{Source: "s", Table: "guild_names", RowID: 1}},
	}
	for _, e := range in {
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("encode %T: %v", e, err)
		}
		if !strings.Contains(string(b), `"imported":{"source"`) {
			t.Errorf("%T: no provenance in %s", e, b)
		}
		out, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if out != e {
			t.Errorf("round trip: got %+v, want %+v", out, e)
		}
		if p, ok := ImportedFrom(out); !ok || p.Source == "" {
			t.Errorf("%T: ImportedFrom = %+v, %v", e, p, ok)
		}
	}
}

func TestStarterRequiredUnlessImported(t *testing.T) {
	s := GameStarted{Game: 7, Guild: "1", ButtonChannel: "2", ChatChannel: "2", DurationMS: 1000, AtMS: 1000}
	if _, err := Encode(s); !errors.Is(err, ErrMalformed) {
		t.Fatalf("native start without starter: err = %v, want ErrMalformed", err)
	}
	s.Imported = Imported{Source: "s"}
	if _, err := Encode(s); !errors.Is(err, ErrMalformed) {
		t.Fatalf("provenance without table: err = %v, want ErrMalformed", err)
	}
}
