package collab

import (
	"context"

	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// firstChunk is how many changes a chunked read asks for first; the
// chunks after it are sized by the changes read so far: as many as the
// bytes left hold at their average size, and one more to pass the budget,
// but no more than chunkGrowth times as many as were read, so that small
// changes read first do not bring in a large chunk of large ones after
// them. A page of 100 small changes takes 4 reads (4, 12, 48, 36).
const (
	firstChunk  = 4
	chunkGrowth = 3
)

// readChanges reads up to limit changes of e selected by q (its Limit is
// ignored), oldest first or, with q.Desc, newest first, a few at a time,
// and returns them decoded. Each change counts for size bytes; the read
// stops once those of the changes read pass budget, the change that passes
// it being the last returned, and over reports so. A change record is up
// to 60 KiB with its inverse besides: a list reply holds a few of them,
// where a page of limit of them could be megabytes, and these are read
// only as far as they can be used.
//
// Fewer than limit changes, with over false, means that no more are
// stored in the range.
func (s *Service) readChanges(ctx context.Context, e store.EntityKey, q store.ChangeQuery, limit, budget int,
	size func(store.Change, changeRecord) (int, error)) (recs []changeRecord, over bool, err error) {
	used := 0
	for len(recs) < limit {
		n := firstChunk
		if len(recs) > 0 {
			n = min((budget-used)/max(used/len(recs), 1)+1, chunkGrowth*len(recs))
		}
		q.Limit = min(n, limit-len(recs))
		chs, err := s.st.ListChanges(ctx, e, q)
		if err != nil {
			return nil, false, err
		}
		for _, c := range chs {
			rec, err := decodeChange(c)
			if err != nil {
				return nil, false, err
			}
			n, err := size(c, rec)
			if err != nil {
				return nil, false, err
			}
			recs, used = append(recs, rec), used+n
			if used > budget {
				return recs, true, nil
			}
		}
		if len(chs) < q.Limit {
			break
		}
		if last := chs[len(chs)-1].Version; q.Desc {
			q.Before = last
		} else {
			q.After = last
		}
	}
	return recs, false, nil
}

// readForReply reads up to limit changes of e selected by q for a list
// reply whose other members take used bytes: as far as the reply can
// hold them, and one more, so that protocol.FitSome cuts the list where it
// would cut all limit of them.
func (s *Service) readForReply(ctx context.Context, e store.EntityKey, q store.ChangeQuery, limit, used int) ([]changeRecord, bool, error) {
	return s.readChanges(ctx, e, q, limit, protocol.ReplyBudget-used, func(_ store.Change, rec changeRecord) (int, error) {
		return protocol.JSONSize(rec.Change)
	})
}

// sinceReader reads the changes after one version for the commit rounds
// of one request (a change rebased past them, an undo carried past them,
// a held-back change followed through them): a stored change never
// changes, so each round reads only the changes committed since the one
// before, at most maxRebaseBytes of them as stored in all.
type sinceReader struct {
	s     *Service
	e     store.EntityKey
	from  int64          // recs follow version from
	recs  []changeRecord // versions from+1 on, as read
	bytes int            // their stored size
	over  bool           // more than maxRebaseBytes after from
}

func (s *Service) sinceReader(e store.EntityKey) *sinceReader { return &sinceReader{s: s, e: e} }

// between returns the changes after version from, up to and including
// to, oldest first; fewer when some are no longer stored. ok is false,
// with no changes, when those changes are more than maxRebaseBytes as
// stored: a decision treats them as no longer kept.
func (r *sinceReader) between(ctx context.Context, from, to int64) (recs []changeRecord, ok bool, err error) {
	if to <= from {
		return nil, true, nil
	}
	if from != r.from || len(r.recs) > 0 && r.recs[len(r.recs)-1].Change.Version > to {
		// Another range (not expected: the base and the version undone
		// stay, and the head only moves on): read it anew.
		*r = sinceReader{s: r.s, e: r.e, from: from}
	}
	if r.over {
		return nil, false, nil
	}
	after := from
	if len(r.recs) > 0 {
		after = r.recs[len(r.recs)-1].Change.Version
	}
	if after < to {
		more, over, err := r.s.readChanges(ctx, r.e, store.ChangeQuery{After: after, Before: to + 1}, int(to-after),
			maxRebaseBytes-r.bytes, func(c store.Change, _ changeRecord) (int, error) {
				r.bytes += len(c.Data)
				return len(c.Data), nil
			})
		if err != nil {
			return nil, false, err
		}
		if over {
			r.recs, r.over = nil, true
			return nil, false, nil
		}
		r.recs = append(r.recs, more...)
	}
	return r.recs[:len(r.recs):len(r.recs)], true, nil
}
