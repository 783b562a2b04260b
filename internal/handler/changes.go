package handler

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Limits of editing requests.
const (
	// maxEditMetadataBytes bounds a change's metadata object, as JSON.
	maxEditMetadataBytes = 4 << 10
	// maxPageLimit is the most changes or comments per page, and the
	// default.
	maxPageLimit = 100
	// maxActivityValueBytes bounds the before and after values copied
	// into an activity entry.
	maxActivityValueBytes = 1 << 10
	// maxHeadBytes bounds a head's document and strategy state together,
	// well below DynamoDB's 400 KB item limit. The crdt state keeps a
	// tombstone per deleted field, so it can outgrow the document.
	maxHeadBytes = 300 << 10
)

// changePayload is the payload of a change request. The operation's own
// fields follow internal/doc: after is the value of insert and update,
// from and to the indexes of move, delta the amount of increment, text
// the edit of text.
type changePayload struct {
	entityRef
	BaseVersion  *int64              `json:"baseVersion"`
	Operation    doc.Kind            `json:"operation"`
	Path         string              `json:"path"`
	Before       json.RawMessage     `json:"before"` // informative; the server records the value it replaced
	After        json.RawMessage     `json:"after"`
	From         *int                `json:"from"`
	To           *int                `json:"to"`
	Delta        json.Number         `json:"delta"`
	Text         []doc.TextComponent `json:"text"`
	Metadata     json.RawMessage     `json:"metadata"`
	FencingToken int64               `json:"fencingToken"` // lock-based entities
	HLC          *hlcJSON            `json:"hlc"`          // crdt entities: the client's clock; optional
}

// hlcJSON is a client's hybrid logical clock stamp; the node is always
// the sender's user id.
type hlcJSON struct {
	WallMs  int64  `json:"wallMs"`
	Counter uint32 `json:"counter"`
}

// opOf builds the document operation of a change request.
func opOf(p changePayload) (doc.Op, error) {
	op := doc.Op{Kind: p.Operation, Path: p.Path}
	missing := func(field string) (doc.Op, error) {
		return doc.Op{}, protocol.NewError(protocol.CodeBadRequest, "operation %q needs field %q", p.Operation, field)
	}
	switch p.Operation {
	case doc.Insert, doc.Update:
		if len(p.After) == 0 {
			return missing("after")
		}
		var v any
		if err := decodeJSON(p.After, &v); err != nil {
			return doc.Op{}, protocol.NewError(protocol.CodeBadRequest, "field %q is not JSON", "after")
		}
		op.Value = v
	case doc.Delete:
	case doc.Move:
		if p.From == nil || p.To == nil {
			return missing("from and to")
		}
		op.From, op.To = *p.From, *p.To
	case doc.Increment:
		if p.Delta == "" {
			return missing("delta")
		}
		op.Delta = p.Delta
	case doc.Text:
		if p.Text == nil {
			return missing("text")
		}
		op.Text = p.Text
	default:
		return doc.Op{}, protocol.NewError(protocol.CodeBadRequest, "operation must be insert, update, delete, move, increment or text")
	}
	if _, err := op.Validate(); err != nil {
		return doc.Op{}, err // doc.ErrBadOp or ErrBadPath: clientError gives BAD_REQUEST with a fixed message
	}
	if len(op.Path) > maxChangePathBytes {
		return doc.Op{}, protocol.NewError(protocol.CodeBadRequest, "path is at most %d bytes", maxChangePathBytes)
	}
	if op.Kind == doc.Insert || op.Kind == doc.Update {
		if err := checkValue("after", op.Value); err != nil {
			return doc.Op{}, err
		}
	}
	return op, nil
}

// checkMetadata accepts an absent metadata field or a JSON object.
func checkMetadata(m json.RawMessage) (json.RawMessage, error) {
	m = bytes.TrimSpace(m)
	if len(m) == 0 || bytes.Equal(m, []byte("null")) {
		return nil, nil
	}
	bad := protocol.NewError(protocol.CodeBadRequest, "metadata must be an object of at most %d bytes", maxEditMetadataBytes)
	if len(m) > maxEditMetadataBytes || m[0] != '{' || !json.Valid(m) {
		return nil, bad
	}
	// Measured as echoed: the reply encoder escapes <, > and &.
	if n, err := jsonSize(m); err != nil || n > maxEditMetadataBytes {
		return nil, bad
	}
	return m, nil
}

// loaded is an entity as read for one decision.
type loaded struct {
	in      editing.Input
	records map[int64]changeRecord // the changes in in.Since, by version
}

