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
