package benchcpu_test

import (
	"crypto/sha256"
	"testing"

	"github.com/omnisales/rtcollab/tools/benchcpu"
)

// BenchmarkHash shows the metric on work that only computes: cpu-ns/op
// stays close to ns/op on an idle machine.
func BenchmarkHash(b *testing.B) {
	data := make([]byte, 4096)
	stop := benchcpu.Start(b)
	for b.Loop() {
		sha256.Sum256(data)
	}
	stop()
}

func TestProcessCPUAdvances(t *testing.T) {
	r := testing.Benchmark(func(b *testing.B) {
		data := make([]byte, 1<<16)
		stop := benchcpu.Start(b)
		for b.Loop() {
			sha256.Sum256(data)
		}
		stop()
	})
	if v, ok := r.Extra["cpu-ns/op"]; !ok || v <= 0 {
		t.Fatalf("cpu-ns/op = %v (reported %v), want > 0", v, ok)
	}
}
