package imaging

import (
	"bytes"
	"errors"
	"hash/adler32"
	"image"
	"image/draw"
	"image/png"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUrgencyFor(t *testing.T) {
	tests := []struct {
		left time.Duration
		want Urgency
	}{
		{12 * time.Hour, UrgencyNormal},
		{30*time.Minute + time.Millisecond, UrgencyNormal},
		{30 * time.Minute, UrgencyAlert},
		{5*time.Minute + time.Millisecond, UrgencyAlert},
		{5 * time.Minute, UrgencyEmergency},
		{61 * time.Second, UrgencyEmergency},
		{60 * time.Second, UrgencyCritical},
		{30*time.Second + time.Millisecond, UrgencyCritical},
		{30 * time.Second, UrgencyApocalypse},
		{time.Millisecond, UrgencyApocalypse},
		{0, UrgencyApocalypse},
		{-time.Hour, UrgencyApocalypse},
	}
	for _, tt := range tests {
		if got := UrgencyFor(tt.left); got != tt.want {
			t.Errorf("UrgencyFor(%v) = %v, want %v", tt.left, got, tt.want)
		}
	}
	if UrgencyNormal.Animated() || !UrgencyAlert.Animated() || !UrgencyApocalypse.Animated() || Urgency(9).Animated() {
		t.Error("Animated: only alert … apocalypse animate")
	}
}

func TestFormatClock(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00:00"},
		{-5 * time.Second, "00:00:00"},
		{999 * time.Millisecond, "00:00:00"},
		{59*time.Second + 999*time.Millisecond, "00:00:59"},
		{time.Hour + 2*time.Minute + 3*time.Second, "01:02:03"},
		{12 * time.Hour, "12:00:00"},
		{100*time.Hour + 5*time.Second, "100:00:05"},
		{999*time.Hour + 59*time.Minute + 59*time.Second + 999*time.Millisecond, "999:59:59"},
		{12345 * time.Hour, "12345:00:00"},
	}
	for _, tt := range tests {
		if got := FormatClock(tt.d); got != tt.want {
			t.Errorf("FormatClock(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestCardKey(t *testing.T) {
	base := TimerCard{Band: Green, Remaining: 7*time.Hour + 100*time.Millisecond}
	tests := []struct {
		name string
		a, b TimerCard
		same bool
	}{
		{"same second", base, TimerCard{Band: Green, Remaining: 7*time.Hour + 900*time.Millisecond}, true},
		{"default width", base, TimerCard{Band: Green, Remaining: 7 * time.Hour, Width: DefaultCardWidth}, true},
		{"next second", base, TimerCard{Band: Green, Remaining: 7*time.Hour + time.Second}, false},
		{"other band", base, TimerCard{Band: Blue, Remaining: 7 * time.Hour}, false},
		{"other width", base, TimerCard{Band: Green, Remaining: 7 * time.Hour, Width: 800}, false},
		{"over at zero and below", TimerCard{Band: Red}, TimerCard{Band: Red, Remaining: -time.Minute}, true},
		{"over ignores remaining", TimerCard{Band: Red, Over: true, Remaining: time.Hour}, TimerCard{Band: Red}, true},
		{"static flag only matters when urgent", base, TimerCard{Band: Green, Remaining: 7 * time.Hour, Static: true}, true},
		{"static urgent card", TimerCard{Band: Red, Remaining: time.Minute}, TimerCard{Band: Red, Remaining: time.Minute, Static: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Key() == tt.b.Key(); got != tt.same {
				t.Errorf("keys equal = %v, want %v:\n%+v\n%+v", got, tt.same, tt.a.Key(), tt.b.Key())
			}
		})
	}
	if got := (TimerCard{Width: 5}).Key().Width; got != MinCardWidth {
		t.Errorf("tiny width clamps to %d, got %d", MinCardWidth, got)
	}
	if got := (TimerCard{Width: 99999}).Key().Width; got != MaxCardWidth {
		t.Errorf("huge width clamps to %d, got %d", MaxCardWidth, got)
	}
}

func TestRenderTimerFormats(t *testing.T) {
	tests := []struct {
		name     string
		card     TimerCard
		wantType string
	}{
		{"calm", TimerCard{Band: Purple, Remaining: 11 * time.Hour}, ContentTypePNG},
		{"alert", TimerCard{Band: Red, Remaining: 20 * time.Minute}, ContentTypeGIF},
		{"apocalypse", TimerCard{Band: Red, Remaining: 500 * time.Millisecond}, ContentTypeGIF},
		{"static apocalypse", TimerCard{Band: Red, Remaining: time.Second, Static: true}, ContentTypePNG},
		{"game over", TimerCard{Band: Red}, ContentTypePNG},
		{"negative remaining", TimerCard{Band: Red, Remaining: -time.Hour}, ContentTypePNG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := RenderTimer(tt.card)
			if err != nil {
				t.Fatal(err)
			}
			if img.ContentType != tt.wantType {
				t.Fatalf("content type %s, want %s", img.ContentType, tt.wantType)
			}
			var w, h int
			if img.ContentType == ContentTypePNG {
				b := decodePNG(t, img.Data).Bounds()
				w, h = b.Dx(), b.Dy()
			} else {
				g := decodeGIF(t, img.Data)
				w, h = g.Config.Width, g.Config.Height
			}
			if w != DefaultCardWidth || h != DefaultCardWidth*3/5 {
				t.Errorf("size %d×%d, want %d×%d", w, h, DefaultCardWidth, DefaultCardWidth*3/5)
			}
		})
	}
}

func TestRenderTimerRejectsUnknownBand(t *testing.T) {
	for _, b := range []Band{-1, 6, 100} {
		_, err := RenderTimer(TimerCard{Band: b, Remaining: time.Hour})
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("band %d: err = %v, want ErrInvalidInput", b, err)
		}
	}
}

func TestAnimatedCard(t *testing.T) {
	for _, u := range []struct {
		left   time.Duration
		frames int
	}{
		{29 * time.Minute, 12}, {4 * time.Minute, 16}, {59 * time.Second, 16}, {29 * time.Second, 16},
	} {
		img, err := RenderTimer(TimerCard{Band: Red, Remaining: u.left})
		if err != nil {
			t.Fatal(err)
		}
		if len(img.Data) > 400<<10 {
			t.Errorf("%v: %d bytes, over the 400 KB budget", u.left, len(img.Data))
		}
		g := decodeGIF(t, img.Data)
		if len(g.Image) != u.frames {
			t.Errorf("%v: %d frames, want %d", u.left, len(g.Image), u.frames)
		}
		if g.LoopCount != 0 {
			t.Errorf("%v: loop count %d, want 0 (forever)", u.left, g.LoopCount)
		}
		full := image.Rect(0, 0, g.Config.Width, g.Config.Height)
		if g.Image[0].Bounds() != full {
			t.Errorf("%v: first frame %v, want the full card %v", u.left, g.Image[0].Bounds(), full)
		}
		for i, f := range g.Image {
			if !f.Bounds().In(full) {
				t.Errorf("%v: frame %d %v outside the card", u.left, i, f.Bounds())
			}
		}
		// The text really moves (shake or float) between frames.
		if compositeGIF(g, 0).Bounds() == (image.Rectangle{}) {
			t.Fatal("empty frame")
		}
		n, _ := pixelDiff(compositeGIF(g, 0), compositeGIF(g, len(g.Image)/4), 8)
		if n == 0 {
			t.Errorf("%v: frames 0 and %d are identical", u.left, len(g.Image)/4)
		}
	}
}

// TestSplicedPNGMatchesFullEncode checks the spliced static card against a
// card composed in full and encoded by image/png, for every clock length.
func TestSplicedPNGMatchesFullEncode(t *testing.T) {
	for _, left := range []time.Duration{
		0, 9*time.Hour + 3*time.Minute + 7*time.Second, 123*time.Hour + 45*time.Minute,
		999*time.Hour + 59*time.Minute + 59*time.Second, 123456 * time.Hour,
	} {
		for _, w := range []int{MinCardWidth, DefaultCardWidth, 777} {
			k := TimerCard{Band: Yellow, Remaining: left, Width: w, Static: true}.Key()
			data, err := renderTimerPNG(k)
			if err != nil {
				t.Fatal(err)
			}
			got := toRGBA(decodePNG(t, data))

			L := layoutFor(k.Width)
			base, err := baseFor(k.Band, k.Width, k.Over, true)
			if err != nil {
				t.Fatal(err)
			}
			text := appendClock(nil, k.Seconds)
			atlas, err := digitAtlasFor(L, len(text))
			if err != nil {
				t.Fatal(err)
			}
			full := image.NewRGBA(base.img.Bounds())
			copy(full.Pix, base.img.Pix)
			if atlas.separate {
				sprites, err := spritesFor(base, L, atlas, len(text))
				if err != nil {
					t.Fatal(err)
				}
				sprites.draw(full, L, atlas, text)
			} else {
				drawDigits(full, L, atlas, text, base.fill, base.outline, base.shadow, image.Point{})
			}
			var buf bytes.Buffer
			if err := png.Encode(&buf, full); err != nil {
				t.Fatal(err)
			}
			want := toRGBA(decodePNG(t, buf.Bytes()))
			if n, worst := pixelDiff(got, want, 0); n != 0 {
				t.Errorf("%v at %dpx: %d pixels differ (worst %d)", left, w, n, worst)
			}
			// The digits stay inside the spliced band of rows.
			for y := 0; y < L.h; y++ {
				if y >= base.png.y0 && y < base.png.y1 {
					continue
				}
				row := full.Pix[full.PixOffset(0, y):full.PixOffset(L.w, y)]
				if !bytes.Equal(row, base.img.Pix[base.img.PixOffset(0, y):base.img.PixOffset(L.w, y)]) {
					t.Fatalf("%v at %dpx: digits touch row %d outside the band [%d, %d)", left, w, y, base.png.y0, base.png.y1)
				}
			}
		}
	}
}

// TestSpritesMatchLayers checks that drawing each clock glyph as one
// pre-composited sprite looks like drawing shadows, outlines and fills
// layer by layer, wherever the atlas allows sprites.
func TestSpritesMatchLayers(t *testing.T) {
	for _, w := range []int{MinCardWidth, DefaultCardWidth, 777, MaxCardWidth} {
		for _, text := range []string{"00:00:00", "44:49:09", "909:46:64", "9064:46:49", "123456:00:00"} {
			L := layoutFor(w)
			atlas, err := digitAtlasFor(L, len(text))
			if err != nil {
				t.Fatal(err)
			}
			if !atlas.separate {
				continue
			}
			base, err := baseFor(Blue, w, false, true)
			if err != nil {
				t.Fatal(err)
			}
			layered := image.NewRGBA(base.img.Bounds())
			copy(layered.Pix, base.img.Pix)
			drawDigits(layered, L, atlas, []byte(text), base.fill, base.outline, base.shadow, image.Point{})
			sprited := image.NewRGBA(base.img.Bounds())
			copy(sprited.Pix, base.img.Pix)
			sprites, err := spritesFor(base, L, atlas, len(text))
			if err != nil {
				t.Fatal(err)
			}
			sprites.draw(sprited, L, atlas, []byte(text))
			// Only faint anti-aliased rims where neighbours touch may differ.
			n, worst := pixelDiff(layered, sprited, 16)
			if limit := len(layered.Pix) / 4 / 2000; n > limit || worst > 40 {
				t.Errorf("%dpx %s: %d pixels differ by more than 16 (limit %d), worst %d", w, text, n, limit, worst)
			}
		}
	}
}

func TestAdler32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 5552, 65521, 70000, 200000} {
		a := make([]byte, rng.IntN(100000))
		b := make([]byte, n)
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := adler32.Checksum(append(append([]byte{}, a...), b...))
		if got := adler32Combine(adler32.Checksum(a), adler32.Checksum(b), len(b)); got != want {
			t.Errorf("len %d+%d: combine = %#x, want %#x", len(a), n, got, want)
		}
	}
}

