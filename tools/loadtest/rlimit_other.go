//go:build !unix

package loadtest

import "errors"

// RaiseFileLimit is not supported on this platform: it reports the limit
// as unknown (0) with an error.
func RaiseFileLimit(want uint64) (uint64, error) {
	return 0, errors.New("raise open-file limit: not supported on this platform")
}
