package discordtest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
)

// Message is a message as the fake keeps it.
type Message struct {
	ID, ChannelID, GuildID string
	AuthorID               string
	Content                string
	Embeds                 []*discordgo.MessageEmbed
	// Components is the raw JSON of the message's component rows.
	Components  json.RawMessage
	Attachments []Attachment
	Flags       int
	// Reactions are the bot's current reactions; ReactionsEver every
	// reaction it ever added.
	Reactions, ReactionsEver []string
	Edits                    int
	Deleted                  bool
	CreatedAt, EditedAt      time.Time
}

// Attachment is a file of a message.
type Attachment struct {
	ID, Filename, ContentType string
	Data                      []byte
}

// Button is a button of a message's components.
type Button struct {
	CustomID, Label, URL, Emoji string
	Style                       int
	Disabled                    bool
}

// component is the JSON of one component.
type component struct {
	Type       int         `json:"type"`
	Style      int         `json:"style"`
	Label      string      `json:"label"`
	CustomID   string      `json:"custom_id"`
	URL        string      `json:"url"`
	Disabled   bool        `json:"disabled"`
	Emoji      *emojiJSON  `json:"emoji"`
	Components []component `json:"components"`
}

type emojiJSON struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

func parseComponents(raw json.RawMessage) ([]component, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var rows []component
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("components: %w", err)
	}
	return rows, nil
}

func (m *Message) components() []component {
	rows, _ := parseComponents(m.Components)
	return rows
}

// Buttons returns the message's buttons, row by row.
func (m Message) Buttons() []Button {
	var out []Button
	for _, row := range m.components() {
		for _, c := range row.Components {
			if c.Type != 2 {
				continue
			}
			b := Button{CustomID: c.CustomID, Label: c.Label, URL: c.URL, Style: c.Style, Disabled: c.Disabled}
			if c.Emoji != nil {
				b.Emoji = c.Emoji.Name
			}
			out = append(out, b)
		}
	}
	return out
}

// Attachment returns the attachment with the given file name.
func (m Message) Attachment(name string) (Attachment, bool) {
	for _, a := range m.Attachments {
		if a.Filename == name {
			return a, true
		}
	}
	return Attachment{}, false
}

// EmbedImage returns the attachment an embed's image refers to
// ("attachment://name").
func (m Message) EmbedImage(embed int) (Attachment, bool) {
	if embed >= len(m.Embeds) || m.Embeds[embed].Image == nil {
		return Attachment{}, false
	}
	name, ok := strings.CutPrefix(m.Embeds[embed].Image.URL, "attachment://")
	if !ok {
		return Attachment{}, false
	}
	return m.Attachment(name)
}

// Text returns the content and every embed's text, for searching.
func (m Message) Text() string {
	var b strings.Builder
	b.WriteString(m.Content)
	for _, e := range m.Embeds {
		b.WriteString("\n" + e.Title + "\n" + e.Description)
		for _, f := range e.Fields {
			b.WriteString("\n" + f.Name + "\n" + f.Value)
		}
		if e.Footer != nil {
			b.WriteString("\n" + e.Footer.Text)
		}
		if e.Author != nil {
			b.WriteString("\n" + e.Author.Name)
		}
	}
	return b.String()
}

type attachmentRef struct {
	ID string `json:"id"`
}

// msgPayload is the body of a message create or edit (and of an
// interaction response's data).
type msgPayload struct {
	Content     *string                    `json:"content"`
	Embeds      *[]*discordgo.MessageEmbed `json:"embeds"`
	Components  json.RawMessage            `json:"components"`
	Attachments *[]attachmentRef           `json:"attachments"`
	Flags       *int                       `json:"flags"`
}

// apply sets what p carries on m, after checking Discord's limits. On an
// edit, attachments not listed in p.Attachments (when present) are dropped
// and files are added.
func (m *Message) apply(p msgPayload, files []File, create bool) error {
	if p.Content != nil {
		m.Content = *p.Content
	}
	if p.Embeds != nil {
		m.Embeds = *p.Embeds
	}
	if len(p.Components) > 0 && string(p.Components) != "null" {
		rows, err := parseComponents(p.Components)
		if err != nil {
			return err
		}
		if err := checkComponents(rows); err != nil {
			return err
		}
		m.Components = append(json.RawMessage(nil), p.Components...)
	}
	if p.Flags != nil {
		m.Flags = *p.Flags
	}
	if p.Attachments != nil && !create {
		keep := map[string]bool{}
		for _, a := range *p.Attachments {
			keep[a.ID] = true
		}
		var kept []Attachment
		for _, a := range m.Attachments {
			if keep[a.ID] {
				kept = append(kept, a)
			}
		}
		m.Attachments = kept
	}
	for i, f := range files {
		m.Attachments = append(m.Attachments, Attachment{ID: fmt.Sprintf("%s%02d", m.ID, len(m.Attachments)+i),
			Filename: f.Name, ContentType: f.ContentType, Data: f.Data})
	}
	if len(m.Attachments) > 10 {
		return fmt.Errorf("attachments: more than 10")
	}
	return checkMessage(m.Content, m.Embeds)
}

