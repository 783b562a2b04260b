package handler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// lockJSON is a lock on the wire (the seed's Lock, with its fencing
// token).
type lockJSON struct {
	EntityType   string `json:"entityType"`
	EntityID     string `json:"entityId"`
	LockedBy     string `json:"lockedBy"`
	LockedByName string `json:"lockedByName,omitempty"`
	LockedAt     string `json:"lockedAt"`
	ExpiresAt    string `json:"expiresAt"`
	FencingToken int64  `json:"fencingToken"`
	Renewable    bool   `json:"renewable"`
}

func lockOf(l store.Lock) *lockJSON {
	return &lockJSON{
		EntityType: l.Entity.Type, EntityID: l.Entity.ID, LockedBy: l.Holder, LockedByName: l.HolderName,
		LockedAt: protocol.Now(l.AcquiredAt), ExpiresAt: protocol.Now(l.ExpiresAt), FencingToken: l.Token, Renewable: true,
	}
}

// lockEvent is the payload of a lock event on edit-locks and the entity
// channel.
type lockEvent struct {
	Action     string    `json:"action"` // acquired, renewed, released or expired
	EntityType string    `json:"entityType"`
	EntityID   string    `json:"entityId"`
	Lock       *lockJSON `json:"lock"`             // the lock, as it is (acquired, renewed) or was (released, expired)
	Reason     string    `json:"reason,omitempty"` // released: "released" or "disconnected"
}

// changeJSON is a change on the wire (the seed's Change, with the
// operation as applied and the server's bookkeeping).
type changeJSON struct {
	ID          string          `json:"id"`
	EntityType  string          `json:"entityType"`
	EntityID    string          `json:"entityId"`
	UserID      string          `json:"userId"`
	Username    string          `json:"username,omitempty"`
	Operation   doc.Kind        `json:"operation"`
	Path        string          `json:"path"`
	Before      any             `json:"before"`
	After       any             `json:"after"`
	Op          doc.Op          `json:"op"`
	Timestamp   string          `json:"timestamp"`
	Resolved    bool            `json:"resolved"`
	Version     int64           `json:"version"`
	BaseVersion int64           `json:"baseVersion"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	MessageID   string          `json:"messageId,omitempty"`
	Strategy    string          `json:"strategy"`
	Outcome     string          `json:"outcome,omitempty"`
	Notices     []string        `json:"notices,omitempty"`
	Supersedes  []int64         `json:"supersedes,omitempty"`
	UndoOf      string          `json:"undoOf,omitempty"`
	ConflictID  string          `json:"conflictId,omitempty"`
}

// changeRecord is what the store keeps of a change: the change and the
// operation that undoes it.
type changeRecord struct {
	Change  changeJSON `json:"change"`
	Inverse doc.Op     `json:"inverse"`
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

// changeID is the id of version v of e: "type:id:v".
func changeID(e store.EntityKey, v int64) string {
	return e.Type + ":" + e.ID + ":" + strconv.FormatInt(v, 10)
}

// parseChangeID splits a change id into entity type, id and version.
func parseChangeID(id string) (entityRef, int64, bool) {
	parts := strings.Split(id, ":")
	if len(parts) != 3 {
		return entityRef{}, 0, false
	}
	v, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || v <= 0 {
		return entityRef{}, 0, false
	}
	return entityRef{EntityType: parts[0], EntityID: parts[1]}, v, true
}

// conflictJSON is a conflict on the wire (the seed's Conflict).
type conflictJSON struct {
	ID                 string          `json:"id"`
	EntityType         string          `json:"entityType"`
	EntityID           string          `json:"entityId"`
	Path               string          `json:"path"`
	LocalChange        changeJSON      `json:"localChange"`
	RemoteChange       changeJSON      `json:"remoteChange"`
	ResolutionStrategy string          `json:"resolutionStrategy"`
	Resolved           bool            `json:"resolved"`
	Resolution         string          `json:"resolution,omitempty"`
	MergedValue        json.RawMessage `json:"mergedValue,omitempty"`
	CreatedAt          string          `json:"createdAt,omitempty"`
	ResolvedBy         string          `json:"resolvedBy,omitempty"`
	ResolvedAt         string          `json:"resolvedAt,omitempty"`
	ResolvedVersion    int64           `json:"resolvedVersion,omitempty"`
}

// conflictRecord is what the store keeps of a manual conflict.
type conflictRecord struct {
	Conflict       conflictJSON `json:"conflict"`
	Intended       any          `json:"intended"`
	IntendedDelete bool         `json:"intendedDelete,omitempty"`
}

func decodeConflict(c store.Conflict) (conflictRecord, error) {
	var rec conflictRecord
	if err := decodeJSON(c.Data, &rec); err != nil {
		return conflictRecord{}, fmt.Errorf("decode conflict %q %q: %w", c.Entity, c.ID, err)
	}
	return rec, nil
}

// commentJSON is a comment on the wire.
type commentJSON struct {
	ID         string `json:"id"`
	EntityType string `json:"entityType"`
	EntityID   string `json:"entityId"`
	ParentID   string `json:"parentId,omitempty"`
	UserID     string `json:"userId"`
	Username   string `json:"username,omitempty"`
	Avatar     string `json:"avatar,omitempty"`
	Text       string `json:"text"`
	CreatedAt  string `json:"createdAt"`
	Resolved   bool   `json:"resolved"`
	ResolvedBy string `json:"resolvedBy,omitempty"`
	ResolvedAt string `json:"resolvedAt,omitempty"`
}

func commentOf(c store.Comment) commentJSON {
	out := commentJSON{
		ID: c.ID, EntityType: c.Entity.Type, EntityID: c.Entity.ID, ParentID: c.ParentID,
		UserID: c.UserID, Username: c.Username, Avatar: c.Avatar, Text: c.Text,
		CreatedAt: protocol.Now(c.CreatedAt), Resolved: c.Resolved, ResolvedBy: c.ResolvedBy,
	}
	if !c.ResolvedAt.IsZero() {
		out.ResolvedAt = protocol.Now(c.ResolvedAt)
	}
	return out
}

// changeAck is the reply to change, undo and conflict.resolve.
type changeAck struct {
	EntityType string        `json:"entityType"`
	EntityID   string        `json:"entityId"`
	Outcome    editing.Kind  `json:"outcome"`
	Applied    bool          `json:"applied"`
	Version    int64         `json:"version"`
	Change     *changeJSON   `json:"change,omitempty"`
	Notices    []string      `json:"notices,omitempty"`
	Overwrote  []overwritten `json:"overwrote,omitempty"`
	Conflict   *conflictJSON `json:"conflict,omitempty"`
}

// overwritten names a concurrent change a last-write-wins write replaced.
type overwritten struct {
	Version int64  `json:"version"`
	UserID  string `json:"userId"`
	Path    string `json:"path"`
}
