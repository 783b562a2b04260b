package memory_test

import (
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, "memory", func(t *testing.T, clock store.Clock) store.Store {
		t.Helper()
		return memory.New(clock)
	})
}