// load reads what a decision on e needs: the document, the strategy
// state, the lock and, when since is set, the changes after base.
func (f *editingFeature) load(ctx context.Context, e store.EntityKey, st store.EntityState, base int64, since bool) (loaded, error) {
	head := st.Head
	in := editing.Input{
		Strategy: f.table.For(e.Type), Version: head.Version, Base: base,
		Now: f.h.now(), MaxSkew: f.cfg.MaxClockSkew, Doc: map[string]any{},
	}
	if len(head.Doc) > 0 {
		d, err := doc.Decode(head.Doc)
		if err != nil {
			return loaded{}, fmt.Errorf("load %q: %w", e, err)
		}
		in.Doc = d
	}
	if len(head.State) > 0 {
		var s editing.State
		if err := decodeJSON(head.State, &s); err != nil {
			return loaded{}, fmt.Errorf("load %q: state: %w", e, err)
		}
		in.State = &s
	}
	if st.Lock != nil {
		in.Lock = &editing.Lock{Holder: st.Lock.Holder, Token: st.Lock.Token}
	}
	l := loaded{in: in}
	if since && base < head.Version && base >= head.Version-int64(f.cfg.HistoryLimit) {
		recs, err := f.changesBetween(ctx, e, base, head.Version)
		if err != nil {
			return loaded{}, err
		}
		l.records = map[int64]changeRecord{}
		for _, rec := range recs {
			l.in.Since = append(l.in.Since, editing.Applied{Version: rec.Change.Version, UserID: rec.Change.UserID, Op: rec.Change.Op})
			l.records[rec.Change.Version] = rec
		}
	}
	return l, nil
}

// changesBetween reads the changes after version from, up to and
// including to, oldest first.
func (f *editingFeature) changesBetween(ctx context.Context, e store.EntityKey, from, to int64) ([]changeRecord, error) {
	if to <= from {
		return nil, nil
	}
	chs, err := f.h.deps.Store.ListChanges(ctx, e, store.ChangeQuery{After: from, Before: to + 1, Limit: int(to - from)})
	if err != nil {
		return nil, err
	}
	out := make([]changeRecord, 0, len(chs))
	for _, c := range chs {
		rec, err := decodeChange(c)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// plan is one prepared write and what follows it.
type plan struct {
	commit store.Commit
	reply  changeAck
	after  func(ctx context.Context) // announcements, once the write succeeded
}

// commitLoop runs read-decide-write rounds until a write succeeds, then
// announces what was written. Each round reads the entity and the
// caller's idempotency record for this messageId: a recorded reply is
// answered again without a second write. The reply is recorded in the
// same write as the change, so a resend (after a reconnect too) gets the
// original reply. The rounds run in the entity's write queue; the
// announcements after it.
func (f *editingFeature) commitLoop(ctx context.Context, r *request, e store.EntityKey, decide func(ctx context.Context, st store.EntityState) (*plan, error)) (any, error) {
	p, reply, err := f.commit(ctx, r, e, decide)
	if err != nil {
		return nil, err
	}
	if p != nil && p.after != nil {
		p.after(ctx)
	}
	return reply, nil
}

// commit runs the rounds of commitLoop in e's write queue. It returns the
// plan that was written (nil for a recorded reply) and the reply.
func (f *editingFeature) commit(ctx context.Context, r *request, e store.EntityKey, decide func(ctx context.Context, st store.EntityState) (*plan, error)) (*plan, json.RawMessage, error) {
	leave, err := f.enqueue(ctx, e)
	if err != nil {
		return nil, nil, err
	}
	defer leave()
	st := f.h.deps.Store
	for attempt := range f.cfg.CommitAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, nil, err
			}
		}
		es, err := st.LoadEntity(ctx, e, r.conn.UserID, r.env.MessageID)
		if err != nil {
			return nil, nil, err
		}
		if es.Idempotency != nil {
			reply, err := recordedReply(*es.Idempotency, r)
			return nil, reply, err
		}
		p, err := decide(ctx, es)
		if err != nil {
			return nil, nil, err
		}
		reply, err := json.Marshal(p.reply)
		if err != nil {
			return nil, nil, fmt.Errorf("encode reply for %q: %w", e, err)
		}
		if len(reply) > replyBudget {
			// Refused before anything is written: its reply could not be sent.
			return nil, nil, protocol.NewError(protocol.CodeBadRequest, "the reply to this request would exceed %d bytes", protocol.MaxFrameBytes)
		}
		p.commit.Entity = e
		p.commit.Idempotency = &store.Idempotency{
			Tenant: e.Tenant, UserID: r.conn.UserID, MessageID: r.env.MessageID, RequestHash: protocol.RequestHash(r.env),
			Reply: reply, ExpiresAt: r.now.Add(f.cfg.IdempotencyTTL),
		}
		err = st.Commit(ctx, p.commit)
		if errors.Is(err, store.ErrConditionFailed) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return p, reply, nil
	}
	return nil, nil, contended(e, f.cfg.CommitAttempts)
}

