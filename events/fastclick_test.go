package events

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleClick() ButtonClicked {
	return ButtonClicked{Game: 7, Guild: "100", Number: 12, User: "301", UserName: "Bøb 🐉", Interaction: "900",
		AtMS: 1_764_000_000_005, ValueMS: 43_199_995, Band: 5, ClaimedMS: 5, MMRMilli: 1500}
}

// FuzzDecodeClick checks that the reflection-free path of a click decodes
// exactly what encoding/json decodes, and refuses nothing that it accepts
// with a different result.
func FuzzDecodeClick(f *testing.F) {
	c := sampleClick()
	enc, err := Encode(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	c.UserName = ""
	noName, _ := Encode(c)
	f.Add(noName)
	for _, s := range []string{
		`{"type":"button.clicked","v":1,"data":{"game":7,"band":5,"game":8}}`,
		`{"type":"button.clicked","v":1,"data":{"game":-0,"number":01}}`,
		`{"type":"button.clicked","v":1,"data":{"game":1e3}}`,
		`{"type":"button.clicked","v":1,"data":{"user":"a\"b"}}`,
		`{"type":"button.clicked","v":1,"data":{"user":"\xff"}}`,
		`{"type":"button.clicked","v":1,"data":{"user":null}}`,
		`{"type":"button.clicked","v":1,"data":{"Game":7}}`,
		`{"type":"button.clicked","v":1,"data":{"game":7,}}`,
		`{"type":"button.clicked","v":1,"data":{}}`,
		`{"type":"button.clicked","v":1,"data":{"band":99999999999999999999}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeClick(b)
		if !ok {
			return
		}
		slow, err := decodeJSON(b)
		var want ButtonClicked
		if err == nil {
			want = slow.(ButtonClicked)
		} else if !errors.Is(err, ErrMalformed) || fast.validate() == nil {
			t.Fatalf("fast path decoded %q as %+v (valid), encoding/json: %v", b, fast, err)
		} else {
			return // both refuse it
		}
		if diff := cmp.Diff(want, fast); diff != "" {
			t.Fatalf("fast path differs on %q (-json +fast):\n%s", b, diff)
		}
	})
}

func TestDecodeClickTakesEncodesForm(t *testing.T) {
	for _, name := range []string{"Bøb 🐉", ""} {
		c := sampleClick()
		c.UserName = name
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeClick(b)
		if !ok || got != c {
			t.Errorf("decodeClick(%s) = %+v, %v; want %+v, true", b, got, ok, c)
		}
	}
	c := sampleClick()
	c.Imported = Imported{Source: "legacy:thebutton", Table: "clicks", RowID: 4}
	b, _ := Encode(c)
	if _, ok := decodeClick(b); ok {
		t.Errorf("decodeClick took an imported click %s: only encoding/json reads that form", b)
	}
}

func BenchmarkDecodeClick(b *testing.B) {
	enc, err := Encode(sampleClick())
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []struct {
		name   string
		decode func([]byte) (Event, error)
	}{{"Decode", Decode}, {"encoding-json", decodeJSON}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := path.decode(enc); err != nil {
					b.Fatal(fmt.Errorf("decode: %w", err))
				}
			}
		})
	}
}
