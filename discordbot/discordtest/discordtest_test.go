package discordtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/thebutton-game/thebutton/discordbot/discordtest"
)

const token = "tok"

// session opens a real discordgo session on the fake.
func session(t *testing.T, f *discordtest.Server, intents discordgo.Intent) *discordgo.Session {
	t.Helper()
	s, err := discordgo.New("Bot " + token)
	if err != nil {
		t.Fatal(err)
	}
	s.Client = f.Client()
	s.ShouldRetryOnRateLimit = false
	s.Identify.Intents = intents
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestGatewayReadyAndIntents(t *testing.T) {
	f := discordtest.New(t, discordtest.Options{Token: token})
	guild, chans := f.AddGuild("G", 0, "a")
	user := f.AddMember(guild, "", "U", 0)
	created := make(chan *discordgo.GuildCreate, 1)
	msgs := make(chan *discordgo.MessageCreate, 2)
	s, err := discordgo.New("Bot " + token)
	if err != nil {
		t.Fatal(err)
	}
	s.Client = f.Client()
	s.Identify.Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildMessages
	s.AddHandler(func(_ *discordgo.Session, g *discordgo.GuildCreate) { created <- g })
	s.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageCreate) { msgs <- m })
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.State.User == nil || s.State.User.ID != f.BotID {
		t.Fatalf("READY user = %+v", s.State.User)
	}
	select {
	case g := <-created:
		if g.ID != guild || len(g.Channels) != 1 {
			t.Errorf("GUILD_CREATE = %s with %d channels", g.ID, len(g.Channels))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no GUILD_CREATE")
	}
	f.Say(guild, chans[0], user, "hello")
	select {
	case m := <-msgs:
		if m.Content != "" {
			t.Errorf("content %q delivered without the Message Content intent", m.Content)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no MESSAGE_CREATE")
	}
	if ids := f.Identifies(); len(ids) != 1 || ids[0].Intents != s.Identify.Intents {
		t.Errorf("identifies = %+v", ids)
	}
}

func TestWrongTokenIsRefused(t *testing.T) {
	f := discordtest.New(t, discordtest.Options{Token: token})
	s, _ := discordgo.New("Bot wrong")
	s.Client = f.Client()
	if _, err := s.GuildRoles("1"); err == nil {
		t.Fatal("a call with a wrong token succeeded")
	}
}

func TestBucketRateLimitHeadersAnd429(t *testing.T) {
	f := discordtest.New(t, discordtest.Options{Token: token})
	guild, chans := f.AddGuild("G", 0, "a")
	_ = guild
	s, _ := discordgo.New("Bot " + token)
	s.Client = f.Client()
	s.ShouldRetryOnRateLimit = false
	m, err := s.ChannelMessageSend(chans[0], "x")
	if err != nil {
		t.Fatal(err)
	}
	// Raw requests, to see the headers.
	var last *http.Response
	for i := range 6 {
		req, _ := http.NewRequest(http.MethodPatch, discordgo.EndpointChannelMessage(chans[0], m.ID), strings.NewReader(`{"content":"y"}`))
		req.Header.Set("Authorization", "Bot "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if i < 5 {
			if resp.StatusCode != 200 {
				t.Fatalf("edit %d: %d %s", i, resp.StatusCode, body)
			}
			if got, want := resp.Header.Get("X-RateLimit-Remaining"), string(rune('0'+4-i)); got != want {
				t.Errorf("edit %d: remaining %q, want %q", i, got, want)
			}
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Reset", "X-RateLimit-Reset-After", "X-RateLimit-Bucket"} {
				if resp.Header.Get(h) == "" {
					t.Errorf("edit %d: no %s", i, h)
				}
			}
			continue
		}
		last = resp
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("6th edit in 5 s: %d, want 429", resp.StatusCode)
		}
		var tm struct {
			RetryAfter float64 `json:"retry_after"`
			Global     bool    `json:"global"`
		}
		if err := json.Unmarshal(body, &tm); err != nil || tm.RetryAfter <= 0 || tm.Global {
			t.Errorf("429 body %s", body)
		}
	}
	if last.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	// discordgo sees a RateLimitError when it must not retry.
	_, err = s.ChannelMessageEdit(chans[0], m.ID, "z")
	var rl *discordgo.RateLimitError
	if !errors.As(err, &rl) {
		t.Errorf("discordgo error = %v, want a RateLimitError", err)
	}
	if n := len(f.RateLimited()); n != 2 {
		t.Errorf("%d calls recorded as 429, want 2", n)
	}
}

func TestGlobalLimit(t *testing.T) {
	f := discordtest.New(t, discordtest.Options{Token: token, Global: discordtest.Limit{Requests: 3, Window: time.Second}})
	_, chans := f.AddGuild("G", 0, "a", "b", "c", "d")
	s, _ := discordgo.New("Bot " + token)
	s.Client = f.Client()
	s.ShouldRetryOnRateLimit = false
	for i, ch := range chans {
		_, err := s.ChannelMessageSend(ch, "x")
		if i < 3 && err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i == 3 {
			var rl *discordgo.RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("4th call in a second: %v, want a global 429", err)
			}
		}
	}
}