// recordedReply is the answer to a request whose messageId has a live
// idempotency record: the recorded reply when the record was written for
// the same request (its RequestHash), IDEMPOTENCY_MISMATCH otherwise, so
// that a reused messageId never receives another request's reply. A
// record without a hash (written before hashes were kept) cannot show
// that it answers this request and is treated as a mismatch.
func recordedReply(i store.Idempotency, r *request) (json.RawMessage, error) {
	if i.RequestHash == "" || i.RequestHash != protocol.RequestHash(r.env) {
		return nil, protocol.NewError(protocol.CodeIdempotencyMismatch,
			"this messageId was already used for a different request; use a new messageId")
	}
	return json.RawMessage(i.Reply), nil
}

// changeExtra is what a change record carries besides the decision.
type changeExtra struct {
	metadata   json.RawMessage
	undoOf     string
	conflictID string
}

// versionDetails are the details of a VERSION_CONFLICT or lock error.
func versionDetails(st store.EntityState) map[string]any {
	d := map[string]any{"version": st.Head.Version}
	if st.Lock != nil {
		d["lock"] = lockOf(*st.Lock)
	}
	return d
}

// planOutcome turns a decision into a write and its reply.
func (f *editingFeature) planOutcome(r *request, e store.EntityKey, st store.EntityState, l loaded, out editing.Outcome, x changeExtra) (*plan, error) {
	head := st.Head
	now := r.now
	p := &plan{
		commit: store.Commit{BaseVersion: head.Version},
		reply: changeAck{EntityType: e.Type, EntityID: e.ID, Outcome: out.Kind, Applied: out.Kind.NewVersion(),
			Version: head.Version, Notices: out.Notices},
	}
	if l.in.Strategy == editing.LockBased && l.in.Lock != nil {
		p.commit.Fence = &store.Fence{Holder: l.in.Lock.Holder, Token: l.in.Lock.Token}
	}
	var state []byte
	if out.State != nil {
		b, err := json.Marshal(out.State)
		if err != nil {
			return nil, fmt.Errorf("encode state of %q: %w", e, err)
		}
		state = b
	}
	switch {
	case out.Kind.NewVersion():
		body, err := json.Marshal(out.Doc)
		if err != nil {
			return nil, fmt.Errorf("encode document of %q: %w", e, err)
		}
		if len(body) > f.cfg.MaxDocumentBytes {
			return nil, protocol.NewError(protocol.CodeBadRequest, "the document would exceed %d bytes", f.cfg.MaxDocumentBytes)
		}
		if len(body)+len(state) > maxHeadBytes {
			return nil, protocol.NewError(protocol.CodeBadRequest, "the entity's merge state would exceed %d bytes", maxHeadBytes)
		}
		if out.Op.Kind == doc.Text && x.undoOf == "" {
			if err := checkValue("the text after the edit", out.After); err != nil {
				return nil, err
			}
		}
		v := head.Version + 1
		ch := changeJSON{
			ID: changeID(e, v), EntityType: e.Type, EntityID: e.ID, UserID: r.conn.UserID, Username: r.conn.Username,
			Operation: out.Op.Kind, Path: out.Op.Path, Before: out.Before, After: out.After, Op: out.Op,
			Timestamp: protocol.Now(now), Resolved: true, Version: v, BaseVersion: l.in.Base, Metadata: x.metadata,
			MessageID: r.env.MessageID, Strategy: string(l.in.Strategy), Outcome: string(out.Kind), Notices: out.Notices,
			UndoOf: x.undoOf, ConflictID: x.conflictID,
		}
		var overwritten []overwritten
		var losers []string
		for _, o := range out.Overwrote {
			ch.Supersedes = append(ch.Supersedes, o.Version)
			overwritten = append(overwritten, overwrittenOf(o))
			if o.UserID != r.conn.UserID {
				losers = append(losers, o.UserID)
			}
		}
		if err := checkChangeSize(ch); err != nil {
			return nil, err
		}
		overwritten = boundOverwritten(overwritten)
		data, err := json.Marshal(changeRecord{Change: ch, Inverse: out.Inverse})
		if err != nil {
			return nil, fmt.Errorf("encode change of %q: %w", e, err)
		}
		p.commit.Head = &store.Head{Version: v, Doc: body, State: state, UpdatedAt: now, UpdatedBy: r.conn.UserID}
		p.commit.Change = &store.Change{Version: v, Data: data}
		if v > int64(f.cfg.HistoryLimit) {
			p.commit.Trim = v - int64(f.cfg.HistoryLimit)
		}
		p.reply.Version, p.reply.Change, p.reply.Overwrote = v, &ch, overwritten
		p.after = func(ctx context.Context) {
			f.announce(ctx, r.bc, e.Tenant, protocol.TypeEventChange, r.conn.UserID, "chg-"+ch.ID, ch, channelOf(e))
			if len(losers) > 0 {
				f.tellOverwritten(ctx, r, e, l, out.Overwrote, ch)
			}
			f.recordChange(ctx, r, e, ch)
		}
	case out.Kind == editing.KindUnchanged:
		if len(head.Doc)+len(state) > maxHeadBytes {
			return nil, protocol.NewError(protocol.CodeBadRequest, "the entity's merge state would exceed %d bytes", maxHeadBytes)
		}
		p.commit.Head = &store.Head{Version: head.Version, Doc: head.Doc, State: state, UpdatedAt: head.UpdatedAt, UpdatedBy: head.UpdatedBy}
	case out.Kind == editing.KindConflict:
		cj, cf, err := f.newConflict(r, e, l, out, x)
		if err != nil {
			return nil, err
		}
		p.commit.Conflict = cf
		p.commit.Fence = nil
		p.reply.Conflict = cj
		p.after = func(ctx context.Context) {
			f.notifyUsers(ctx, r.bc, e.Tenant, []string{cj.LocalChange.UserID, cj.RemoteChange.UserID},
				protocol.TypeEventConflict, channelOf(e), r.conn.UserID, "cfl-"+cj.ID, cj)
		}
	default: // dropped or superseded: only the reply is recorded
		p.commit.Fence = nil
	}
	return p, nil
}

