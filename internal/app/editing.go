package app

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/editing"
	"github.com/omnisales/rtcollab/internal/handler"
)

// editingFromEnv reads the editing settings through getenv:
//
//	CONFLICT_STRATEGIES  type=strategy pairs, e.g.
//	                     "order=lock-based,inventory=crdt,*=manual"; the
//	                     pairs add to or replace the defaults
//	                     (order=lock-based, inventory=crdt,
//	                     customer=operational-transform, pricing=manual),
//	                     and "*" sets the strategy of every other type
//	                     (default last-write-wins). Strategies:
//	                     last-write-wins (lww), operational-transform (ot),
//	                     crdt, lock-based (lock), manual.
//	LOCK_TTL             default lock lifetime, a Go duration (default 30s),
//	                     at most LOCK_MAX_TTL
//	LOCK_MAX_TTL         longest lock lifetime a client may ask for (default 5m)
//	HISTORY_LIMIT        changes kept per entity (default 100)
//	IDEMPOTENCY_TTL      how long replies are kept for resends (default 24h)
func editingFromEnv(getenv func(string) string) (handler.EditingConfig, error) {
	var c handler.EditingConfig
	if v := getenv("CONFLICT_STRATEGIES"); v != "" {
		types, fallback, err := editing.ParseStrategies(v)
		if err != nil {
			return c, fmt.Errorf("CONFLICT_STRATEGIES %q: %w", v, err)
		}
		t := editing.Table{Types: editing.DefaultStrategies()}.Merge(types, fallback)
		c.Strategies, c.Fallback = t.Types, t.Fallback
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"LOCK_TTL", &c.LockTTL},
		{"LOCK_MAX_TTL", &c.MaxLockTTL},
		{"IDEMPOTENCY_TTL", &c.IdempotencyTTL},
	} {
		if v := getenv(d.name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 {
				return c, fmt.Errorf("%s %q: want a positive duration", d.name, v)
			}
			*d.dst = t
		}
	}
	// A lock.acquire without ttl gets LOCK_TTL; one with a ttl gets at most
	// LOCK_MAX_TTL. A default above the cap would outlive every lock a
	// client may ask for; handler.New refuses it too (collab.Config.Check).
	if err := c.Check(); err != nil {
		var lerr *collab.LockTTLError
		if !errors.As(err, &lerr) {
			return c, err
		}
		return c, fmt.Errorf("LOCK_TTL %s is longer than LOCK_MAX_TTL %s (defaults 30s and 5m): a lock asked for without ttl would outlive the longest a client may ask for; lower LOCK_TTL or raise LOCK_MAX_TTL",
			lerr.LockTTL, lerr.MaxLockTTL)
	}
	if v := getenv("HISTORY_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("HISTORY_LIMIT %q: want a positive integer", v)
		}
		c.HistoryLimit = n
	}
	return c, nil
}