func TestInteractionCallbacks(t *testing.T) {
	var (
		clockMu sync.Mutex
		skew    time.Duration // how far the fake's clock is ahead
	)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return time.Now().Add(skew) }
	f := discordtest.New(t, discordtest.Options{Token: token, InteractionTimeout: 300 * time.Millisecond, Clock: clock})
	guild, chans := f.AddGuild("G", 0, "a")
	user := f.AddMember(guild, "", "U", 0)
	got := make(chan *discordgo.InteractionCreate, 4)
	s, _ := discordgo.New("Bot " + token)
	s.Client = f.Client()
	s.AddHandler(func(_ *discordgo.Session, i *discordgo.InteractionCreate) { got <- i })
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	i := f.Press(guild, chans[0], user, "press:1", "42")
	ic := <-got
	if ic.MessageComponentData().CustomID != "press:1" || ic.Member.User.ID != user || ic.GuildID != guild {
		t.Fatalf("interaction = %+v", ic.Interaction)
	}
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: "hi", Flags: discordgo.MessageFlagsEphemeral,
			Files: []*discordgo.File{{Name: "a.png", ContentType: "image/png", Reader: bytes.NewReader([]byte("PNG!"))}}}}
	if err := s.InteractionRespond(ic.Interaction, resp); err != nil {
		t.Fatal(err)
	}
	a, err := i.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Content != "hi" || !a.Ephemeral() || len(a.Files) != 1 || string(a.Files[0].Data) != "PNG!" {
		t.Errorf("answer = %+v", a)
	}
	var re *discordgo.RESTError
	if err := s.InteractionRespond(ic.Interaction, resp); !errors.As(err, &re) || re.Message.Code != 40060 {
		t.Errorf("second callback: %v, want 40060", err)
	}

	late := f.Press(guild, chans[0], user, "press:1", "42")
	lic := <-got
	clockMu.Lock()
	skew += 400 * time.Millisecond // past the interaction window
	clockMu.Unlock()
	err = s.InteractionRespond(lic.Interaction, resp)
	if !errors.As(err, &re) || re.Message.Code != discordgo.ErrCodeUnknownInteraction {
		t.Errorf("late callback: %v, want 10062", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := late.Wait(ctx); !errors.Is(err, discordtest.ErrNoAnswer) {
		t.Errorf("late interaction has an answer: %v", err)
	}
}

// TestAdoptedInteractions: the edit of an interaction delivered by someone
// else is refused (10015) until its token is adopted, then recorded as
// its deferred answer; a token the caller does not know stays refused.
func TestAdoptedInteractions(t *testing.T) {
	f := discordtest.New(t, discordtest.Options{Token: token})
	s, _ := discordgo.New("Bot " + token)
	s.Client = f.Client()
	edit := func(tok string) error {
		content := "done"
		_, err := s.WebhookMessageEdit(f.AppID, tok, "@original", &discordgo.WebhookEdit{Content: &content})
		return err
	}
	var re *discordgo.RESTError
	if err := edit("tok-7"); !errors.As(err, &re) || re.Message.Code != discordgo.ErrCodeUnknownWebhook {
		t.Fatalf("edit of an unknown token: %v, want 10015", err)
	}
	f.AdoptInteractions(func(tok string) (string, bool) {
		id, ok := strings.CutPrefix(tok, "tok-")
		return id, ok && id == "7"
	})
	if f.Interaction("7") != nil {
		t.Fatal("interaction 7 adopted before any webhook call")
	}
	if err := edit("tok-8"); !errors.As(err, &re) || re.Message.Code != discordgo.ErrCodeUnknownWebhook {
		t.Errorf("edit of a token the caller does not know: %v, want 10015", err)
	}
	if err := edit("tok-7"); err != nil {
		t.Fatalf("edit of an adopted token: %v", err)
	}
	i := f.Interaction("7")
	if i == nil {
		t.Fatal("interaction 7 not adopted")
	}
	a, ok := i.Answer()
	if !ok || a.Content != "done" || !a.Deferred || a.CallbackType != 5 {
		t.Errorf("answer = %+v, %v; want the edit, deferred", a, ok)
	}
	if f.Interaction("8") != nil {
		t.Error("interaction 8 adopted")
	}
}

func TestMessagesKeepAttachmentsAndCheckLimits(t *testing.T) {
	f := discordtest.New(t, discordtest.Options{Token: token})
	_, chans := f.AddGuild("G", 0, "a")
	s, _ := discordgo.New("Bot " + token)
	s.Client = f.Client()
	m, err := s.ChannelMessageSendComplex(chans[0], &discordgo.MessageSend{
		Embeds: []*discordgo.MessageEmbed{{Title: "t", Image: &discordgo.MessageEmbedImage{URL: "attachment://a.png"}}},
		Files:  []*discordgo.File{{Name: "a.png", ContentType: "image/png", Reader: strings.NewReader("one")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	none := []*discordgo.MessageAttachment{}
	_, err = s.ChannelMessageEditComplex(&discordgo.MessageEdit{Channel: chans[0], ID: m.ID, Attachments: &none,
		Files: []*discordgo.File{{Name: "a.png", ContentType: "image/png", Reader: strings.NewReader("two")}}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.Message(m.ID)
	if img, ok := got.EmbedImage(0); !ok || string(img.Data) != "two" || len(got.Attachments) != 1 {
		t.Errorf("after the edit: %d attachments, image %q", len(got.Attachments), img.Data)
	}
	_, err = s.ChannelMessageSend(chans[0], strings.Repeat("x", 2001))
	var re *discordgo.RESTError
	if !errors.As(err, &re) || re.Message.Code != 50035 {
		t.Errorf("2001 characters: %v, want 50035", err)
	}
	f.DeleteMessage(m.ID)
	_, err = s.ChannelMessageEdit(chans[0], m.ID, "x")
	if !errors.As(err, &re) || re.Message.Code != discordgo.ErrCodeUnknownMessage {
		t.Errorf("edit of a deleted message: %v, want 10008", err)
	}
}
