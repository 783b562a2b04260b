package doc

import "errors"

// Sentinel errors. Functions of this package wrap them with the operation
// and the offending path or value; test with errors.Is.
var (
	// ErrBadPath: a path is malformed, too deep, has an over-long key or
	// index, or names the document root where a field is required.
	ErrBadPath = errors.New("bad path")
	// ErrNoPath: an object key on the path (or the target of a delete,
	// text edit or list update) does not exist, or a list index is past
	// the end of the list.
	ErrNoPath = errors.New("path does not exist")
	// ErrType: the path steps into a value of the wrong kind (a key into a
	// list, an index into an object, anything into a scalar), or the
	// target has the wrong type for the operation (increment on a
	// non-number, text on a non-string, move on a non-list).
	ErrType = errors.New("wrong type")
	// ErrExists: insert on an object key that is already present.
	ErrExists = errors.New("already exists")
	// ErrRange: an operation parameter is out of range: move indexes past
	// the end of the list, a text edit longer than its string, or a number
	// too large for exact arithmetic.
	ErrRange = errors.New("out of range")
	// ErrBadOp: the operation itself is malformed: unknown kind, missing or
	// misplaced fields, a value that is not JSON, an invalid number.
	ErrBadOp = errors.New("bad operation")
)

// clip shortens s for use in error messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "..."
}
