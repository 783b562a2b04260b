// Package benchcpu adds the process's CPU time per operation to a Go
// benchmark's report. On a shared machine ns/op counts the time a
// benchmark waited for a core; the CPU time the process used (user and
// system, every goroutine and the garbage collector included) does not,
// so it is the steadier figure of what an operation costs.
//
// Entry point: Start.
package benchcpu

import "testing"

// Start begins measuring; the returned function, called after the
// benchmark loop, reports "cpu-ns/op" (CPU time of the whole process
// divided by b.N). Where the platform offers no process CPU clock it
// reports nothing.
func Start(b *testing.B) (stop func()) {
	b.Helper()
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if !ok || !ok2 || b.N == 0 {
			return
		}
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}
