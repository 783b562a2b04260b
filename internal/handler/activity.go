package handler

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/ident"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Activity feed limits.
const (
	// DefaultActivityLimit is the number of entries activity.list returns
	// when the request names none.
	DefaultActivityLimit = 50
	// MaxActivityLimit is the most entries one activity.list returns.
	MaxActivityLimit = 100

	maxEntityNameLen = 256
	maxChanges       = 50
	// maxFieldLen bounds an entry's change field. A change's path is at
	// most 1 KiB as sent (collab's bound), and its entry names the path
	// as stored, which a rebase past concurrent list inserts may make a
	// few digits per index longer (at most doc.MaxDepth segments): 2 KiB
	// holds every path the server stores, so no accepted change loses
	// its entry.
	maxFieldLen      = 2 << 10
	maxMetadataBytes = 8 << 10
	maxFilterValues  = 10
	// maxChangeValueBytes bounds the before and after values of one
	// change of an entry, as JSON.
	maxChangeValueBytes = 1 << 10
	// maxActivityEntryBytes bounds an entry as the feed sends it (JSON,
	// HTML-escaped), before the recording user's identity is added; with
	// it an entry stays under 24 KiB, so an activity.list page holds
	// several.
	maxActivityEntryBytes = 16 << 10
)

// ErrBadActivity is wrapped by recordActivity for an entry it refuses.
var ErrBadActivity = errors.New("invalid activity entry")

// activityEntity is an activity entry's entity.
type activityEntity struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// activityLog is an activity entry on the wire (the seed's ActivityLog).
type activityLog struct {
	ID        string                 `json:"id"`
	UserID    string                 `json:"userId"`
	Username  string                 `json:"username"`
	Avatar    string                 `json:"avatar,omitempty"`
	Action    string                 `json:"action"`
	Entity    activityEntity         `json:"entity"`
	Changes   []store.ActivityChange `json:"changes,omitempty"`
	Timestamp string                 `json:"timestamp"`
	Metadata  json.RawMessage        `json:"metadata,omitempty"`
}

func logOf(a store.Activity) activityLog {
	return activityLog{
		ID: a.ID, UserID: a.UserID, Username: a.Username, Avatar: a.Avatar, Action: a.Action,
		Entity:  activityEntity{Type: a.EntityType, ID: a.EntityID, Name: a.EntityName},
		Changes: a.Changes, Timestamp: protocol.Now(a.At), Metadata: a.Metadata,
	}
}

// recordActivity records an activity entry by the user of conn and
// broadcasts it on activity-feed. The activity route calls it for
// explicit frames (viewed, and what admin and system identities record);
// the entries of data changes are written with the change (activityEntry,
// then announceActivity).
//
// It returns the entry as recorded, or activityEntry's error; a broadcast
// failure is logged, not returned.
func (h *Handler) recordActivity(ctx context.Context, conn store.Connection, a store.Activity) (store.Activity, error) {
	a, err := h.activityEntry(conn, a)
	if err != nil {
		return store.Activity{}, err
	}
	if err := h.deps.Store.PutActivity(ctx, a); err != nil {
		return store.Activity{}, fmt.Errorf("record activity of %q: %w", conn.ID, err)
	}
	h.announceActivity(ctx, conn, a)
	return a, nil
}

// activityEntry is a, an entry by the user of conn, as the feed stores
// it. From a, it uses Action, EntityType, EntityID, EntityName, Changes,
// Metadata and, if set, ID and At; it fills in ID when empty, Tenant,
// UserID, Username and Avatar from conn, At from the server's clock when
// zero, and ExpiresAt from the retention. An entry with the ID and At of
// one recorded before replaces it when stored. An entry with an unknown
// action, a missing entity type or id, or fields over their bounds fails
// with an error wrapping ErrBadActivity.
func (h *Handler) activityEntry(conn store.Connection, a store.Activity) (store.Activity, error) {
	if err := checkActivity(a); err != nil {
		return store.Activity{}, fmt.Errorf("record activity of %q: %w: %w", conn.ID, ErrBadActivity, err)
	}
	if a.ID == "" {
		a.ID = newID()
	}
	a.Tenant, a.UserID, a.Username, a.Avatar = conn.Tenant, conn.UserID, conn.Username, conn.Avatar
	if a.At.IsZero() {
		a.At = h.now()
	}
	a.ExpiresAt = a.At.Add(h.cfg.Presence.ActivityRetention)
	return a, nil
}

