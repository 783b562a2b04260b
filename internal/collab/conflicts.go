package collab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// Resolve settles a manual conflict of e as local, remote or merged; the
// settled value becomes the next version (or, when it is what the entity
// holds already, the entity is unchanged). The conflict is recorded as
// resolved in the same write, and the writers of both sides and the
// resolver are told.
func (s *Service) Resolve(ctx context.Context, c Call, e store.EntityKey, p protocol.ResolvePayload) (protocol.ChangeAck, error) {
	if editing.ValidateName("conflictId", p.ConflictID) != nil {
		return protocol.ChangeAck{}, badName("conflictId")
	}
	res := editing.Resolution(p.Resolution)
	if !res.Valid() {
		return protocol.ChangeAck{}, protocol.NewError(protocol.CodeBadRequest, "resolution must be local, remote or merged")
	}
	merged, err := mergedValue(res, p.MergedValue)
	if err != nil {
		return protocol.ChangeAck{}, err
	}
	since := s.sinceReader(e)
	return s.commitLoop(ctx, c, e, func(ctx context.Context, es store.EntityState) (*plan, error) {
		stored, rec, err := s.openConflict(ctx, e, p.ConflictID)
		if err != nil {
			return nil, err
		}
		pl, err := s.planResolution(ctx, c, e, es, rec, res, merged, p.FencingToken, since)
		if err != nil {
			return nil, err
		}
		return pl, s.markResolved(pl, c, e, stored, rec, res, p.MergedValue)
	})
}

// mergedValue decodes and bounds the mergedValue of a merged resolution;
// other resolutions have none.
func mergedValue(res editing.Resolution, raw json.RawMessage) (any, error) {
	if res != editing.ResolveMerged {
		return nil, nil
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, protocol.NewError(protocol.CodeBadRequest, "resolution %q needs field %q", res, "mergedValue")
	}
	var merged any
	if err := decodeJSON(raw, &merged); err != nil {
		return nil, protocol.NewError(protocol.CodeBadRequest, "field %q is not JSON", "mergedValue")
	}
	if err := checkValue("mergedValue", json.RawMessage(bytes.TrimSpace(raw))); err != nil {
		return nil, err
	}
	return merged, nil
}

// openConflict is the step of Resolve that reads the conflict: NOT_FOUND
// when there is none, CONFLICT_RESOLVED (with the conflict) when it was
// settled already.
func (s *Service) openConflict(ctx context.Context, e store.EntityKey, id string) (store.Conflict, conflictRecord, error) {
	c, err := s.st.GetConflict(ctx, e, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Conflict{}, conflictRecord{}, protocol.NewError(protocol.CodeNotFound, "no conflict %q on %s", id, Channel(e))
	}
	if err != nil {
		return store.Conflict{}, conflictRecord{}, err
	}
	rec, err := decodeConflict(c)
	if err != nil {
		return store.Conflict{}, conflictRecord{}, err
	}
	if c.Resolved {
		return store.Conflict{}, conflictRecord{}, protocol.NewError(protocol.CodeConflictResolved, "conflict %q was resolved as %s", id, rec.Conflict.Resolution).
			WithDetails(map[string]any{"conflict": rec.Conflict})
	}
	return c, rec, nil
}

// planResolution is the step of Resolve that decides the write: the
// operation that leaves the resolution's value at the conflict's path,
// decided under the entity's strategy, or no change when the value is
// there already. since reads the changes the held-back change is
// followed through.
func (s *Service) planResolution(ctx context.Context, c Call, e store.EntityKey, es store.EntityState, rec conflictRecord, res editing.Resolution, merged any, token int64,
	since *sinceReader) (*plan, error) {
	local := rec.Conflict.LocalChange
	l, err := s.load(ctx, e, es, es.Head.Version, nil)
	if err != nil {
		return nil, err
	}
	// The held-back change is followed from where it stood when the
	// conflict was recorded (from its base for a conflict stored before
	// that was kept), over the changes since, when they are still kept
	// (and no more than maxRebaseBytes).
	from := local.BaseVersion
	if rec.RebasedAt > 0 {
		from = rec.RebasedAt
	}
	var after []editing.Applied
	if from >= es.Head.Version-int64(s.cfg.HistoryLimit) {
		recs, _, err := since.between(ctx, from, es.Head.Version)
		if err != nil {
			return nil, err
		}
		after = appliedOf(recs)
	}
	op, ok, err := editing.ResolveOp(l.in.Doc, editing.ConflictInput{
		Local: local.Op, Base: local.BaseVersion, Rebased: rec.Rebased, RebasedAt: rec.RebasedAt, Since: after,
		Current: es.Head.Version, Intended: rec.Intended, IntendedDelete: rec.IntendedDelete, IntendedNone: rec.IntendedNone,
	}, res, merged)
	for _, why := range []error{editing.ErrNoLongerApplies, editing.ErrElementGone} {
		if errors.Is(err, why) {
			return nil, protocol.NewError(protocol.CodeBadRequest, "conflict %q cannot be resolved as %s: %s", rec.Conflict.ID, res, why)
		}
	}
	if err != nil {
		return nil, protocol.WithDetails(err, versionDetails(es))
	}
	if !ok {
		return &plan{
			commit: store.Commit{BaseVersion: es.Head.Version, BaseRevision: es.Head.Revision},
			reply: protocol.ChangeAck{EntityType: e.Type, EntityID: e.ID, Outcome: string(editing.KindUnchanged),
				Version: es.Head.Version},
		}, nil
	}
	l.in.Op, l.in.UserID, l.in.Token = op, c.Conn.UserID, token
	out, err := editing.Decide(l.in)
	if err != nil {
		return nil, protocol.WithDetails(err, versionDetails(es))
	}
	return s.planOutcome(c, e, es, l, out, changeExtra{conflictID: rec.Conflict.ID})
}

// markResolved is the step of Resolve that adds the resolved conflict to
// the write and the reply, and its announcement to those of the write.
func (s *Service) markResolved(pl *plan, c Call, e store.EntityKey, stored store.Conflict, rec conflictRecord, res editing.Resolution, rawMerged json.RawMessage) error {
	resolved := rec.Conflict
	resolved.Resolved, resolved.Resolution = true, string(res)
	if res == editing.ResolveMerged {
		resolved.MergedValue = bytes.TrimSpace(rawMerged)
	}
	resolved.ResolvedBy, resolved.ResolvedAt = c.Conn.UserID, protocol.Now(c.Now)
	if pl.reply.Applied {
		resolved.ResolvedVersion = pl.reply.Version
	}
	rec.Conflict = resolved
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode conflict on %q: %w", e, err)
	}
	pl.commit.Conflict = &store.Conflict{ID: stored.ID, Resolved: true, CreatedAt: stored.CreatedAt,
		ExpiresAt: c.Now.Add(s.cfg.ConflictRetention), Data: data}
	pl.reply.Conflict = &resolved
	announceChange := pl.after
	pl.after = func(ctx context.Context) {
		if announceChange != nil {
			announceChange(ctx)
		}
		notifyResolved(ctx, c, e, resolved)
	}
	return nil
}

// notifyResolved sends the settled conflict resolved to both writers and
// to the user who settled it (c's).
func notifyResolved(ctx context.Context, c Call, e store.EntityKey, resolved protocol.Conflict) {
	c.Notify.NotifyUsers(ctx, e.Tenant, []string{resolved.LocalChange.UserID, resolved.RemoteChange.UserID, c.Conn.UserID},
		protocol.TypeEventConflict, Channel(e), c.Conn.UserID, "cfl-"+resolved.ID+"-resolved", resolved)
}
