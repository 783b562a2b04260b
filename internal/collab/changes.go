package collab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Change applies a change request to e under the entity type's strategy:
// a new version, an unchanged entity, a dropped or superseded change, or
// (manual strategy) a recorded conflict. The reply is recorded with the
// write; a resend of the request gets it again.
func (s *Service) Change(ctx context.Context, c Call, e store.EntityKey, p protocol.ChangePayload) (protocol.ChangeAck, error) {
	if p.BaseVersion == nil {
		return protocol.ChangeAck{}, protocol.NewError(protocol.CodeBadRequest, "missing field %q (0 for an entity never changed)", "baseVersion")
	}
	op, err := opOf(p)
	if err != nil {
		return protocol.ChangeAck{}, err
	}
	meta, err := checkMetadata(p.Metadata)
	if err != nil {
		return protocol.ChangeAck{}, err
	}
	var stamp *crdt.HLC
	if p.HLC != nil {
		stamp = &crdt.HLC{WallMs: p.HLC.WallMs, Counter: p.HLC.Counter}
	}
	var since *sinceReader // crdt merges by stamps, with no changes read
	if s.table.For(e.Type) != editing.CRDT {
		since = s.sinceReader(e)
	}
	return s.commitLoop(ctx, c, e, func(ctx context.Context, st store.EntityState) (*plan, error) {
		l, err := s.load(ctx, e, st, *p.BaseVersion, since)
		if err != nil {
			return nil, err
		}
		l.in.Op, l.in.UserID, l.in.Stamp, l.in.Token = op, c.Conn.UserID, stamp, p.FencingToken
		out, err := editing.Decide(l.in)
		if err != nil {
			return nil, protocol.WithDetails(err, versionDetails(st))
		}
		return s.planOutcome(c, e, st, l, out, changeExtra{metadata: meta})
	})
}

