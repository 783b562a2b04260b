package storetest

import "testing"

// presenceCases are the conformance cases of presence, activity and
// notification records.
func presenceCases() []struct {
	name string
	run  func(t *testing.T, f *fixture)
} {
	return nil
}
