package handler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// TestNewRefusesLockTTLAboveTheCap: a lock.acquire without ttl gets
// EditingConfig.LockTTL, one with a ttl at most MaxLockTTL. handler.New
// refuses a LockTTL longer than MaxLockTTL, the defaults (30 s and 5 min)
// counting for the one left zero, as the environment settings refuse
// LOCK_TTL above LOCK_MAX_TTL; a LockTTL up to the cap is taken.
func TestNewRefusesLockTTLAboveTheCap(t *testing.T) {
	for _, tc := range []struct {
		cfg handler.EditingConfig
		bad bool
	}{
		{cfg: handler.EditingConfig{LockTTL: 10 * time.Minute}, bad: true},
		{cfg: handler.EditingConfig{MaxLockTTL: 10 * time.Second}, bad: true},
		{cfg: handler.EditingConfig{LockTTL: 2 * time.Minute, MaxLockTTL: time.Minute}, bad: true},
		{cfg: handler.EditingConfig{LockTTL: 2 * time.Minute, MaxLockTTL: 2 * time.Minute}},
		{cfg: handler.EditingConfig{LockTTL: 5 * time.Minute}},
		{cfg: handler.EditingConfig{MaxLockTTL: 30 * time.Second}},
		{},
	} {
		_, err := handler.New(handler.Config{Editing: tc.cfg}, handler.Deps{
			Store: memory.New(nil), Posters: func(string) broadcast.Poster { return &fuzzPoster{} }, Auth: fuzzAuth{}})
		switch {
		case tc.bad && err == nil:
			t.Errorf("LockTTL %v, MaxLockTTL %v: New accepted it", tc.cfg.LockTTL, tc.cfg.MaxLockTTL)
		case tc.bad && (!strings.Contains(err.Error(), "LockTTL") || !strings.Contains(err.Error(), "MaxLockTTL")):
			t.Errorf("LockTTL %v, MaxLockTTL %v: error %q does not name LockTTL and MaxLockTTL", tc.cfg.LockTTL, tc.cfg.MaxLockTTL, err)
		case !tc.bad && err != nil:
			t.Errorf("LockTTL %v, MaxLockTTL %v: New = %v, want success", tc.cfg.LockTTL, tc.cfg.MaxLockTTL, err)
		}
	}
}
