package hooks

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/cgrouptest"
)

// TestMain makes the test binary its own shim: invoked as pct, qm, ... or
// phoenix-isolate (through the symlinks a shell hook finds on its PATH) it
// serves the call as the phoenix binary does.
func TestMain(m *testing.M) {
	if os.Getenv(envRealHook) != "" {
		os.Exit(realHookMain())
	}
	if filepath.Base(os.Args[0]) == probeConnectName {
		os.Exit(probeConnectMain(os.Args))
	}
	if IsShim(filepath.Base(os.Args[0])) {
		os.Exit(ShimMain(os.Args))
	}
	// Real runs' hooks get their cgroups below one of this process's own
	// (a fixture's runner gets its own below that: see newShellFixture).
	root, cleanup, err := cgrouptest.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test cgroup:", err)
		os.Exit(1)
	}
	os.Setenv(envHookCgroup, root)
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// events collects what a hook run emits.
type events struct {
	mu  sync.Mutex
	all []engine.Event
	ch  chan engine.Event
}

func newEvents() *events { return &events{ch: make(chan engine.Event, 1024)} }

func (e *events) Emit(ev engine.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	select {
	case e.ch <- ev:
	default:
	}
}

func (e *events) list() []engine.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]engine.Event(nil), e.all...)
}

// output returns the messages of the output events of the given level ("" any).
func (e *events) output(level string) []string {
	var out []string
	for _, ev := range e.list() {
		if ev.Kind == engine.EventOutput && (level == "" || ev.Level == level) {
			out = append(out, ev.Message)
		}
	}
	return out
}

func (e *events) kind(kind string) []engine.Event {
	var out []engine.Event
	for _, ev := range e.list() {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// waitOutput waits for an output line equal to line.
func (e *events) waitOutput(t *testing.T, line string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		for _, m := range e.output("") {
			if m == line {
				return
			}
		}
		select {
		case <-e.ch:
		case <-deadline:
			t.Fatalf("no output line %q within %s; got %q", line, d, e.output(""))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writeHook writes a hook file for ctid in dir.
func writeHook(t *testing.T, dir string, ctid int, kind, content string, mode os.FileMode) string {
	t.Helper()
	p := HookPath(dir, ctid, kind)
	require.NoError(t, os.WriteFile(p, []byte(content), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
