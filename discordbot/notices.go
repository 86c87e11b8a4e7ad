package discordbot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
)

// noticeKind names a problem an admin can fix.
type noticeKind string

const (
	noticeRoles   noticeKind = "roles"   // roles cannot be created, recoloured or given
	noticeChannel noticeKind = "channel" // a channel cannot be posted in
)

// noticeEvery is how often one problem of one guild is told.
const noticeEvery = time.Hour

// notices tells admins about problems they can fix (missing permissions,
// role hierarchy, deleted channels), at most once per guild and problem
// per noticeEvery: in a channel of the game, mentioning the admin who
// started it. Every problem is logged anyway.
type notices struct {
	b    *Bot
	mu   sync.Mutex
	last map[string]time.Time
}

func newNotices(b *Bot) *notices { return &notices{b: b, last: make(map[string]time.Time)} }

// describe says what Discord refused, for people.
func describe(err error) string {
	var e *APIError
	if !errors.As(err, &e) {
		return "the request failed"
	}
	switch e.Code {
	case CodeMissingPermissions:
		return "I am missing permissions (50013)"
	case CodeMissingAccess:
		return "I cannot see that channel (50001)"
	case CodeUnknownChannel:
		return "the channel does not exist any more (10003)"
	case CodeUnknownRole:
		return "the role does not exist any more (10011)"
	case CodeUnknownMessage:
		return "the message does not exist any more (10008)"
	}
	return fmt.Sprintf("HTTP %d, code %d", e.Status, e.Code)
}

// tell logs a problem and, unless told recently, posts it in channel
// mentioning admin. It never fails: a notice that cannot be posted is
// logged.
func (n *notices) tell(ctx context.Context, guild, channel, admin string, kind noticeKind, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	n.b.log.Warn("problem for the server admin", "guild", guild, "kind", string(kind), "problem", text)
	if channel == "" {
		return
	}
	key := guild + "/" + string(kind)
	n.mu.Lock()
	if t, ok := n.last[key]; ok && time.Since(t) < noticeEvery {
		n.mu.Unlock()
		return
	}
	n.last[key] = time.Now()
	n.mu.Unlock()
	content := "⚠️ " + text
	if admin != "" {
		content = "⚠️ " + mention(admin) + " " + text
	}
	users := []string{}
	if admin != "" {
		users = []string{admin}
	}
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := n.b.rest.send(nctx, channel, &discordgo.MessageSend{Content: truncate(content, 2000),
		AllowedMentions: &discordgo.MessageAllowedMentions{Users: users}})
	if err != nil {
		n.b.log.Warn("notice not posted", "guild", guild, "channel", channel, "err", err)
	}
}