// opOf builds the document operation of a change request.
func opOf(p protocol.ChangePayload) (doc.Op, error) {
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
		return doc.Op{}, err // doc.ErrBadOp or ErrBadPath: the handler answers BAD_REQUEST with a fixed message
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
	if n, err := protocol.JSONSize(m); err != nil || n > maxEditMetadataBytes {
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
// state, the lock and, when since is not nil, the changes after base
// (none when they are no longer kept, or more than maxRebaseBytes: the
// decision then answers a stale base).
func (s *Service) load(ctx context.Context, e store.EntityKey, st store.EntityState, base int64, since *sinceReader) (loaded, error) {
	head := st.Head
	in := editing.Input{
		Strategy: s.table.For(e.Type), Version: head.Version, Base: base,
		Now: s.now(), MaxSkew: s.cfg.MaxClockSkew, Doc: map[string]any{},
	}
	if len(head.Doc) > 0 {
		d, err := doc.Decode(head.Doc)
		if err != nil {
			return loaded{}, fmt.Errorf("load %q: %w", e, err)
		}
		in.Doc = d
	}
	if len(head.State) > 0 {
		var st editing.State
		if err := decodeJSON(head.State, &st); err != nil {
			return loaded{}, fmt.Errorf("load %q: state: %w", e, err)
		}
		in.State = &st
	}
	if st.Lock != nil {
		in.Lock = &editing.Lock{Holder: st.Lock.Holder, Token: st.Lock.Token}
	}
	l := loaded{in: in}
	if since != nil && base < head.Version && base >= head.Version-int64(s.cfg.HistoryLimit) {
		recs, ok, err := since.between(ctx, base, head.Version)
		if err != nil {
			return loaded{}, err
		}
		if !ok {
			return l, nil
		}
		l.records = map[int64]changeRecord{}
		l.in.Since = appliedOf(recs)
		for _, rec := range recs {
			l.records[rec.Change.Version] = rec
		}
	}
	return l, nil
}

// appliedOf is what a decision needs of recorded changes.
func appliedOf(recs []changeRecord) []editing.Applied {
	var out []editing.Applied
	for _, rec := range recs {
		out = append(out, editing.Applied{Version: rec.Change.Version, UserID: rec.Change.UserID, Op: rec.Change.Op})
	}
	return out
}

// plan is one prepared write and what follows it.
type plan struct {
	commit store.Commit
	reply  protocol.ChangeAck
	after  func(ctx context.Context) // announcements, once the write succeeded
}

// decideFunc decides one round of commitLoop on the entity as read.
type decideFunc func(ctx context.Context, st store.EntityState) (*plan, error)

// commitLoop runs read-decide-write rounds until a write succeeds, then
// announces what was written. Each round reads the entity and the
// caller's idempotency record for this messageId: a recorded reply is
// answered again without a second write, and announced again (see
// announceAgain). The reply is recorded in the same write as the change,
// so a resend (after a reconnect too) gets the original reply. The rounds
// run in the entity's write queue; the announcements after it.
func (s *Service) commitLoop(ctx context.Context, c Call, e store.EntityKey, decide decideFunc) (protocol.ChangeAck, error) {
	p, recorded, err := s.commit(ctx, c, e, decide)
	if err != nil {
		return protocol.ChangeAck{}, err
	}
	if p == nil {
		var ack protocol.ChangeAck
		if err := decodeJSON(recorded, &ack); err != nil {
			return protocol.ChangeAck{}, fmt.Errorf("decode recorded reply for %q: %w", e, err)
		}
		if err := s.announceAgain(ctx, c, e, ack); err != nil {
			return protocol.ChangeAck{}, err
		}
		return ack, nil
	}
	if p.after != nil {
		p.after(ctx)
	}
	if p.reply.Conflict != nil && !p.reply.Conflict.Resolved || len(p.reply.Overwrote) > 0 {
		// Met a concurrent change: held back as a conflict, or replaced one.
		metrics.From(ctx).Add(metrics.Conflicts, 1, metrics.Count)
	}
	return p.reply, nil
}

// announceAgain repeats, for a resend, the announcements of the recorded
// reply ack: the first attempt may have been written and failed before it
// announced anything (a store call that timed out after its write was
// applied). The change event keeps its messageId (clients ignore versions
// they have), its activity entry its id and time, and a settled
// conflict's event its messageId.
// The conflict event of a change held back as a conflict, which may have
// been settled since, and those to the writers a change replaced are not
// repeated.
//
// The entry is written first when the feed lacks it (store.AddActivity
// leaves one stored with its key as it is): a change committed by an
// earlier version, which put the entry after the commit, has none when
// that version stopped in between. An entry that cannot be written fails
// the resend, with nothing announced, as it fails a first attempt, so
// that the client sends it again; an entry the feed refuses (a change
// recorded before the feed's bounds) is logged, and the rest announced.
func (s *Service) announceAgain(ctx context.Context, c Call, e store.EntityKey, ack protocol.ChangeAck) error {
	if ack.Change != nil {
		a, aerr := changeActivity(c, e, *ack.Change)
		if aerr != nil {
			s.log.WarnContext(ctx, "announce change activity", "changeId", ack.Change.ID, "error", aerr)
		} else if err := s.st.AddActivity(ctx, a); err != nil {
			return fmt.Errorf("activity entry of change %q: %w", ack.Change.ID, err)
		}
		c.Notify.Broadcast(ctx, e.Tenant, Channel(e), protocol.TypeEventChange, c.Conn.UserID, "chg-"+ack.Change.ID, *ack.Change)
		if aerr == nil {
			c.Notify.AnnounceActivity(ctx, c.Conn, a)
		}
	}
	if ack.Conflict != nil && ack.Conflict.Resolved {
		notifyResolved(ctx, c, e, *ack.Conflict)
	}
	return nil
}

// commit runs the rounds of commitLoop in e's write queue. It returns the
// plan that was written, or nil and the reply recorded earlier.
func (s *Service) commit(ctx context.Context, c Call, e store.EntityKey, decide decideFunc) (*plan, []byte, error) {
	leave, err := s.enqueue(ctx, e)
	if err != nil {
		return nil, nil, err
	}
	defer leave()
	for attempt := range s.cfg.CommitAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, nil, err
			}
		}
		es, err := s.st.LoadEntity(ctx, e, c.Conn.UserID, c.MessageID)
		if err != nil {
			return nil, nil, err
		}
		if es.Idempotency != nil {
			reply, err := recordedReply(*es.Idempotency, c)
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
		if len(reply) > protocol.ReplyBudget {
			// Refused before anything is written: its reply could not be sent.
			return nil, nil, protocol.NewError(protocol.CodeBadRequest, "the reply to this request would exceed %d bytes", protocol.MaxFrameBytes)
		}
		p.commit.Entity = e
		p.commit.Idempotency = s.idempotency(c, e.Tenant, reply)
		err = s.st.Commit(ctx, p.commit)
		if errors.Is(err, store.ErrConditionFailed) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return p, reply, nil
	}
	return nil, nil, contended(e, s.cfg.CommitAttempts)
}