// announceActivity broadcasts the stored entry a on activity-feed, when
// every identity that may subscribe to the feed may read its entity; a
// failure is logged.
func (h *Handler) announceActivity(ctx context.Context, conn store.Connection, a store.Activity) {
	if !h.cfg.Policy.Covers(protocol.EntityChannel(a.EntityType, a.EntityID), protocol.ChannelActivity) {
		return // kept for activity.list, which shows it to those its entity's rule allows
	}
	frame, err := protocol.Event(protocol.TypeEventActivity, protocol.ChannelActivity, a.UserID, "act-"+a.ID, logOf(a), h.now())
	if err == nil {
		_, err = h.broadcaster(h.endpointOf(conn)).Fanout(ctx, a.Tenant, protocol.ChannelActivity, frame, nil)
	}
	if err != nil {
		h.log.WarnContext(ctx, "broadcast activity", "connectionId", conn.ID, "error", err)
	}
}

// checkActivity validates the client-supplied fields of an entry.
func checkActivity(a store.Activity) error {
	switch a.Action {
	case store.ActionCreated, store.ActionUpdated, store.ActionDeleted, store.ActionViewed:
	default:
		return protocol.NewError(protocol.CodeBadRequest, "action must be created, updated, deleted or viewed")
	}
	switch {
	case ident.Check(ident.Name.Named("entity type"), a.EntityType) != nil:
		return protocol.NewError(protocol.CodeBadRequest, "entity type must be 1..%d characters of [A-Za-z0-9._-]", ident.MaxNameLen)
	case ident.Check(ident.Name.Named("entity id"), a.EntityID) != nil:
		return protocol.NewError(protocol.CodeBadRequest, "entity id must be 1..%d characters of [A-Za-z0-9._-]", ident.MaxNameLen)
	case protocol.ValidateChannel(protocol.EntityChannel(a.EntityType, a.EntityID)) != nil:
		// The entry is shown to those who may subscribe to the entity's
		// channel: one that cannot be a channel would be shown to nobody.
		return protocol.NewError(protocol.CodeBadRequest, "entity type and id together are at most %d bytes", ident.MaxIDLen-1)
	case len(a.EntityName) > maxEntityNameLen:
		return protocol.NewError(protocol.CodeBadRequest, "entity name is at most %d bytes", maxEntityNameLen)
	case len(a.Changes) > maxChanges:
		return protocol.NewError(protocol.CodeBadRequest, "at most %d changes", maxChanges)
	case len(a.Metadata) > maxMetadataBytes:
		return protocol.NewError(protocol.CodeBadRequest, "metadata is at most %d bytes", maxMetadataBytes)
	}
	for _, c := range a.Changes {
		if c.Field == "" || len(c.Field) > maxFieldLen {
			return protocol.NewError(protocol.CodeBadRequest, "a change field must be 1..%d bytes", maxFieldLen)
		}
		if len(c.Before) > maxChangeValueBytes || len(c.After) > maxChangeValueBytes {
			return protocol.NewError(protocol.CodeBadRequest, "a change's before and after are at most %d bytes each", maxChangeValueBytes)
		}
	}
	if m := bytes.TrimSpace(a.Metadata); len(m) > 0 && (m[0] != '{' || !json.Valid(m)) {
		return protocol.NewError(protocol.CodeBadRequest, "metadata must be an object")
	}
	// The entry as the feed sends it, without the recorder's identity.
	a.Username, a.Avatar, a.UserID = "", "", ""
	if n, err := protocol.JSONSize(logOf(a)); err != nil || n > maxActivityEntryBytes {
		return protocol.NewError(protocol.CodeBadRequest, "the entry is at most %d bytes as JSON", maxActivityEntryBytes)
	}
	return nil
}

// reservedActivityMetadata are the metadata keys of the entries the
// server records for accepted changes (collab's changeActivity): the
// change's id, version and operation. An entry that has them was recorded
// by the server; no client writes them, in any case: a consumer that
// decodes metadata into a struct with these fields (encoding/json, which
// matches names regardless of case) would take {"ChangeId": ...} for one.
var reservedActivityMetadata = []string{"changeId", "version", "operation"}

