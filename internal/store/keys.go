package store

import (
	"fmt"
	"strings"
)

// CheckKeyParts rejects names that would corrupt a key: empty ones and ones
// containing the '#' separator. backend and op name the caller in the error.
func CheckKeyParts(backend, op, key string, parts ...string) error {
	for _, p := range parts {
		if p == "" || strings.Contains(p, "#") {
			return fmt.Errorf("%s: %s %q: invalid key part %q: empty or contains '#'", backend, op, key, p)
		}
	}
	return nil
}