func overwrittenOf(a editing.Applied) overwritten {
	return overwritten{Version: a.Version, UserID: a.UserID, Path: a.Op.Path}
}

// tellOverwritten sends each writer whose concurrent change a
// last-write-wins write replaced a conflict event, already resolved in
// favour of the later write.
func (f *editingFeature) tellOverwritten(ctx context.Context, r *request, e store.EntityKey, l loaded, overwrote []editing.Applied, winner changeJSON) {
	for _, o := range overwrote {
		if o.UserID == r.conn.UserID {
			continue
		}
		rec, ok := l.records[o.Version]
		if !ok {
			continue
		}
		cj := conflictJSON{
			ID: "superseded-" + rec.Change.ID, EntityType: e.Type, EntityID: e.ID, Path: rec.Change.Path,
			LocalChange: rec.Change, RemoteChange: winner, ResolutionStrategy: string(l.in.Strategy),
			Resolved: true, Resolution: string(editing.ResolveRemote), CreatedAt: winner.Timestamp,
			ResolvedBy: winner.UserID, ResolvedAt: winner.Timestamp, ResolvedVersion: winner.Version,
		}
		f.notifyUsers(ctx, r.bc, e.Tenant, []string{o.UserID}, protocol.TypeEventConflict, channelOf(e),
			r.conn.UserID, "cfl-"+cj.ID, cj)
	}
}

// newConflict builds the stored conflict of a manual-strategy outcome.
func (f *editingFeature) newConflict(r *request, e store.EntityKey, l loaded, out editing.Outcome, x changeExtra) (*conflictJSON, *store.Conflict, error) {
	remote, ok := l.records[out.Remote.Version]
	if !ok {
		return nil, nil, fmt.Errorf("conflict on %q: version %d not loaded", e, out.Remote.Version)
	}
	now := r.now
	id := fmt.Sprintf("%013d-%s", now.UnixMilli(), randomHex(6))
	before, _ := doc.Get(l.in.Doc, l.in.Op.Path)
	var after any
	if !out.IntendedDelete {
		after = out.Intended
	}
	local := changeJSON{
		ID: "pending-" + r.env.MessageID, EntityType: e.Type, EntityID: e.ID, UserID: r.conn.UserID, Username: r.conn.Username,
		Operation: l.in.Op.Kind, Path: l.in.Op.Path, Before: doc.Clone(before), After: after, Op: l.in.Op,
		Timestamp: protocol.Now(now), Resolved: false, BaseVersion: l.in.Base, Metadata: x.metadata,
		MessageID: r.env.MessageID, Strategy: string(l.in.Strategy), Outcome: string(editing.KindConflict),
	}
	cj := &conflictJSON{
		ID: id, EntityType: e.Type, EntityID: e.ID, Path: l.in.Op.Path, LocalChange: local, RemoteChange: remote.Change,
		ResolutionStrategy: string(editing.Manual), CreatedAt: protocol.Now(now),
	}
	if n, err := jsonSize(cj); err != nil || n > maxConflictBytes {
		// Too large to record and echo: the writer syncs and tries again,
		// as when a strategy cannot merge.
		return nil, nil, protocol.NewError(protocol.CodeVersionConflict,
			"the conflicting changes are too large to record as a conflict (%d bytes at most); sync and try again", maxConflictBytes).
			WithDetails(map[string]any{"version": l.in.Version})
	}
	data, err := json.Marshal(conflictRecord{Conflict: *cj, Intended: out.Intended, IntendedDelete: out.IntendedDelete})
	if err != nil {
		return nil, nil, fmt.Errorf("encode conflict on %q: %w", e, err)
	}
	return cj, &store.Conflict{ID: id, CreatedAt: now, Data: data}, nil
}

