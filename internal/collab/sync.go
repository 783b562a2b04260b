package collab

import (
	"context"
	"errors"
	"fmt"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// syncSlack is what a sync reply reserves for the members filled in after
// its lists are cut (versions, cursors).
const syncSlack = 64 + protocol.CursorSlack

// Sync answers with the changes of e after p.SinceVersion, oldest first
// and paginated, or with the whole document when sinceVersion is 0, older
// than the history kept or ahead of the entity; and with a page of the
// unresolved conflicts and the lock.
func (s *Service) Sync(ctx context.Context, e store.EntityKey, p protocol.SyncPayload) (protocol.SyncReply, error) {
	if p.SinceVersion < 0 {
		return protocol.SyncReply{}, protocol.NewError(protocol.CodeBadRequest, "sinceVersion must not be negative")
	}
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return protocol.SyncReply{}, err
	}
	es, err := s.st.LoadEntity(ctx, e, "", "")
	if err != nil {
		return protocol.SyncReply{}, err
	}
	reply := protocol.SyncReply{EntityType: e.Type, EntityID: e.ID, Strategy: string(s.table.For(e.Type)),
		Changes: []protocol.Change{}, Conflicts: []protocol.Conflict{}, HistoryLimit: s.cfg.HistoryLimit}
	if es.Lock != nil {
		reply.Lock = LockOf(*es.Lock)
	}
	ok, err := s.syncDelta(ctx, e, es.Head.Version, p.SinceVersion, limit, &reply)
	if err != nil {
		return protocol.SyncReply{}, err
	}
	if !ok {
		if err := s.syncSnapshot(ctx, e, &reply); err != nil {
			return protocol.SyncReply{}, err
		}
	}
	if err := s.syncConflicts(ctx, e, p.ConflictsCursor, &reply); err != nil {
		return protocol.SyncReply{}, err
	}
	return reply, nil
}

// syncDelta is the step of Sync that answers with changes: up to limit
// changes after since, as many as fit in the reply. It reports false,
// leaving reply as it was, when the client needs the whole document
// instead: since is 0, ahead of head, older than the history kept, or the
// history was trimmed meanwhile.
func (s *Service) syncDelta(ctx context.Context, e store.EntityKey, head, since int64, limit int, reply *protocol.SyncReply) (bool, error) {
	if since <= 0 || since > head || since < head-int64(s.cfg.HistoryLimit) {
		return false, nil
	}
	to := min(since+int64(limit), head)   // since <= head: no overflow
	used, err := protocol.JSONSize(reply) // with no changes yet
	if err != nil {
		return false, err
	}
	used += syncSlack - len(`[]`)
	recs, over, err := s.readForReply(ctx, e, store.ChangeQuery{After: since, Before: to + 1}, int(to-since), used)
	if err != nil {
		return false, err
	}
	if len(recs) < int(to-since) && !over {
		return false, nil
	}
	changes := make([]protocol.Change, 0, len(recs))
	for i, rec := range recs {
		if rec.Change.Version != since+int64(i)+1 {
			return false, nil // trimmed meanwhile: answer with the document
		}
		changes = append(changes, rec.Change)
	}
	n, err := protocol.FitSome(changes, used)
	if err != nil {
		return false, err
	}
	reply.Changes = changes[:n]
	reply.Version = head
	reply.NextSinceVersion = since + int64(n)
	reply.HasMore = reply.NextSinceVersion < head
	return true, nil
}

// syncSnapshot is the step of Sync that answers with the whole document
// as it is now.
func (s *Service) syncSnapshot(ctx context.Context, e store.EntityKey, reply *protocol.SyncReply) error {
	h, err := s.st.GetHead(ctx, e)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	reply.Snapshot, reply.Changes, reply.Version = true, []protocol.Change{}, h.Version
	reply.Document = map[string]any{}
	if len(h.Doc) > 0 {
		if reply.Document, err = doc.Decode(h.Doc); err != nil {
			return fmt.Errorf("sync %q: %w", e, err)
		}
	}
	reply.NextSinceVersion = h.Version
	return nil
}

// syncConflicts adds one page of e's unresolved conflicts, from cursor, to
// reply: at most 50, and as many as fit in the bytes the rest of the reply
// left. When the first does not fit (a large document), the page is empty
// and conflictsNextCursor starts where this one did.
func (s *Service) syncConflicts(ctx context.Context, e store.EntityKey, cursor string, reply *protocol.SyncReply) error {
	conflicts, next, err := s.st.ListConflicts(ctx, e, true, store.Page{Cursor: cursor, Limit: 50})
	if errors.Is(err, store.ErrInvalidCursor) {
		return protocol.NewError(protocol.CodeBadRequest, "invalid conflictsCursor")
	}
	if err != nil {
		return err
	}
	cs := make([]protocol.Conflict, 0, len(conflicts))
	for _, c := range conflicts {
		rec, err := decodeConflict(c)
		if err != nil {
			return err
		}
		cs = append(cs, rec.Conflict)
	}
	reply.Conflicts = []protocol.Conflict{}
	used, err := protocol.JSONSize(reply)
	if err != nil {
		return err
	}
	n, err := protocol.FitPage(cs, used-len(`[]`)+syncSlack)
	if err != nil {
		return err
	}
	if n == 0 && len(cs) > 0 && !reply.Snapshot && len(reply.Changes) == 0 {
		// Nothing else in the reply, and still no room: a cursor would
		// send the client back here forever.
		return protocol.ErrItemTooLarge
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

// History lists the changes of e kept, newest first, one page at a time.
func (s *Service) History(ctx context.Context, e store.EntityKey, p protocol.HistoryPayload) (protocol.HistoryReply, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return protocol.HistoryReply{}, err
	}
	if p.Before < 0 {
		return protocol.HistoryReply{}, protocol.NewError(protocol.CodeBadRequest, "before must not be negative (0 for the newest)")
	}
	head, err := s.st.GetHead(ctx, e)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return protocol.HistoryReply{}, err
	}
	before := p.Before
	if before <= 0 || before > head.Version+1 {
		before = head.Version + 1
	}
	oldest := max(0, head.Version-int64(s.cfg.HistoryLimit)) // versions above it are kept
	used := len(`{"entityType":"","entityId":"","version":,"changes":,"hasMore":false,"historyLimit":,"nextBefore":}`) +
		len(e.Type) + len(e.ID) + 3*20
	recs, _, err := s.readForReply(ctx, e, store.ChangeQuery{After: oldest, Before: before, Desc: true}, limit, used)
	if err != nil {
		return protocol.HistoryReply{}, err
	}
	changes := []protocol.Change{}
	for _, rec := range recs {
		changes = append(changes, rec.Change)
	}
	n, err := protocol.FitSome(changes, used)
	if err != nil {
		return protocol.HistoryReply{}, err
	}
	changes = changes[:n]
	reply := protocol.HistoryReply{EntityType: e.Type, EntityID: e.ID, Version: head.Version, Changes: changes,
		HistoryLimit: s.cfg.HistoryLimit}
	if n := len(changes); n > 0 && changes[n-1].Version > oldest+1 {
		reply.HasMore, reply.NextBefore = true, changes[n-1].Version
	}
	return reply, nil
}
