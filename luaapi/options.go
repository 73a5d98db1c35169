package luaapi

import (
	"context"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Options describe one hook run. Every field but Source and Backend may be
// left zero.
type Options struct {
	CTID   int
	Path   string // hook file, for messages (file:line); its base name is the source
	Source []byte

	// Config is read, never written: the hook sees read-only copies.
	Config *engine.Config
	// Backend receives every effect (the dry-run recorder in dry-run).
	Backend engine.Backend
	DryRun  bool
	Version string
	// Events receives log.* and print lines (EventLog, Source "file.lua:LINE").
	Events engine.Sink
	// Redact registers a secret read through config.secret so that the
	// run's sinks replace it; may be nil (the sandbox scrubs what it emits
	// itself either way).
	Redact func(secret string)
	Limits Limits
	// BaseDir is the directory relative secret paths resolve against (the
	// hypervisor config's directory); "" means the current directory.
	BaseDir string
	// ReadSecret, when set, reads the secret file named at configPath
	// instead of the host file (hook tests); nil reads file.
	ReadSecret func(configPath, file string) (string, error)
	// Sleep, when set, replaces the real wait of sleep() (hook tests use
	// a virtual clock); nil waits for real, cancellable by ctx.
	Sleep func(ctx context.Context, d time.Duration) error

	// onLine, in a worker, reports the line the hook is running.
	onLine func(line int)

	// Stage is the stage the hook's actions and lines are recorded under;
	// "" is "hook" (a feature hook runs as "features").
	Stage string
}

// stage is o.Stage, "hook" by default.
func (o Options) stage() string {
	if o.Stage == "" {
		return "hook"
	}
	return o.Stage
}

// Limits bound one hook run. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	Timeout         time.Duration // wall clock; 0: only the caller's ctx
	MaxCallStack    int           // Lua call frames
	MaxRegistry     int           // Lua value stack slots
	MaxStringBytes  int           // largest string a builtin may build or a variable may hold
	MaxTableLen     int           // largest array part a table may reach
	MaxHeapBytes    uint64        // process heap above which running hooks are stopped
	MaxLogLines     int           // log.* / print lines per run; later ones are counted, not emitted
	MaxLogLineBytes int           // longer log lines are cut
	MaxPatternSteps int           // steps of one find/match/gmatch/gsub
	MaxSourceBytes  int           // largest hook file
	MaxExecArgs     int           // pct_exec argv elements
	MaxExecBytes    int           // pct_exec argv + stdin + env total bytes
	MaxErrorBytes   int           // error messages are cut to this length
	MaxBackendCalls int           // pct_* calls per run (a runaway loop would fill the plan)
	MaxActionBytes  int           // argv, env and paths of all pct_* calls of a run (each is kept as an action)
	WorkerMemory    uint64        // address-space limit of a hook worker (RunIsolated); 0: DefaultWorkerMemory
	WorkerGrace     time.Duration // how long a stopped worker has to report before it is killed; 0: 2s
}

// DefaultLimits are used for every zero field of Options.Limits.
var DefaultLimits = Limits{
	MaxCallStack:    200,
	MaxRegistry:     256 * 1024,
	MaxStringBytes:  16 << 20,
	MaxTableLen:     1 << 20,
	MaxHeapBytes:    1 << 30,
	MaxLogLines:     1000,
	MaxLogLineBytes: 4096,
	MaxPatternSteps: 10_000_000,
	MaxSourceBytes:  1 << 20,
	MaxExecArgs:     4096,
	MaxExecBytes:    1 << 20,
	MaxErrorBytes:   2048,
	MaxBackendCalls: 10000,
	MaxActionBytes:  16 << 20,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Timeout > 0 {
		d.Timeout = l.Timeout
	}
	setInt(&d.MaxCallStack, l.MaxCallStack)
	setInt(&d.MaxRegistry, l.MaxRegistry)
	setInt(&d.MaxStringBytes, l.MaxStringBytes)
	setInt(&d.MaxTableLen, l.MaxTableLen)
	if l.MaxHeapBytes > 0 {
		d.MaxHeapBytes = l.MaxHeapBytes
	}
	setInt(&d.MaxLogLines, l.MaxLogLines)
	setInt(&d.MaxLogLineBytes, l.MaxLogLineBytes)
	setInt(&d.MaxPatternSteps, l.MaxPatternSteps)
	setInt(&d.MaxSourceBytes, l.MaxSourceBytes)
	setInt(&d.MaxExecArgs, l.MaxExecArgs)
	setInt(&d.MaxExecBytes, l.MaxExecBytes)
	setInt(&d.MaxErrorBytes, l.MaxErrorBytes)
	setInt(&d.MaxBackendCalls, l.MaxBackendCalls)
	setInt(&d.MaxActionBytes, l.MaxActionBytes)
	if l.WorkerMemory > 0 {
		d.WorkerMemory = l.WorkerMemory
	}
	return d
}

func setInt(dst *int, v int) {
	if v > 0 {
		*dst = v
	}
}

type redactKey struct{}

// WithRedact returns ctx carrying a function that registers secrets with
// the run's redactor (runlog.Redactor.Add). The hooks package passes it to
// Options.Redact, so cmd only has to set it once on the run's context.
func WithRedact(ctx context.Context, add func(secret string)) context.Context {
	return context.WithValue(ctx, redactKey{}, add)
}

type versionKey struct{}

// WithVersion returns ctx carrying the phoenix version that hooks see as
// phoenix.version.
func WithVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, versionKey{}, v)
}

// VersionFrom returns the version set by WithVersion, or "".
func VersionFrom(ctx context.Context) string {
	v, _ := ctx.Value(versionKey{}).(string)
	return v
}

// RedactFrom returns the function set by WithRedact, or nil.
func RedactFrom(ctx context.Context) func(secret string) {
	f, _ := ctx.Value(redactKey{}).(func(string))
	return f
}
