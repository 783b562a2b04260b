//go:build unix

package loadtest

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises the soft limit on open files to at least want,
// raising the hard limit too when the process may (root), and returns the
// soft limit in force afterwards. A limit that cannot reach want is
// raised as far as it goes and reported with an error.
func RaiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise open-file limit to %d: %w", want, err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise open-file limit to %d: %w", want, err)
	}
	if lim.Cur < want {
		return lim.Cur, fmt.Errorf("raise open-file limit to %d: hard limit is %d", want, lim.Max)
	}
	return lim.Cur, nil
}
