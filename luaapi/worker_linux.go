package luaapi

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// limitMemory caps the worker's address space at what the Go runtime has
// already reserved plus bytes: an allocation beyond it fails and the
// runtime ends the worker, never the phoenix process. (The runtime
// reserves several hundred MiB of address space before main runs, so a
// bare RLIMIT_AS of a few hundred MiB would stop it at once.)
func limitMemory(bytes uint64) error {
	base, err := vmSize()
	if err != nil {
		return err
	}
	total := base + bytes
	lim := &syscall.Rlimit{Cur: total, Max: total}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, lim); err != nil {
		return fmt.Errorf("setrlimit RLIMIT_AS %d: %w", total, err)
	}
	return nil
}

// vmSize is the process's current address-space size.
func vmSize() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read address-space size: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmSize %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmSize in /proc/self/status")
}
