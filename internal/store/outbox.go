package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Outbox items of the single table (see schema.go):
//
//	item          pk                   sk
//	outbox item   OUTBOX#<shard>       <tenant>#<type>#<id>#<version, 12 digits>
//
// Entities.Commit writes one in the same transaction as each change it
// stores: an accepted change has its outbox item, and a refused one has
// none. A relay sends the items to the system of record and deletes them.
// The entity's items share a shard and sort by version, so a shard read
// in order yields each entity's changes in version order. OutboxShards
// fixed partitions spread the writes; a relay reads them without a scan.
//
// An outbox item expires OutboxTTL after it was written (the TTL
// attribute), so that the outbox stays bounded when no relay runs; a relay
// must drain it within that time.
const (
	PrefixOutbox = "OUTBOX#"
	OutboxShards = 4
	OutboxTTL    = 7 * 24 * time.Hour
	// AttrOutboxData is the attribute of an outbox item that holds the
	// change (binary), as a DynamoDB stream record shows it.
	AttrOutboxData = "data"
)

// OutboxItem is a stored change waiting to be relayed.
type OutboxItem struct {
	Entity  EntityKey
	Version int64
	// Data is the change as stored (Change.Data).
	Data []byte
}

// OutboxShard is the shard of e's outbox items.
func OutboxShard(e EntityKey) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(EntityPK(e)))
	return int(h.Sum32() % OutboxShards)
}

// OutboxPK is the partition key of a shard's outbox items.
func OutboxPK(shard int) string { return PrefixOutbox + strconv.Itoa(shard) }

// OutboxSK is the sort key of the outbox item of version v of e.
func OutboxSK(e EntityKey, v int64) string {
	return fmt.Sprintf("%s#%s#%s#%012d", e.Tenant, e.Type, e.ID, v)
}

// ParseOutboxSK returns the entity and version of an outbox sort key.
func ParseOutboxSK(sk string) (EntityKey, int64, error) {
	parts := strings.Split(sk, "#")
	if len(parts) != 4 {
		return EntityKey{}, 0, fmt.Errorf("outbox key %q: want tenant#type#id#version", sk)
	}
	v, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return EntityKey{}, 0, fmt.Errorf("outbox key %q: %w", sk, err)
	}
	return EntityKey{Tenant: parts[0], Type: parts[1], ID: parts[2]}, v, nil
}

// Outbox reads and removes outbox items.
type Outbox interface {
	// ListOutbox returns up to limit live items of shard (limit <= 0:
	// 100) in sort key order: by entity, then version.
	ListOutbox(ctx context.Context, shard, limit int) ([]OutboxItem, error)
	// DeleteOutbox removes relayed items; absent ones are not an error.
	DeleteOutbox(ctx context.Context, items []OutboxItem) error
}
