package discordbot

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/bwmarrin/discordgo"
)

// Interactions as Discord sends them: a button press carries the whole
// message it was on; a slash command its options and resolved users.
var decodeBodies = map[string]string{
	"press": `{"id":"1300000000000000001","application_id":"1200000000000000001","type":3,"token":"tok-abc","version":1,
"guild_id":"1100000000000000001","channel_id":"1000000000000000001","app_permissions":"2251799813685247",
"locale":"en-US","guild_locale":"en-US","context":0,"authorizing_integration_owners":{"0":"1100000000000000001"},
"entitlements":[],
"member":{"user":{"id":"900000000000000001","username":"pat","global_name":"Pat Player","discriminator":"0","avatar":null},
"nick":"Patty","roles":["800000000000000001","800000000000000002"],"joined_at":"2024-01-02T03:04:05.000000+00:00",
"permissions":"3072","deaf":false,"mute":false,"pending":false,"flags":0},
"data":{"custom_id":"press:42","component_type":2},
"message":{"id":"700000000000000001","channel_id":"1000000000000000001","content":"","author":{"id":"1200000000000000001","username":"The Button","bot":true},
"embeds":[{"title":"Game #42","description":"**12 clicks** by **5 players**\nLatest: Pat, Blue, 00:09:59.123","color":4221376,
"fields":[{"name":"Deadline","value":"<t:1800000000:R> (<t:1800000000:T>)","inline":true},{"name":"Alive for","value":"3 h","inline":true}],
"image":{"url":"attachment://timer.png"},"footer":{"text":"Press the button to put the clock back to full."}}],
"components":[{"type":1,"components":[{"type":2,"style":1,"label":"Press","custom_id":"press:42"}]}],
"attachments":[{"id":"600000000000000001","filename":"timer.png","size":12345,"url":"https://cdn.example/timer.png","proxy_url":"https://media.example/timer.png","content_type":"image/png"}],
"timestamp":"2024-01-02T03:04:05.000000+00:00","edited_timestamp":null,"flags":0,"mentions":[],"mention_roles":[],"pinned":false,"tts":false,"type":0}}`,
	"command": `{"id":"1300000000000000002","application_id":"1200000000000000001","type":2,"token":"tok-def","version":1,
"guild_id":"1100000000000000001","channel_id":"1000000000000000001","app_permissions":"2251799813685247","locale":"fr",
"member":{"user":{"id":"900000000000000002","username":"ada","discriminator":"0"},"roles":[],"permissions":"32","joined_at":"2024-01-02T03:04:05Z"},
"data":{"id":"500000000000000001","name":"stats","type":1,"options":[{"name":"player","type":1,"options":[{"name":"user","type":6,"value":"900000000000000001"}]}],
"resolved":{"users":{"900000000000000001":{"id":"900000000000000001","username":"pat","global_name":"Pat Player","discriminator":"0"}},
"members":{"900000000000000001":{"nick":"Patty","roles":[],"joined_at":"2024-01-02T03:04:05Z","permissions":"3072"}}}}}`,
	"dm command": `{"id":"1300000000000000003","application_id":"1200000000000000001","type":2,"token":"tok-ghi","version":1,
"channel_id":"1000000000000000009","user":{"id":"900000000000000003","username":"solo","discriminator":"0"},
"data":{"id":"500000000000000002","name":"help","type":1}}`,
	"ping": `{"id":"1300000000000000004","application_id":"1200000000000000001","type":1,"token":"tok-jkl","version":1}`,
}

// decodeInteraction gives what discordgo's decoding gives, but for the
// fields the bot does not read.
func TestDecodeInteractionAsDiscordgo(t *testing.T) {
	for name, body := range decodeBodies {
		t.Run(name, func(t *testing.T) {
			var want discordgo.Interaction
			if err := json.Unmarshal([]byte(body), &want); err != nil {
				t.Fatal(err)
			}
			got, err := decodeInteraction([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			// Not read by the bot, not decoded.
			want.Message, want.AppPermissions, want.Locale, want.GuildLocale = nil, 0, "", nil
			want.Context, want.AuthorizingIntegrationOwners, want.Entitlements = 0, nil, nil
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("decoded\n%#v\nwant\n%#v", *got, want)
			}
		})
	}
	for _, bad := range []string{`{"type":3,"data":"x"}`, `{"type":2,"data":[1]}`, `[]`, `{"id":`} {
		if _, err := decodeInteraction([]byte(bad)); err == nil {
			t.Errorf("decodeInteraction(%s) accepted", bad)
		}
	}
}

// BenchmarkDecodeInteraction compares discordgo's decoding of a button
// press (the whole pressed message included) with decodeInteraction.
func BenchmarkDecodeInteraction(b *testing.B) {
	body := []byte(decodeBodies["press"])
	b.Run("discordgo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ic discordgo.Interaction
			if err := json.Unmarshal(body, &ic); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fields", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeInteraction(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
