package loadtest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcRSS returns the current (VmRSS) and peak (VmHWM) resident set size
// in bytes of process pid, or of the calling process when pid is 0, from
// /proc/<pid>/status. It works on Linux only.
func ProcRSS(pid int) (current, peak int64, err error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read RSS of %q: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("read RSS of %q: unexpected %s line %q", path, name, value)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("read RSS of %q: %s: %w", path, name, err)
		}
		if name == "VmRSS" {
			current = kb * 1024
		} else {
			peak = kb * 1024
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read RSS of %q: %w", path, err)
	}
	if current == 0 || peak == 0 {
		return 0, 0, fmt.Errorf("read RSS of %q: no VmRSS or VmHWM line", path)
	}
	return current, peak, nil
}

// ProcCPU returns the user plus system CPU time, in seconds, that process
// pid (the calling process when 0) has used, from /proc/<pid>/stat. It
// works on Linux only, where the clock tick is 100 Hz.
func ProcCPU(pid int) (float64, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read CPU time of %q: %w", path, err)
	}
	// The command name may hold spaces: fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("read CPU time of %q: malformed stat line", path)
	}
	f := strings.Fields(s[i+1:])
	// After ')': state is field 3 of stat(5), utime 14 and stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("read CPU time of %q: %d fields", path, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read CPU time of %q: %w", path, err)
		}
		ticks += n
	}
	return float64(ticks) / 100, nil
}
