//go:build !linux

package luaapi

// limitMemory is a no-op where RLIMIT_AS is not available; the in-process
// guards still apply inside the worker.
func limitMemory(uint64) error { return nil }
