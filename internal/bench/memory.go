package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is the resident set size of this process, in KiB: when the suite
// started and its high-water mark at the end (VmRSS and VmHWM of
// /proc/self/status, Linux only). The process runs the service's
// components and the load generator together.
type Memory struct {
	StartKiB int64
	PeakKiB  int64
}

type memoryProbe struct{ start int64 }

func startMemory() (memoryProbe, error) {
	rss, err := readStatusKiB("VmRSS")
	return memoryProbe{start: rss}, err
}

func (p memoryProbe) finish() (Memory, error) {
	peak, err := readStatusKiB("VmHWM")
	return Memory{StartKiB: p.start, PeakKiB: peak}, err
}

// readStatusKiB returns a "Name: N kB" field of /proc/self/status.
func readStatusKiB(field string) (int64, error) {
	file, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading the process's memory use: %w", err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		name, value, found := strings.Cut(scanner.Text(), ":")
		if !found || name != field {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %s in /proc/self/status: %w", field, err)
		}
		return kib, nil
	}
	if err := scanner.Err(); err != nil {
		return 0, fmt.Errorf("reading /proc/self/status: %w", err)
	}
	return 0, fmt.Errorf("/proc/self/status has no %s field", field)
}