// recordChange adds an accepted change to the activity feed.
func (f *editingFeature) recordChange(ctx context.Context, r *request, e store.EntityKey, ch changeJSON) {
	action := store.ActionUpdated
	if ch.Version == 1 {
		action = store.ActionCreated
	}
	field := store.ActivityChange{Field: ch.Path}
	if b, err := json.Marshal(ch.Before); err == nil && len(b) <= maxActivityValueBytes {
		field.Before = b
	}
	if b, err := json.Marshal(ch.After); err == nil && len(b) <= maxActivityValueBytes {
		field.After = b
	}
	var meta struct {
		EntityName string `json:"entityName"`
	}
	_ = json.Unmarshal(ch.Metadata, &meta)
	if len(meta.EntityName) > 256 {
		meta.EntityName = ""
	}
	md, _ := json.Marshal(map[string]any{"changeId": ch.ID, "version": ch.Version, "operation": ch.Operation})
	_, err := f.h.recordActivity(ctx, r.conn, store.Activity{
		Action: action, EntityType: e.Type, EntityID: e.ID, EntityName: meta.EntityName,
		Changes: []store.ActivityChange{field}, Metadata: md,
	})
	if err != nil {
		f.h.log.WarnContext(ctx, "record change activity", "changeId", ch.ID, "error", err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// change applies a change request under the entity's strategy.
func (f *editingFeature) change(ctx context.Context, r *request) (any, error) {
	var p changePayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	e, err := f.entity(r, p.entityRef, true)
	if err != nil {
		return nil, err
	}
	if p.BaseVersion == nil {
		return nil, protocol.NewError(protocol.CodeBadRequest, "missing field %q (0 for an entity never changed)", "baseVersion")
	}
	op, err := opOf(p)
	if err != nil {
		return nil, err
	}
	meta, err := checkMetadata(p.Metadata)
	if err != nil {
		return nil, err
	}
	var stamp *crdt.HLC
	if p.HLC != nil {
		stamp = &crdt.HLC{WallMs: p.HLC.WallMs, Counter: p.HLC.Counter}
	}
	strategy := f.table.For(e.Type)
	return f.commitLoop(ctx, r, e, func(ctx context.Context, st store.EntityState) (*plan, error) {
		l, err := f.load(ctx, e, st, *p.BaseVersion, strategy != editing.CRDT)
		if err != nil {
			return nil, err
		}
		l.in.Op, l.in.UserID, l.in.Stamp, l.in.Token = op, r.conn.UserID, stamp, p.FencingToken
		out, err := editing.Decide(l.in)
		if err != nil {
			return nil, withDetails(err, versionDetails(st))
		}
		return f.planOutcome(r, e, st, l, out, changeExtra{metadata: meta})
	})
}

// syncPayload is the payload of a sync request.
type syncPayload struct {
	entityRef
	SinceVersion int64 `json:"sinceVersion"`
	Limit        int   `json:"limit"`
	// ConflictsCursor continues the unresolved conflicts after an earlier
	// reply's conflictsNextCursor; "" starts with the first.
	ConflictsCursor string `json:"conflictsCursor"`
}

// syncReply is the reply to sync.
type syncReply struct {
	EntityType       string         `json:"entityType"`
	EntityID         string         `json:"entityId"`
	Strategy         string         `json:"strategy"`
	Version          int64          `json:"version"`
	Snapshot         bool           `json:"snapshot"`
	Document         map[string]any `json:"document,omitempty"`
	Changes          []changeJSON   `json:"changes"`
	HasMore          bool           `json:"hasMore"`
	NextSinceVersion int64          `json:"nextSinceVersion"`
	Conflicts        []conflictJSON `json:"conflicts"`
	// ConflictsNextCursor, when set, continues the unresolved conflicts:
	// send sync again with it as conflictsCursor (and the version the
	// client has as sinceVersion). The conflicts of one reply are limited
	// by count and by the bytes the document and changes left.
	ConflictsNextCursor string    `json:"conflictsNextCursor,omitempty"`
	Lock                *lockJSON `json:"lock"`
	HistoryLimit        int       `json:"historyLimit"`
}

// pageLimit returns a request's page size: maxPageLimit for 0 (the
// default), n for 1..maxPageLimit; anything else is refused.
func pageLimit(n int) (int, error) {
	switch {
	case n < 0 || n > maxPageLimit:
		return 0, protocol.NewError(protocol.CodeBadRequest, "limit must be 0..%d", maxPageLimit)
	case n == 0:
		return maxPageLimit, nil
	}
	return n, nil
}

// sync answers with the changes after sinceVersion, oldest first and
// paginated, or with the whole document when sinceVersion is 0, older than
// the history kept or ahead of the entity; and with the unresolved
// conflicts and the lock.
func (f *editingFeature) sync(ctx context.Context, r *request) (any, error) {
	var p syncPayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	e, err := f.entity(r, p.entityRef, false)
	if err != nil {
		return nil, err
	}
	if p.SinceVersion < 0 {
		return nil, protocol.NewError(protocol.CodeBadRequest, "sinceVersion must not be negative")
	}
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	st := f.h.deps.Store
	es, err := st.LoadEntity(ctx, e, "", "")
	if err != nil {
		return nil, err
	}
	reply := syncReply{EntityType: e.Type, EntityID: e.ID, Strategy: string(f.table.For(e.Type)),
		Changes: []changeJSON{}, Conflicts: []conflictJSON{}, HistoryLimit: f.cfg.HistoryLimit}
	if es.Lock != nil {
		reply.Lock = lockOf(*es.Lock)
	}
	head := es.Head
	since := p.SinceVersion
	delta := since > 0 && since <= head.Version && since >= head.Version-int64(f.cfg.HistoryLimit)
	if delta {
		to := min(since+int64(limit), head.Version) // since <= head.Version: no overflow
		recs, err := f.changesBetween(ctx, e, since, to)
		if err != nil {
			return nil, err
		}
		changes := []changeJSON{} // [] rather than null when up to date
		for i, rec := range recs {
			if rec.Change.Version != since+int64(i)+1 {
				delta = false // trimmed meanwhile: answer with the document
				break
			}
			changes = append(changes, rec.Change)
		}
		if len(recs) < int(to-since) {
			delta = false
		}
		if delta {
			used, err := jsonSize(reply) // with no changes yet
			if err != nil {
				return nil, err
			}
			n, err := fitSome(changes, used-len(`[]`)+syncSlack)
			if err != nil {
				return nil, err
			}
			reply.Changes = changes[:n]
		}
	}
	if delta {
		reply.Version = head.Version
		reply.NextSinceVersion = since + int64(len(reply.Changes))
		reply.HasMore = reply.NextSinceVersion < head.Version
	} else {
		h, err := st.GetHead(ctx, e)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		reply.Snapshot, reply.Changes, reply.Version = true, []changeJSON{}, h.Version
		reply.Document = map[string]any{}
		if len(h.Doc) > 0 {
			if reply.Document, err = doc.Decode(h.Doc); err != nil {
				return nil, fmt.Errorf("sync %q: %w", e, err)
			}
		}
		reply.NextSinceVersion = h.Version
	}
	if err := f.syncConflicts(ctx, e, p.ConflictsCursor, &reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// syncSlack is what a sync reply reserves for the members filled in after
// its lists are cut (versions, cursors).
const syncSlack = 64 + cursorSlack

// syncConflicts adds one page of e's unresolved conflicts, from cursor, to
// reply: at most 50, and as many as fit in the bytes the rest of the reply
// left. When the first does not fit (a large document), the page is empty
// and conflictsNextCursor starts where this one did.
func (f *editingFeature) syncConflicts(ctx context.Context, e store.EntityKey, cursor string, reply *syncReply) error {
	conflicts, next, err := f.h.deps.Store.ListConflicts(ctx, e, true, store.Page{Cursor: cursor, Limit: 50})
	if errors.Is(err, store.ErrInvalidCursor) {
		return protocol.NewError(protocol.CodeBadRequest, "invalid conflictsCursor")
	}
	if err != nil {
		return err
	}
	cs := make([]conflictJSON, 0, len(conflicts))
	for _, c := range conflicts {
		rec, err := decodeConflict(c)
		if err != nil {
			return err
		}
		cs = append(cs, rec.Conflict)
	}
	reply.Conflicts = []conflictJSON{}
	used, err := jsonSize(reply)
	if err != nil {
		return err
	}
	n, err := fitPage(cs, used-len(`[]`)+syncSlack)
	if err != nil {
		return err
	}
	if n == 0 && len(cs) > 0 && !reply.Snapshot && len(reply.Changes) == 0 {
		// Nothing else in the reply, and still no room: a cursor would
		// send the client back here forever.
		return errItemTooLarge
	}
	if n < len(cs) {
		switch {
		case n > 0:
			next = store.ConflictCursor(cs[n-1].ID)
		case cursor != "":
			next = cursor
		default:
			next = store.ConflictCursor("")
		}
	}
	reply.Conflicts, reply.ConflictsNextCursor = cs[:n], next
	return nil
}

// historyPayload is the payload of a history request.
type historyPayload struct {
	entityRef
	Before int64 `json:"before"` // list versions below this one; 0 for the newest
	Limit  int   `json:"limit"`
}

// history lists the changes kept, newest first, one page at a time.
func (f *editingFeature) history(ctx context.Context, r *request) (any, error) {
	var p historyPayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	e, err := f.entity(r, p.entityRef, false)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	if p.Before < 0 {
		return nil, protocol.NewError(protocol.CodeBadRequest, "before must not be negative (0 for the newest)")
	}
	st := f.h.deps.Store
	head, err := st.GetHead(ctx, e)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	before := p.Before
	if before <= 0 || before > head.Version+1 {
		before = head.Version + 1
	}
	oldest := max(0, head.Version-int64(f.cfg.HistoryLimit)) // versions above it are kept
	chs, err := st.ListChanges(ctx, e, store.ChangeQuery{After: oldest, Before: before, Desc: true, Limit: limit})
	if err != nil {
		return nil, err
	}
	changes := []changeJSON{}
	for _, c := range chs {
		rec, err := decodeChange(c)
		if err != nil {
			return nil, err
		}
		changes = append(changes, rec.Change)
	}
	n, err := fitSome(changes, len(`{"entityType":"","entityId":"","version":,"changes":,"hasMore":false,"historyLimit":,"nextBefore":}`)+
		len(e.Type)+len(e.ID)+3*20)
	if err != nil {
		return nil, err
	}
	changes = changes[:n]
	reply := map[string]any{"entityType": e.Type, "entityId": e.ID, "version": head.Version, "changes": changes,
		"hasMore": false, "historyLimit": f.cfg.HistoryLimit}
	if n := len(changes); n > 0 && changes[n-1].Version > oldest+1 {
		reply["hasMore"], reply["nextBefore"] = true, changes[n-1].Version
	}
	return reply, nil
}

// undoPayload is the payload of an undo request: the change to undo, by
// id, or by entity and version.
type undoPayload struct {
	entityRef
	ChangeID     string          `json:"changeId"`
	Version      int64           `json:"version"`
	FencingToken int64           `json:"fencingToken"`
	Metadata     json.RawMessage `json:"metadata"`
}

// undo applies the inverse of an earlier change as a new version. A later
// change to the same path that the strategy cannot transform the undo past
// makes it UNDO_CONFLICT.
func (f *editingFeature) undo(ctx context.Context, r *request) (any, error) {
	var p undoPayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	ref, v := p.entityRef, p.Version
	if p.ChangeID != "" {
		cref, cv, ok := parseChangeID(p.ChangeID)
		if !ok || (ref.EntityType != "" && ref != cref) {
			return nil, protocol.NewError(protocol.CodeBadRequest, "changeId %q is not a change of this entity", p.ChangeID)
		}
		ref, v = cref, cv
	}
	if v <= 0 {
		return nil, protocol.NewError(protocol.CodeBadRequest, "missing field %q", "changeId")
	}
	e, err := f.entity(r, ref, true)
	if err != nil {
		return nil, err
	}
	meta, err := checkMetadata(p.Metadata)
	if err != nil {
		return nil, err
	}
	notFound := protocol.NewError(protocol.CodeNotFound, "change %s is not in the history kept", changeID(e, v))
	return f.commitLoop(ctx, r, e, func(ctx context.Context, st store.EntityState) (*plan, error) {
		head := st.Head
		if v > head.Version || v <= head.Version-int64(f.cfg.HistoryLimit) {
			return nil, notFound
		}
		recs, err := f.changesBetween(ctx, e, v-1, head.Version)
		if err != nil {
			return nil, err
		}
		if len(recs) != int(head.Version-v+1) || recs[0].Change.Version != v {
			return nil, notFound
		}
		target := recs[0]
		later := make([]editing.Applied, 0, len(recs)-1)
		for _, rec := range recs[1:] {
			later = append(later, editing.Applied{Version: rec.Change.Version, UserID: rec.Change.UserID, Op: rec.Change.Op})
		}
		op, notices, err := editing.UndoOp(target.Inverse, later)
		if err != nil {
			return nil, withDetails(err, versionDetails(st))
		}
		l, err := f.load(ctx, e, st, head.Version, false)
		if err != nil {
			return nil, err
		}
		l.in.Op, l.in.UserID, l.in.Token = op, r.conn.UserID, p.FencingToken
		out, err := editing.Decide(l.in)
		if errors.Is(err, editing.ErrInvalid) || errors.Is(err, editing.ErrStale) {
			err = fmt.Errorf("undo %s: %w: %w", target.Change.ID, editing.ErrUndoConflict, err)
		}
		if err != nil {
			return nil, withDetails(err, versionDetails(st))
		}
		out.Notices = append(notices, out.Notices...)
		return f.planOutcome(r, e, st, l, out, changeExtra{metadata: meta, undoOf: target.Change.ID})
	})
}

// resolvePayload is the payload of conflict.resolve.
type resolvePayload struct {
	entityRef
	ConflictID   string          `json:"conflictId"`
	Resolution   string          `json:"resolution"`
	MergedValue  json.RawMessage `json:"mergedValue"`
	FencingToken int64           `json:"fencingToken"`
}

// resolveConflict settles a manual conflict as local, remote or merged;
// the settled value becomes the next version.
func (f *editingFeature) resolveConflict(ctx context.Context, r *request) (any, error) {
	var p resolvePayload
	if err := decodePayload(r, &p); err != nil {
		return nil, err
	}
	e, err := f.entity(r, p.entityRef, true)
	if err != nil {
		return nil, err
	}
	if editing.ValidateName("conflictId", p.ConflictID) != nil {
		return nil, badName("conflictId")
	}
	res := editing.Resolution(p.Resolution)
	if !res.Valid() {
		return nil, protocol.NewError(protocol.CodeBadRequest, "resolution must be local, remote or merged")
	}
	var merged any
	if res == editing.ResolveMerged {
		if len(bytes.TrimSpace(p.MergedValue)) == 0 {
			return nil, protocol.NewError(protocol.CodeBadRequest, "resolution %q needs field %q", res, "mergedValue")
		}
		if err := decodeJSON(p.MergedValue, &merged); err != nil {
			return nil, protocol.NewError(protocol.CodeBadRequest, "field %q is not JSON", "mergedValue")
		}
		if err := checkValue("mergedValue", json.RawMessage(bytes.TrimSpace(p.MergedValue))); err != nil {
			return nil, err
		}
	}
	st := f.h.deps.Store
	return f.commitLoop(ctx, r, e, func(ctx context.Context, es store.EntityState) (*plan, error) {
		c, err := st.GetConflict(ctx, e, p.ConflictID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, protocol.NewError(protocol.CodeNotFound, "no conflict %q on %s", p.ConflictID, channelOf(e))
		}
		if err != nil {
			return nil, err
		}
		rec, err := decodeConflict(c)
		if err != nil {
			return nil, err
		}
		if c.Resolved {
			return nil, protocol.NewError(protocol.CodeConflictResolved, "conflict %q was resolved as %s", p.ConflictID, rec.Conflict.Resolution).
				WithDetails(map[string]any{"conflict": rec.Conflict})
		}
		local := rec.Conflict.LocalChange
		l, err := f.load(ctx, e, es, es.Head.Version, false)
		if err != nil {
			return nil, err
		}
		var since []editing.Applied
		if local.BaseVersion >= es.Head.Version-int64(f.cfg.HistoryLimit) {
			recs, err := f.changesBetween(ctx, e, local.BaseVersion, es.Head.Version)
			if err != nil {
				return nil, err
			}
			for _, cr := range recs {
				since = append(since, editing.Applied{Version: cr.Change.Version, UserID: cr.Change.UserID, Op: cr.Change.Op})
			}
		}
		op, ok, err := editing.ResolveOp(l.in.Doc, editing.ConflictInput{
			Local: local.Op, Base: local.BaseVersion, Since: since, Intended: rec.Intended, IntendedDelete: rec.IntendedDelete,
		}, res, merged)
		if err != nil {
			return nil, withDetails(err, versionDetails(es))
		}
		var pl *plan
		if ok {
			l.in.Op, l.in.UserID, l.in.Token = op, r.conn.UserID, p.FencingToken
			out, err := editing.Decide(l.in)
			if err != nil {
				return nil, withDetails(err, versionDetails(es))
			}
			if pl, err = f.planOutcome(r, e, es, l, out, changeExtra{conflictID: p.ConflictID}); err != nil {
				return nil, err
			}
		} else {
			pl = &plan{
				commit: store.Commit{BaseVersion: es.Head.Version},
				reply: changeAck{EntityType: e.Type, EntityID: e.ID, Outcome: editing.KindUnchanged,
					Version: es.Head.Version},
			}
		}
		resolved := rec.Conflict
		resolved.Resolved, resolved.Resolution = true, string(res)
		if res == editing.ResolveMerged {
			resolved.MergedValue = bytes.TrimSpace(p.MergedValue)
		}
		resolved.ResolvedBy, resolved.ResolvedAt = r.conn.UserID, protocol.Now(r.now)
		if pl.reply.Applied {
			resolved.ResolvedVersion = pl.reply.Version
		}
		rec.Conflict = resolved
		data, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("encode conflict on %q: %w", e, err)
		}
		pl.commit.Conflict = &store.Conflict{ID: c.ID, Resolved: true, CreatedAt: c.CreatedAt,
			ExpiresAt: r.now.Add(f.cfg.ConflictRetention), Data: data}
		pl.reply.Conflict = &resolved
		announceChange := pl.after
		pl.after = func(ctx context.Context) {
			if announceChange != nil {
				announceChange(ctx)
			}
			f.notifyUsers(ctx, r.bc, e.Tenant, []string{resolved.LocalChange.UserID, resolved.RemoteChange.UserID, r.conn.UserID},
				protocol.TypeEventConflict, channelOf(e), r.conn.UserID, "cfl-"+resolved.ID+"-resolved", resolved)
		}
		return pl, nil
	})
}
