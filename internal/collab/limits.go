package collab

import (
	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/protocol"
)

// Size limits of editing. Each is measured on JSON as the reply encoder
// writes it (HTML-escaped, so a '<' counts 6 bytes), since that is what
// replies and broadcasts carry. Together they keep every request within a
// 32 KB client frame and every reply and broadcast that echoes a change,
// a conflict or a document within 128 KB (docs/limits.md has the sums).
const (
	// maxValueBytes bounds the value a change writes at its path (the
	// after of insert and update, the string a text edit leaves, a
	// conflict's mergedValue).
	maxValueBytes = 10 << 10
	// maxChangePathBytes bounds a change's path; the path is echoed twice
	// in every change.
	maxChangePathBytes = 1 << 10
	// maxChangeBytes bounds a change as recorded and echoed (sync,
	// history, change events, replies): its before and after values, the
	// operation, metadata and bookkeeping. Two changes and a conflict's
	// own members fit in one frame (the superseded-conflict event).
	maxChangeBytes = 60 << 10
	// maxConflictBytes bounds a manual conflict when it is recorded, so
	// that its resolution (the conflict with a mergedValue, and the change
	// it makes) still fits in one reply.
	maxConflictBytes = protocol.ReplyBudget - maxChangeBytes - maxValueBytes - 4<<10
	// maxOverwrittenBytes bounds the overwrote list of a change reply;
	// the change's supersedes list names every version in any case.
	maxOverwrittenBytes = 8 << 10
	// maxEditMetadataBytes bounds a change's metadata object, as JSON.
	maxEditMetadataBytes = 4 << 10
	// maxPageLimit is the most changes or comments per page, and the
	// default.
	maxPageLimit = 100
	// maxActivityValueBytes bounds the before and after values copied
	// into an activity entry.
	maxActivityValueBytes = 1 << 10
	// maxHeadBytes bounds a head's document and strategy state together,
	// well below DynamoDB's 400 KB item limit. The crdt state keeps
	// tombstones, and the paths of the writes hidden below a nested
	// field, so it can outgrow the document.
	maxHeadBytes = 300 << 10
	// maxRebaseBytes bounds the changes, as stored (each up to 60 KiB
	// with its inverse besides), that one request reads to carry a
	// change, an undo or a held-back conflict's change past the changes
	// after its base: beyond it they count as no longer kept, as when the
	// base is older than the history kept. About one DynamoDB Query page;
	// 100 changes of a few KiB each fit.
	maxRebaseBytes = 1 << 20
)

// checkValue refuses a value over maxValueBytes, or with a number that a
// float64 reads as infinity or as 0 although it is not (doc.CheckNumbers);
// what names it in the error.
func checkValue(what string, v any) error {
	if n, err := protocol.JSONSize(v); err != nil || n > maxValueBytes {
		return protocol.NewError(protocol.CodeBadRequest, "%s is at most %d bytes as JSON", what, maxValueBytes)
	}
	if doc.CheckNumbers(v) != nil {
		return protocol.NewError(protocol.CodeBadRequest,
			"%s holds a number that a float64 (a browser) reads as infinity, or as 0 although it is not", what)
	}
	return nil
}

// checkChangeSize refuses a change whose record would exceed
// maxChangeBytes: nothing is written.
func checkChangeSize(ch protocol.Change) error {
	if n, err := protocol.JSONSize(ch); err != nil || n > maxChangeBytes {
		return protocol.NewError(protocol.CodeBadRequest,
			"the change with its before and after values would exceed %d bytes as JSON", maxChangeBytes)
	}
	return nil
}

// boundOverwritten keeps the leading entries of o that fit in
// maxOverwrittenBytes.
func boundOverwritten(o []protocol.Overwritten) []protocol.Overwritten {
	used := 0
	for i, w := range o {
		n, err := protocol.JSONSize(w)
		if err != nil || used+n+1 > maxOverwrittenBytes {
			return o[:i]
		}
		used += n + 1
	}
	return o
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
