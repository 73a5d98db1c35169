package engine

import (
	"context"
	"time"
)

// Backend is the only way Phoenix reaches containers. Built-in stages, Lua
// hooks and the pct shim of shell hooks all go through it.
//
// Read methods (Status, List, Config, ListSnapshots) never change anything.
// Every other method mutates, except Exec, which runs a command in the
// container; dry-run records Exec calls and answers them with code 0.
//
// Errors keep the underlying tool's message (pct's stderr, for example).
type Backend interface {
	// Name is "pct", "lxc", "dry-run", "fake".
	Name() string

	// Status reports whether ctid exists and whether it runs.
	Status(ctx context.Context, ctid int) (Status, error)
	// List returns every container on the host, sorted by CTID.
	List(ctx context.Context) ([]ListEntry, error)
	// Config returns the container's configuration as `pct config` prints
	// it: key -> value (lxc.* raw lines under their key, joined by "\n"
	// when repeated). ErrNotExist when the container does not exist.
	Config(ctx context.Context, ctid int) (map[string]string, error)
	// ListSnapshots returns the snapshot names, without "current".
	ListSnapshots(ctx context.Context, ctid int) ([]string, error)

	Create(ctx context.Context, spec CreateSpec) error
	Clone(ctx context.Context, spec CloneSpec) error
	// Set applies options (`pct set CTID --key value ...`); Delete lists
	// keys to remove.
	Set(ctx context.Context, ctid int, opts []Option, del []string) error
	// AppendRaw adds raw lxc.* lines to the container's configuration,
	// for the legacy GPU passthrough.
	AppendRaw(ctx context.Context, ctid int, lines []string) error
	// EditRaw applies a RawEdit (pve.MergeRaw): raw lxc.* lines replaced
	// or removed, and the description holding the record of the lines
	// Phoenix wrote.
	EditRaw(ctx context.Context, ctid int, edit RawEdit) error
	Start(ctx context.Context, ctid int) error
	Stop(ctx context.Context, ctid int) error
	Shutdown(ctx context.Context, ctid int, timeout time.Duration) error
	Snapshot(ctx context.Context, ctid int, name string) error
	Destroy(ctx context.Context, ctid int) error
	// Push writes content to dest inside the container.
	Push(ctx context.Context, ctid int, dest string, content []byte, opts PushOptions) error
	// Exec runs argv inside the container (`pct exec CTID -- argv...`).
	// A non-zero exit is not an error: it is in ExecResult.Code. err is
	// for failures to run at all (container missing, pct missing, ...).
	Exec(ctx context.Context, ctid int, argv []string, opts ExecOptions) (ExecResult, error)
}

// Status of a container.
type Status struct {
	Exists  bool
	Running bool
	// Lock is the config lock ("backup", "create", ...) or "".
	Lock string
}

// ListEntry is one line of `pct list`.
type ListEntry struct {
	CTID   int
	Status string // running, stopped
	Lock   string
	Name   string
}

// ExecOptions tune one Exec call.
type ExecOptions struct {
	Stdin   []byte
	Env     map[string]string // set inside the container through `env K=V`
	Timeout time.Duration     // 0: none beyond ctx
	// Stdout/Stderr, when set, receive output as it comes in addition to
	// the captured result.
	Stdout, Stderr interface{ Write([]byte) (int, error) }
	// Probe marks a built-in stage's read-only check (nvidia-smi, docker
	// info, cat of a marker, true). Dry-run may forward a probe to the real
	// host; on a container the plan creates it answers as an empty running
	// container: "true" exits 0, anything else exits 127. Hooks never set it.
	Probe bool
}

// ExecResult is the outcome of a command run in a container.
type ExecResult struct {
	Code   int
	Stdout string
	Stderr string
}

// GPUSupport is implemented by backends that may lack GPU passthrough (the
// LXC backend). The NVIDIA stage is then "skipped: <reason>", not failed.
type GPUSupport interface {
	GPUSupported() (ok bool, reason string)
}

// Resizer is implemented by backends that can grow a disk
// (`pct resize CTID DISK SIZE`, size absolute as "64G"). A larger
// storage_size_gb needs it; without it the configure stage fails, saying so.
type Resizer interface {
	Resize(ctx context.Context, ctid int, disk, size string) error
}

// SnapshotDeleter is implemented by backends that can delete a snapshot
// (`pct delsnapshot CTID NAME`): --refresh-templates needs it.
type SnapshotDeleter interface {
	DeleteSnapshot(ctx context.Context, ctid int, name string) error
}
