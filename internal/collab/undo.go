package collab

import (
	"context"
	"errors"
	"fmt"

	"github.com/omnisales/rtcollab/internal/crdt"
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// UndoTarget returns the entity and version of the change an undo request
// names: by changeId ("type:id:version"), which must agree with the
// entity when the payload names one too, or by entity and version. The
// entity's names are checked by Entity.
func UndoTarget(p protocol.UndoPayload) (protocol.EntityRef, int64, error) {
	ref, v := p.EntityRef, p.Version
	if p.ChangeID != "" {
		cref, cv, ok := parseChangeID(p.ChangeID)
		if !ok || (ref.EntityType != "" && ref != cref) {
			return protocol.EntityRef{}, 0, protocol.NewError(protocol.CodeBadRequest, "changeId %q is not a change of this entity", p.ChangeID)
		}
		ref, v = cref, cv
	}
	if v <= 0 {
		return protocol.EntityRef{}, 0, protocol.NewError(protocol.CodeBadRequest, "missing field %q", "changeId")
	}
	return ref, v, nil
}

// Undo applies the inverse of version v of e as a new version. A later
// change to the same path that the strategy cannot transform the undo past,
// or a later undo of the same version, makes it UNDO_CONFLICT; a version no
// longer kept is NOT_FOUND.
// fencingToken is the caller's lock token (lock-based entities).
func (s *Service) Undo(ctx context.Context, c Call, e store.EntityKey, v, fencingToken int64, metadata []byte) (protocol.ChangeAck, error) {
	meta, err := checkMetadata(metadata)
	if err != nil {
		return protocol.ChangeAck{}, err
	}
	notFound := protocol.NewError(protocol.CodeNotFound, "change %s is not in the history kept", changeID(e, v))
	since := s.sinceReader(e)
	return s.commitLoop(ctx, c, e, func(ctx context.Context, st store.EntityState) (*plan, error) {
		target, later, err := undoTarget(ctx, since, st.Head.Version-int64(s.cfg.HistoryLimit), st.Head.Version, v)
		if errors.Is(err, editing.ErrUndoConflict) {
			return nil, protocol.WithDetails(err, versionDetails(st))
		}
		if err != nil {
			return nil, err
		}
		if target == nil {
			return nil, notFound
		}
		op, notices, err := editing.UndoOp(target.Inverse, later)
		if err != nil {
			return nil, protocol.WithDetails(err, versionDetails(st))
		}
		l, err := s.load(ctx, e, st, st.Head.Version, nil)
		if err != nil {
			return nil, err
		}
		l.in.Op, l.in.UserID, l.in.Token = op, c.Conn.UserID, fencingToken
		out, err := editing.Decide(l.in)
		outOfRange := errors.Is(err, crdt.ErrOverflow) || errors.Is(err, doc.ErrRange)
		if (errors.Is(err, editing.ErrInvalid) || errors.Is(err, editing.ErrStale)) && !outOfRange {
			// A number out of range is the undo's own result, whatever
			// came after it: BAD_REQUEST, as for a change, not a conflict.
			err = fmt.Errorf("undo %s: %w: %w", target.Change.ID, editing.ErrUndoConflict, err)
		}
		if err != nil {
			return nil, protocol.WithDetails(err, versionDetails(st))
		}
		out.Notices = append(notices, out.Notices...)
		return s.planOutcome(c, e, st, l, out, changeExtra{metadata: meta, undoOf: target.Change.ID})
	})
}

// undoTarget reads version v and the changes after it, up to head,
// through since; a nil target means v is not in the history kept (the
// versions after oldest). Changes after v of more than maxRebaseBytes as
// stored are more than an undo is carried past: UNDO_CONFLICT.
func undoTarget(ctx context.Context, since *sinceReader, oldest, head, v int64) (*changeRecord, []editing.Applied, error) {
	if v > head || v <= oldest {
		return nil, nil, nil
	}
	recs, ok, err := since.between(ctx, v-1, head)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("undo %s: the changes after it are more than %d bytes: %w",
			changeID(since.e, v), maxRebaseBytes, editing.ErrUndoConflict)
	}
	if len(recs) != int(head-v+1) || recs[0].Change.Version != v {
		return nil, nil, nil
	}
	for _, r := range recs[1:] {
		if r.Change.UndoOf == recs[0].Change.ID {
			// Undone already: a second inverse would apply twice where
			// the two commute (an increment subtracted twice, a deleted
			// text inserted twice). Undo the undo to have it back.
			return nil, nil, fmt.Errorf("undo %s: version %d undid it already: %w", recs[0].Change.ID, r.Change.Version, editing.ErrUndoConflict)
		}
	}
	later := appliedOf(recs[1:])
	if later == nil {
		later = []editing.Applied{}
	}
	return &recs[0], later, nil
}