// checkMessage applies Discord's documented message and embed limits.
func checkMessage(content string, embeds []*discordgo.MessageEmbed) error {
	if n := utf8.RuneCountInString(content); n > 2000 {
		return fmt.Errorf("content: %d characters, more than 2000", n)
	}
	if len(embeds) > 10 {
		return fmt.Errorf("embeds: %d, more than 10", len(embeds))
	}
	total := 0
	for i, e := range embeds {
		if e == nil {
			return fmt.Errorf("embeds.%d: null", i)
		}
		count := func(field, s string, limit int) error {
			n := utf8.RuneCountInString(s)
			total += n
			if n > limit {
				return fmt.Errorf("embeds.%d.%s: %d characters, more than %d", i, field, n, limit)
			}
			return nil
		}
		if err := count("title", e.Title, 256); err != nil {
			return err
		}
		if err := count("description", e.Description, 4096); err != nil {
			return err
		}
		if len(e.Fields) > 25 {
			return fmt.Errorf("embeds.%d.fields: more than 25", i)
		}
		for j, f := range e.Fields {
			if f.Name == "" || f.Value == "" {
				return fmt.Errorf("embeds.%d.fields.%d: name and value are required", i, j)
			}
			if err := count(fmt.Sprintf("fields.%d.name", j), f.Name, 256); err != nil {
				return err
			}
			if err := count(fmt.Sprintf("fields.%d.value", j), f.Value, 1024); err != nil {
				return err
			}
		}
		if e.Footer != nil {
			if err := count("footer.text", e.Footer.Text, 2048); err != nil {
				return err
			}
		}
		if e.Author != nil {
			if err := count("author.name", e.Author.Name, 256); err != nil {
				return err
			}
		}
		if e.Color < 0 || e.Color > 0xFFFFFF {
			return fmt.Errorf("embeds.%d.color: %d out of range", i, e.Color)
		}
	}
	if total > 6000 {
		return fmt.Errorf("embeds: %d characters in total, more than 6000", total)
	}
	return nil
}

// checkComponents applies Discord's limits on action rows and buttons.
func checkComponents(rows []component) error {
	if len(rows) > 5 {
		return fmt.Errorf("components: %d rows, more than 5", len(rows))
	}
	for i, row := range rows {
		if row.Type != 1 {
			return fmt.Errorf("components.%d: type %d is not an action row", i, row.Type)
		}
		if len(row.Components) == 0 || len(row.Components) > 5 {
			return fmt.Errorf("components.%d: %d components, need 1 to 5", i, len(row.Components))
		}
		for j, c := range row.Components {
			if c.Type != 2 {
				continue
			}
			if c.Style < 1 || c.Style > 6 {
				return fmt.Errorf("components.%d.%d: style %d", i, j, c.Style)
			}
			if utf8.RuneCountInString(c.Label) > 80 {
				return fmt.Errorf("components.%d.%d.label: more than 80 characters", i, j)
			}
			if c.Style == 5 {
				if c.URL == "" || c.CustomID != "" {
					return fmt.Errorf("components.%d.%d: a link button needs a url and no custom_id", i, j)
				}
				continue
			}
			if c.CustomID == "" || len(c.CustomID) > 100 {
				return fmt.Errorf("components.%d.%d.custom_id: need 1 to 100 characters", i, j)
			}
			if c.Label == "" && c.Emoji == nil {
				return fmt.Errorf("components.%d.%d: a button needs a label or an emoji", i, j)
			}
		}
	}
	return nil
}

func (s *Server) messageJSON(m *Message) map[string]any {
	atts := []map[string]any{}
	for _, a := range m.Attachments {
		atts = append(atts, map[string]any{"id": a.ID, "filename": a.Filename, "size": len(a.Data),
			"content_type": a.ContentType,
			"url":          "https://cdn.discordapp.com/attachments/" + m.ChannelID + "/" + a.ID + "/" + a.Filename,
			"proxy_url":    "https://media.discordapp.net/attachments/" + m.ChannelID + "/" + a.ID + "/" + a.Filename})
	}
	embeds := m.Embeds
	if embeds == nil {
		embeds = []*discordgo.MessageEmbed{}
	}
	comps := m.Components
	if len(comps) == 0 || string(comps) == "null" {
		comps = json.RawMessage("[]")
	}
	var edited any
	if !m.EditedAt.IsZero() {
		edited = m.EditedAt.UTC().Format(time.RFC3339Nano)
	}
	author := map[string]any{"id": m.AuthorID, "username": "user", "discriminator": "0"}
	if m.AuthorID == s.BotID {
		author = s.botUser()
	}
	return map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "guild_id": m.GuildID, "type": 0,
		"author": author, "content": m.Content, "embeds": embeds, "components": comps,
		"attachments": atts, "flags": m.Flags, "tts": false, "pinned": false,
		"mention_everyone": false, "mentions": []any{}, "mention_roles": []any{},
		"timestamp": m.CreatedAt.UTC().Format(time.RFC3339Nano), "edited_timestamp": edited,
	}
}

// Messages returns the live (not deleted) messages of a channel in the
// order they were posted.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.ChannelID == channel && !m.Deleted {
			out = append(out, m.copy())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.Before(out[j].CreatedAt) || (out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].ID < out[j].ID)
	})
	return out
}

// Message returns a message by id, deleted or not.
func (s *Server) Message(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.messages[id]
	if m == nil {
		return Message{}, false
	}
	return m.copy(), true
}

// DeleteMessage deletes a message as a moderator would.
func (s *Server) DeleteMessage(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.messages[id]; m != nil {
		m.Deleted = true
	}
	s.notifyLocked()
}

func (m *Message) copy() Message {
	c := *m
	c.Embeds = append([]*discordgo.MessageEmbed(nil), m.Embeds...)
	c.Attachments = append([]Attachment(nil), m.Attachments...)
	c.Reactions = append([]string(nil), m.Reactions...)
	c.ReactionsEver = append([]string(nil), m.ReactionsEver...)
	return c
}
