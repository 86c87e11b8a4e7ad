// Package discordkv shares what the processes of one Discord bot must share
// through a JetStream key-value bucket: the global REST budget (Budget, a
// token bucket updated with revision checks) and the gateway shards
// (Shards, one lease per shard). It is the adapter between discordbot and
// nats.go; it imports discordbot's interfaces and nothing of the storage
// side (no go-redis, no database/sql, no projector).
package discordkv

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBucket is the key-value bucket of the bot's shared state.
const DefaultBucket = "BUTTON_DISCORD"

// OpenBucket creates (or updates) the bucket with replicas copies (0: 1).
func OpenBucket(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (jetstream.KeyValue, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "The Button: the Discord bot's shared REST budget and shard leases",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("discordkv: create or update bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// conflict reports whether err is a failed revision check.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
