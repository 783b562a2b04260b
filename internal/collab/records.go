package collab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// changeRecord is what the store keeps of a change: the change and the
// operation that undoes it.
type changeRecord struct {
	Change  protocol.Change `json:"change"`
	Inverse doc.Op          `json:"inverse"`
}

// conflictRecord is what the store keeps of a manual conflict.
type conflictRecord struct {
	Conflict       protocol.Conflict `json:"conflict"`
	Intended       any               `json:"intended"`
	IntendedDelete bool              `json:"intendedDelete,omitempty"`
	// IntendedNone: the held-back change names no value (see
	// editing.Outcome); absent in conflicts stored before it.
	IntendedNone bool `json:"intendedNone,omitempty"`
	// Rebased is the held-back operation rebased over the changes up to
	// RebasedAt, the version the conflict was recorded at, so that a
	// resolution follows its list element from there (see
	// editing.ConflictInput); nil when nothing of it was left. Both are
	// absent in conflicts stored before them (RebasedAt 0).
	Rebased   *doc.Op `json:"rebased,omitempty"`
	RebasedAt int64   `json:"rebasedAt,omitempty"`
}

// decodeJSON decodes data into v with exact numbers.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func decodeChange(c store.Change) (changeRecord, error) {
	var rec changeRecord
	if err := decodeJSON(c.Data, &rec); err != nil {
		return changeRecord{}, fmt.Errorf("decode change %q version %d: %w", c.Entity, c.Version, err)
	}
	return rec, nil
}

func decodeConflict(c store.Conflict) (conflictRecord, error) {
	var rec conflictRecord
	if err := decodeJSON(c.Data, &rec); err != nil {
		return conflictRecord{}, fmt.Errorf("decode conflict %q %q: %w", c.Entity, c.ID, err)
	}
	return rec, nil
}

// changeID is the id of version v of e: "type:id:v".
func changeID(e store.EntityKey, v int64) string {
	return e.Type + ":" + e.ID + ":" + strconv.FormatInt(v, 10)
}

// parseChangeID splits a change id into entity type, id and version.
func parseChangeID(id string) (protocol.EntityRef, int64, bool) {
	parts := strings.Split(id, ":")
	if len(parts) != 3 {
		return protocol.EntityRef{}, 0, false
	}
	v, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || v <= 0 {
		return protocol.EntityRef{}, 0, false
	}
	return protocol.EntityRef{EntityType: parts[0], EntityID: parts[1]}, v, true
}

// LockOf is a stored lock on the wire.
func LockOf(l store.Lock) *protocol.Lock {
	return &protocol.Lock{
		EntityType: l.Entity.Type, EntityID: l.Entity.ID, LockedBy: l.Holder, LockedByName: l.HolderName,
		LockedAt: protocol.Now(l.AcquiredAt), ExpiresAt: protocol.Now(l.ExpiresAt), FencingToken: l.Token, Renewable: true,
	}
}

// commentOf is a stored comment on the wire.
func commentOf(c store.Comment) protocol.Comment {
	out := protocol.Comment{
		ID: c.ID, EntityType: c.Entity.Type, EntityID: c.Entity.ID, ParentID: c.ParentID,
		UserID: c.UserID, Username: c.Username, Avatar: c.Avatar, Text: c.Text,
		CreatedAt: protocol.Now(c.CreatedAt), Resolved: c.Resolved, ResolvedBy: c.ResolvedBy, Version: c.Version,
	}
	if !c.ResolvedAt.IsZero() {
		out.ResolvedAt = protocol.Now(c.ResolvedAt)
	}
	return out
}
