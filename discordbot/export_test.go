package discordbot

import (
	"context"
	"strings"
	"time"
)

// AnswerAt runs the slash command name for user in channel of guild at the
// instant now, as if Discord had sent it then, and returns the answer's
// text: the content and every embed's description, one per line.
func (b *Bot) AnswerAt(ctx context.Context, guild, channel, user, name string, now time.Time) string {
	r := b.run(ctx, request{Guild: guild, Channel: channel, User: user, UserName: user, Name: name,
		Opts: map[string]any{}, Start: now})
	parts := []string{r.content}
	for _, e := range r.embeds {
		parts = append(parts, e.Description)
	}
	return strings.Join(parts, "\n")
}