// reservedActivityFolded holds the reserved keys as protocol.FoldName
// folds them.
var reservedActivityFolded = func() map[string]bool {
	m := make(map[string]bool, len(reservedActivityMetadata))
	for _, k := range reservedActivityMetadata {
		m[protocol.FoldName(k)] = true
	}
	return m
}()

// checkClientActivity refuses, in an entry a client writes, what only the
// server records: the reserved metadata keys, and names that fold to one
// of them, on any action, and changes on a view, which changes nothing.
// An admin or system identity that records a data change made elsewhere
// (created, updated, deleted) gives its changes, and names it in metadata
// keys of its own.
func checkClientActivity(a store.Activity) error {
	if a.Action == store.ActionViewed && len(a.Changes) > 0 {
		return protocol.NewError(protocol.CodeBadRequest, "a %q entry has no changes: the server records changes with each accepted change", store.ActionViewed)
	}
	if len(a.Metadata) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.Metadata, &m); err != nil {
		return protocol.NewError(protocol.CodeBadRequest, "metadata must be an object")
	}
	for k := range m {
		if reservedActivityFolded[protocol.FoldName(k)] {
			return protocol.NewError(protocol.CodeBadRequest, "metadata key %q: the keys %s, in any case, are recorded by the server with each accepted change; a client's entry may not set them",
				k, strings.Join(reservedActivityMetadata, ", "))
		}
	}
	return nil
}

// activityPayload is the payload of an activity request. The entity may
// be given as an object or as flat fields.
type activityPayload struct {
	Action     string                 `json:"action"`
	Entity     *activityEntity        `json:"entity"`
	EntityType string                 `json:"entityType"`
	EntityID   string                 `json:"entityId"`
	EntityName string                 `json:"entityName"`
	Changes    []store.ActivityChange `json:"changes"`
	Metadata   json.RawMessage        `json:"metadata"`
}

// activity handles an explicit activity frame. Clients record views
// (action "viewed", the default); other actions come from data changes,
// and only identities that may publish on activity-feed (admin and system
// by default) may record them directly. Either way the caller must be
// allowed to read (subscribe to) the entity's channel, and the entry may
// not carry what the server records with a change (checkClientActivity).
func (p *presenceFeature) activity(ctx context.Context, r *request) (any, error) {
	var pl activityPayload
	if err := protocol.DecodePayload(r.env.Payload, &pl); err != nil {
		return nil, err
	}
	if pl.Action == "" {
		pl.Action = store.ActionViewed
	}
	if pl.Action != store.ActionViewed {
		if err := p.h.authorize(r.conn, auth.Publish, protocol.ChannelActivity); err != nil {
			return nil, protocol.NewError(protocol.CodeForbidden, "clients record only %q; data changes are recorded by the server", store.ActionViewed)
		}
	} else if err := p.h.authorize(r.conn, auth.Presence, protocol.ChannelActivity); err != nil {
		return nil, err
	}
	a := store.Activity{Action: pl.Action, EntityType: pl.EntityType, EntityID: pl.EntityID, EntityName: pl.EntityName,
		Changes: pl.Changes, Metadata: pl.Metadata}
	if pl.Entity != nil {
		a.EntityType, a.EntityID, a.EntityName = pl.Entity.Type, pl.Entity.ID, pl.Entity.Name
	}
	if bytes.Equal(bytes.TrimSpace(a.Metadata), []byte("null")) {
		a.Metadata = nil
	}
	if err := checkActivity(a); err != nil {
		return nil, err
	}
	// The entry is about its entity and shown to those who may read it:
	// only they may write one.
	if err := p.h.authorize(r.conn, auth.Subscribe, protocol.EntityChannel(a.EntityType, a.EntityID)); err != nil {
		return nil, err
	}
	if err := checkClientActivity(a); err != nil {
		return nil, err
	}
	a.At = r.now
	rec, err := p.h.recordActivity(ctx, r.conn, a)
	if err != nil {
		return nil, err
	}
	return map[string]any{"entry": logOf(rec)}, nil
}

