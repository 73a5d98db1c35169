package pct

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/fakepct"
)

// fakePct is the fake pct built once for the package's tests: these tests
// never run a real pct.
var fakePct string

func TestMain(m *testing.M) {
	os.Exit(buildFakeAndRun(m))
}

func buildFakeAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "phoenix-pct-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go env GOMOD:", err)
		return 1
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	fakePct = filepath.Join(dir, "pct")
	build := exec.Command("go", "build", "-o", fakePct, "./cmd/fake-pct")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fake pct: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// host is one fake Proxmox host and a Backend driving it.
type host struct {
	*Backend
	state string
}

func newHost(t testing.TB, env ...string) host {
	t.Helper()
	state := t.TempDir()
	b, err := New(Options{
		Path:    fakePct,
		PVEDir:  filepath.Join(state, "pve"),
		LockDir: filepath.Join(state, "locks"),
		Env:     append([]string{"FAKE_PCT_STATE=" + state}, env...),
	})
	require.NoError(t, err)
	return host{b, state}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (h host) create(t *testing.T, ctid int, opts ...engine.Option) {
	t.Helper()
	require.NoError(t, h.Create(ctx(t), engine.CreateSpec{CTID: ctid, Template: "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", Options: opts}))
}

func (h host) calls(t *testing.T) [][]string {
	t.Helper()
	calls, err := fakepct.ReadCalls(h.state)
	require.NoError(t, err)
	return calls
}
