// Package readmodel is The Button's read model: the view types that the
// Discord bot, the image updater and the web pages show (games, clicks,
// players, boards), their methods, the Reader interface that serves them
// and its errors. The Redis projection (projector/redisproj) implements
// Reader and returns these types directly; nothing else converts them.
//
// It imports only events and the standard library: never go-redis,
// nats.go, database/sql or another package of this module, so that every
// reader of the views stays free of them.
package readmodel
