package storetest

import "testing"

// editingCases are the conformance cases of locks, entities, changes,
// conflicts and comments.
func editingCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return nil
}
