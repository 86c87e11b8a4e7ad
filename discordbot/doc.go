// Package discordbot is The Button on Discord: the gateway session, the
// HTTP interactions endpoint (InteractionsHandler; both feed one
// interaction handler), the press handler, the slash commands and the optional legacy text
// commands, the discord-effects reactor (roles, the game message,
// announcements, end summaries) and the game-message updater.
//
// It owns everything the bot says and how it talks to Discord: one global
// budget below Discord's 50 requests/s for every REST call except
// interaction callbacks (Budget: this process's own, or shared by every
// process of the bot through discordkv), rate-limit waits that
// always end with their context, and the translation of Discord's errors
// into the package's *APIError. Several processes split the gateway into
// shards (OpenShard), each guild's work done by the holder of its shard.
//
// It decides nothing itself: presses and admin commands go to the write
// side through the Commands interface (implemented by *commands.Handler),
// what players see is read through the read model's Reader
// (readmodel.Reader, implemented by the Redis projection's reader), and the reactor's done-marks live behind the
// Marks interface (implemented by projector/redismarks). It must not import
// nats.go, go-redis, database/sql or any projector package; a test checks
// this with go list -deps.
//
// Everything shown comes from the views: the game message, the end
// summary, the boards, the announcements and the admin replies. An answer
// to a press or an admin command is built from the command's decision (a
// refusal carries what the player is told). Where a display must include
// an event (a game's latest event before a game-message edit or a
// repost, an end before its summary), the bot waits for the views to
// apply that event's stream sequence (readmodel.Reader.WaitApplied),
// which does not poll; of the write side it asks only that sequence
// (Commands.LastSeq), never the game's state.
package discordbot
