package store

import (
	"encoding/base64"
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

// EncodeCursor turns the sort key of the last returned item into an opaque
// cursor. Both backends use this encoding, so their cursors agree.
func EncodeCursor(sk string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(sk))
}

// DecodeCursor returns the sort key a cursor stands for ("" for none); the
// key must start with prefix, the kind of item the listing returns.
func DecodeCursor(cursor, prefix string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(b), prefix) {
		return "", fmt.Errorf("invalid cursor %q", cursor)
	}
	return string(b), nil
}