func TestBandPalette(t *testing.T) {
	got := map[string]string{}
	for _, b := range Bands() {
		c := BandColor(int(b))
		got[BandName(int(b))] = hexColor(c.R, c.G, c.B)
	}
	want := map[string]string{
		"Red": "#C24141", "Orange": "#DB7C30", "Yellow": "#CBA635",
		"Green": "#509B69", "Blue": "#4069C0", "Purple": "#6A4C93",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("palette differs from GAME-RULES §4 (-want +got):\n%s", diff)
	}
	if Band(7).Valid() || Band(-1).Valid() || BandName(9) != "Band(9)" {
		t.Error("invalid bands must be reported as such")
	}
}

func hexColor(r, g, b uint8) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{'#', digits[r>>4], digits[r&15], digits[g>>4], digits[g&15], digits[b>>4], digits[b&15]})
}

// TestCardColours samples the body of each static card: it is the band's
// colour (within the gradient's range), and the marker sits on that band.
func TestCardColours(t *testing.T) {
	for _, b := range Bands() {
		img, err := RenderTimer(TimerCard{Band: b, Remaining: time.Duration(b)*2*time.Hour + time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		m := toRGBA(decodePNG(t, img.Data))
		// A point in the body left of the text, at mid height.
		p := m.RGBAAt(8, m.Rect.Dy()*55/100)
		want := b.Color()
		if d := max(absInt(int(p.R)-int(want.R)), absInt(int(p.G)-int(want.G)), absInt(int(p.B)-int(want.B))); d > 40 {
			t.Errorf("%v: body colour %v, want near %v", b, p, want)
		}
	}
	_ = draw.Src
}