// idempotency is the record that keeps reply for resends of c.
func (s *Service) idempotency(c Call, tenant string, reply []byte) *store.Idempotency {
	return &store.Idempotency{
		Tenant: tenant, UserID: c.Conn.UserID, MessageID: c.MessageID, RequestHash: c.RequestHash,
		Reply: reply, ExpiresAt: c.Now.Add(s.cfg.IdempotencyTTL),
	}
}

// recordedReply is the answer to a request whose messageId has a live
// idempotency record: the recorded reply when the record was written for
// the same request (its RequestHash), IDEMPOTENCY_MISMATCH otherwise, so
// that a reused messageId never receives another request's reply. A
// record without a hash (written before hashes were kept) cannot show
// that it answers this request and is treated as a mismatch.
func recordedReply(i store.Idempotency, c Call) ([]byte, error) {
	if i.RequestHash == "" || i.RequestHash != c.RequestHash {
		return nil, protocol.NewError(protocol.CodeIdempotencyMismatch,
			"this messageId was already used for a different request; use a new messageId")
	}
	return i.Reply, nil
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
		d["lock"] = LockOf(*st.Lock)
	}
	return d
}

// planOutcome turns a decision into a write and its reply: a new
// version, the unchanged entity's new strategy state, a recorded conflict,
// or (dropped, superseded) only the reply.
func (s *Service) planOutcome(c Call, e store.EntityKey, st store.EntityState, l loaded, out editing.Outcome, x changeExtra) (*plan, error) {
	head := st.Head
	p := &plan{
		commit: store.Commit{BaseVersion: head.Version, BaseRevision: head.Revision},
		reply: protocol.ChangeAck{EntityType: e.Type, EntityID: e.ID, Outcome: string(out.Kind), Applied: out.Kind.NewVersion(),
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
		return p, s.planVersion(p, c, e, head, state, l, out, x)
	case out.Kind == editing.KindUnchanged && out.State != nil:
		if len(head.Doc)+len(state) > maxHeadBytes {
			return nil, errHeadTooLarge()
		}
		p.commit.Head = &store.Head{Version: head.Version, Doc: head.Doc, State: state, UpdatedAt: head.UpdatedAt, UpdatedBy: head.UpdatedBy}
	case out.Kind == editing.KindConflict:
		return p, s.planConflict(p, c, e, l, out, x)
	default: // dropped, superseded, or unchanged with no state to store: only the reply is recorded
		p.commit.Fence = nil
	}
	return p, nil
}

func errHeadTooLarge() error {
	return protocol.NewError(protocol.CodeBadRequest, "the entity's merge state would exceed %d bytes", maxHeadBytes)
}

// planVersion is the step of planOutcome for a new version: the head, the
// change record, its activity entry, the trim of history, the reply, and
// the announcements (the change on the entity channel, conflict events to
// the writers it overwrote, the activity entry).
func (s *Service) planVersion(p *plan, c Call, e store.EntityKey, head store.Head, state []byte, l loaded, out editing.Outcome, x changeExtra) error {
	body, err := json.Marshal(out.Doc)
	if err != nil {
		return fmt.Errorf("encode document of %q: %w", e, err)
	}
	if len(body) > s.cfg.MaxDocumentBytes {
		return protocol.NewError(protocol.CodeBadRequest, "the document would exceed %d bytes", s.cfg.MaxDocumentBytes)
	}
	if len(body)+len(state) > maxHeadBytes {
		return errHeadTooLarge()
	}
	if out.Op.Kind == doc.Text { // an undo too: rebased past later inserts, it could leave a string no edit may write
		if err := checkValue("the text after the edit", out.After); err != nil {
			return err
		}
	}
	v := head.Version + 1
	ch := protocol.Change{
		ID: changeID(e, v), EntityType: e.Type, EntityID: e.ID, UserID: c.Conn.UserID, Username: c.Conn.Username,
		Operation: out.Op.Kind, Path: out.Op.Path, Before: out.Before, After: out.After, Op: out.Op,
		Timestamp: protocol.Now(c.Now), Resolved: true, Version: v, BaseVersion: l.in.Base, Metadata: x.metadata,
		MessageID: c.MessageID, Strategy: string(l.in.Strategy), Outcome: string(out.Kind), Notices: out.Notices,
		UndoOf: x.undoOf, ConflictID: x.conflictID,
	}
	var overwrote []protocol.Overwritten
	for _, o := range out.Overwrote {
		ch.Supersedes = append(ch.Supersedes, o.Version)
		overwrote = append(overwrote, protocol.Overwritten{Version: o.Version, UserID: o.UserID, Path: o.Op.Path})
	}
	if err := checkChangeSize(ch); err != nil {
		return err
	}
	data, err := json.Marshal(changeRecord{Change: ch, Inverse: out.Inverse})
	if err != nil {
		return fmt.Errorf("encode change of %q: %w", e, err)
	}
	entry, err := changeActivity(c, e, ch)
	if err != nil {
		return err
	}
	p.commit.Head = &store.Head{Version: v, Doc: body, State: state, UpdatedAt: c.Now, UpdatedBy: c.Conn.UserID}
	p.commit.Change = &store.Change{Version: v, Data: data}
	p.commit.Activity = &entry
	if v > int64(s.cfg.HistoryLimit) {
		p.commit.Trim = v - int64(s.cfg.HistoryLimit)
	}
	p.reply.Version, p.reply.Change, p.reply.Overwrote = v, &ch, boundOverwritten(overwrote)
	p.after = func(ctx context.Context) {
		c.Notify.Broadcast(ctx, e.Tenant, Channel(e), protocol.TypeEventChange, c.Conn.UserID, "chg-"+ch.ID, ch)
		s.tellOverwritten(ctx, c, e, l, out.Overwrote, ch)
		c.Notify.AnnounceActivity(ctx, c.Conn, entry)
	}
	return nil
}

// tellOverwritten sends each writer whose concurrent change a
// last-write-wins write replaced a conflict event, already resolved in
// favour of the later write.
func (s *Service) tellOverwritten(ctx context.Context, c Call, e store.EntityKey, l loaded, overwrote []editing.Applied, winner protocol.Change) {
	for _, o := range overwrote {
		if o.UserID == c.Conn.UserID {
			continue
		}
		rec, ok := l.records[o.Version]
		if !ok {
			continue
		}
		cj := protocol.Conflict{
			ID: "superseded-" + rec.Change.ID, EntityType: e.Type, EntityID: e.ID, Path: rec.Change.Path,
			LocalChange: rec.Change, RemoteChange: winner, ResolutionStrategy: string(l.in.Strategy),
			Resolved: true, Resolution: string(editing.ResolveRemote), CreatedAt: winner.Timestamp,
			ResolvedBy: winner.UserID, ResolvedAt: winner.Timestamp, ResolvedVersion: winner.Version,
		}
		c.Notify.NotifyUsers(ctx, e.Tenant, []string{o.UserID}, protocol.TypeEventConflict, Channel(e),
			c.Conn.UserID, "cfl-"+cj.ID, cj)
	}
}

// planConflict is the step of planOutcome for a manual conflict: the
// conflict is recorded (no new version) and both writers are told.
func (s *Service) planConflict(p *plan, c Call, e store.EntityKey, l loaded, out editing.Outcome, x changeExtra) error {
	cj, cf, err := s.newConflict(c, e, l, out, x)
	if err != nil {
		return err
	}
	p.commit.Conflict = cf
	p.commit.Fence = nil
	p.reply.Conflict = cj
	p.after = func(ctx context.Context) {
		c.Notify.NotifyUsers(ctx, e.Tenant, []string{cj.LocalChange.UserID, cj.RemoteChange.UserID},
			protocol.TypeEventConflict, Channel(e), c.Conn.UserID, "cfl-"+cj.ID, cj)
	}
	return nil
}

// newConflict builds the stored conflict of a manual-strategy outcome.
func (s *Service) newConflict(c Call, e store.EntityKey, l loaded, out editing.Outcome, x changeExtra) (*protocol.Conflict, *store.Conflict, error) {
	remote, ok := l.records[out.Remote.Version]
	if !ok {
		return nil, nil, fmt.Errorf("conflict on %q: version %d not loaded", e, out.Remote.Version)
	}
	now := c.Now
	id := fmt.Sprintf("%013d-%s", now.UnixMilli(), randomHex(6))
	// What the change would replace: the value where it would write now,
	// its list element followed to where it stands (whatever stands at the
	// index it had at its base is another element); when nothing of it is
	// left, the value at its path if that names object keys only, none if
	// it goes through a list.
	var before any
	switch {
	case out.Rebased != nil:
		before, _ = doc.Get(l.in.Doc, out.Rebased.Path)
	case editing.KeysOnly(l.in.Op.Path):
		before, _ = doc.Get(l.in.Doc, l.in.Op.Path)
	}
	var after any
	if !out.IntendedDelete {
		after = out.Intended
	}
	local := protocol.Change{
		ID: "pending-" + c.MessageID, EntityType: e.Type, EntityID: e.ID, UserID: c.Conn.UserID, Username: c.Conn.Username,
		Operation: l.in.Op.Kind, Path: l.in.Op.Path, Before: doc.Clone(before), After: after, Op: l.in.Op,
		Timestamp: protocol.Now(now), Resolved: false, BaseVersion: l.in.Base, Metadata: x.metadata,
		MessageID: c.MessageID, Strategy: string(l.in.Strategy), Outcome: string(editing.KindConflict),
	}
	cj := &protocol.Conflict{
		ID: id, EntityType: e.Type, EntityID: e.ID, Path: l.in.Op.Path, LocalChange: local, RemoteChange: remote.Change,
		ResolutionStrategy: string(editing.Manual), CreatedAt: protocol.Now(now),
	}
	if n, err := protocol.JSONSize(cj); err != nil || n > maxConflictBytes {
		// Too large to record and echo: the writer syncs and tries again,
		// as when a strategy cannot merge.
		return nil, nil, protocol.NewError(protocol.CodeVersionConflict,
			"the conflicting changes are too large to record as a conflict (%d bytes at most); sync and try again", maxConflictBytes).
			WithDetails(map[string]any{"version": l.in.Version})
	}
	data, err := json.Marshal(conflictRecord{Conflict: *cj, Intended: out.Intended, IntendedDelete: out.IntendedDelete,
		IntendedNone: out.IntendedNone, Rebased: out.Rebased, RebasedAt: l.in.Version})
	if err != nil {
		return nil, nil, fmt.Errorf("encode conflict on %q: %w", e, err)
	}
	return cj, &store.Conflict{ID: id, CreatedAt: now, Data: data}, nil
}

// changeActivity is the activity entry of an accepted change, as the
// feed stores it (Notifier.ActivityEntry); it is written in the change's
// own commit, so that no accepted change lacks its entry. A first change
// that inserts creates the entity; any other first change (an update of
// one field) edits an entity that existed before the server kept it, such
// as an order made elsewhere, so it is recorded as updated. The entry has
// the change's time and an id derived from the change's, so that a resend
// writes (when missing) and announces the same entry. An entry the feed
// refuses (which the bounds of a change rule out) fails the change: it is
// not written without it.
func changeActivity(c Call, e store.EntityKey, ch protocol.Change) (store.Activity, error) {
	action := store.ActionUpdated
	if ch.Version == 1 && ch.Operation == doc.Insert {
		action = store.ActionCreated
	}
	field := store.ActivityChange{Field: ch.Path}
	if b, err := json.Marshal(ch.Before); err == nil && len(b) <= maxActivityValueBytes {
		field.Before = b
	}
	if b, err := json.Marshal(ch.After); err == nil && len(b) <= maxActivityValueBytes {
		field.After = b
	}
	// metadata is the client's data, whose member names may differ only
	// in case: entityName is the member of that name, as the clients read
	// it, not one encoding/json would match case-insensitively (which of
	// two such members that was would depend on their order, which the
	// request hash does not see).
	var meta map[string]json.RawMessage
	var entityName string
	if json.Unmarshal(ch.Metadata, &meta) == nil {
		_ = json.Unmarshal(meta["entityName"], &entityName)
	}
	if len(entityName) > 256 {
		entityName = ""
	}
	md, _ := json.Marshal(map[string]any{"changeId": ch.ID, "version": ch.Version, "operation": ch.Operation})
	at, _ := time.Parse(time.RFC3339Nano, ch.Timestamp) // zero, the time of recording, if it does not parse
	a, err := c.Notify.ActivityEntry(c.Conn, store.Activity{
		ID: changeActivityID(ch), At: at, Action: action, EntityType: e.Type, EntityID: e.ID, EntityName: entityName,
		Changes: []store.ActivityChange{field}, Metadata: md,
	})
	if err != nil {
		return store.Activity{}, fmt.Errorf("activity entry of change %q: %w", ch.ID, err)
	}
	return a, nil
}

// changeActivityID is the id of the activity entry of change ch.
func changeActivityID(ch protocol.Change) string {
	sum := sha256.Sum256([]byte("change\x00" + ch.ID))
	return hex.EncodeToString(sum[:12])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