// activityList handles activity.list: the latest entries of the tenant's
// feed, newest first, optionally filtered by action and entity type.
func (p *presenceFeature) activityList(ctx context.Context, r *request) (any, error) {
	var pl struct {
		Limit       int      `json:"limit"`
		Cursor      string   `json:"cursor"`
		Actions     []string `json:"actions"`
		EntityTypes []string `json:"entityTypes"`
		EntityIDs   []string `json:"entityIds"`
	}
	if err := protocol.DecodePayload(r.env.Payload, &pl); err != nil {
		return nil, err
	}
	if pl.Limit < 0 || pl.Limit > MaxActivityLimit {
		return nil, protocol.NewError(protocol.CodeBadRequest, "limit must be 0..%d", MaxActivityLimit)
	}
	if pl.Limit == 0 {
		pl.Limit = DefaultActivityLimit
	}
	if len(pl.Actions) > maxFilterValues || len(pl.EntityTypes) > maxFilterValues || len(pl.EntityIDs) > maxFilterValues {
		return nil, protocol.NewError(protocol.CodeBadRequest, "at most %d values per filter", maxFilterValues)
	}
	for _, a := range pl.Actions {
		if !slices.Contains([]string{store.ActionCreated, store.ActionUpdated, store.ActionDeleted, store.ActionViewed}, a) {
			return nil, protocol.NewError(protocol.CodeBadRequest, "action must be created, updated, deleted or viewed")
		}
	}
	for _, typ := range pl.EntityTypes {
		if ident.Check(ident.Name, typ) != nil {
			return nil, protocol.NewError(protocol.CodeBadRequest, "entity type must be 1..%d characters of [A-Za-z0-9._-]", ident.MaxNameLen)
		}
	}
	for _, id := range pl.EntityIDs {
		if ident.Check(ident.Name, id) != nil {
			return nil, protocol.NewError(protocol.CodeBadRequest, "entity id must be 1..%d characters of [A-Za-z0-9._-]", ident.MaxNameLen)
		}
	}
	if err := p.h.authorize(r.conn, auth.Subscribe, protocol.ChannelActivity); err != nil {
		return nil, err
	}
	entries, next, err := p.h.deps.Store.ListActivity(ctx, r.conn.Tenant,
		store.ActivityFilter{Actions: pl.Actions, EntityTypes: pl.EntityTypes, EntityIDs: pl.EntityIDs}, store.Page{Cursor: pl.Cursor, Limit: pl.Limit})
	if errors.Is(err, store.ErrInvalidCursor) {
		return nil, protocol.NewError(protocol.CodeBadRequest, "invalid cursor")
	}
	if err != nil {
		return nil, err
	}
	// Entries about an entity the caller may not subscribe to (a Kinds
	// rule narrower than the feed's) are left out, as its sync is refused.
	id := identity(r.conn)
	entries = slices.DeleteFunc(entries, func(a store.Activity) bool {
		return !p.h.cfg.Policy.Allows(id, auth.Subscribe, protocol.EntityChannel(a.EntityType, a.EntityID))
	})
	out := make([]activityLog, len(entries))
	for i, a := range entries {
		out[i] = boundedLog(a)
	}
	n, err := protocol.FitSome(out, len(`{"entries":,"next":"","nextCursor":""}`)+protocol.CursorSlack)
	if err != nil {
		return nil, err
	}
	if n < len(out) {
		// The rest does not fit in the reply: continue after the last one.
		out, next = out[:n], store.ActivityCursor(entries[n-1])
	}
	reply := map[string]any{"entries": out}
	if next != "" {
		reply["next"], reply["nextCursor"] = next, next
	}
	return reply, nil
}

// maxListedEntryBytes is the largest entry activity.list sends whole:
// the entry bound plus the largest identity. Entries recorded before the
// bound existed may be larger; they are listed without their changes and
// metadata, so that one entry never fills a reply.
const maxListedEntryBytes = maxActivityEntryBytes + 8<<10

// boundedLog is the wire form of a listed entry, within maxListedEntryBytes.
func boundedLog(a store.Activity) activityLog {
	l := logOf(a)
	if n, err := protocol.JSONSize(l); err != nil || n > maxListedEntryBytes {
		l.Changes, l.Metadata = nil, nil
	}
	return l
}

// newID returns a random identifier of 24 hex digits.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
