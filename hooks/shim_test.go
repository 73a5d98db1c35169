package hooks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

func TestIsShim(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"pct", "/tmp/x/bin/pct", "qm", "pvesm", "pveam", "pvesh", "zfs", "zpool", "phoenix-isolate"} {
		assert.True(t, IsShim(n), n)
	}
	for _, n := range []string{"phoenix", "bin/phoenix", "hooks.test", "pct2", ""} {
		assert.False(t, IsShim(n), n)
	}
}

func TestShimOutsideAHookRun(t *testing.T) {
	// Not parallel: it reads the environment of the process.
	var out, errb bytes.Buffer
	os.Unsetenv(envShimSocket)
	code := shimClient([]string{"pct", "status", "940"}, strings.NewReader(""), &out, &errb)
	assert.Equal(t, 127, code)
	assert.Contains(t, errb.String(), "only inside a hook run")
}

// legacyFixture arranges the host the old-style test hook expects.
func legacyFixture(t *testing.T) *shellFixture {
	t.Helper()
	f := newShellFixture(t, 940)
	script, err := os.ReadFile("testdata/legacy_hook.sh")
	require.NoError(t, err)
	f.hook(t, string(script))
	require.NoError(t, writeFile(f.cfg.LXCFile, `{"lxc_configs": {"940": {"name": "LegacyScripted"}}}`))
	f.fake.Put(900, &memhost.Container{Snapshots: []string{"base-snapshot"}})
	f.fake.Exec_ = func(ctid int, argv []string, _ engine.ExecOptions) (engine.ExecResult, bool) {
		if len(argv) == 1 && argv[0] == "hostname" {
			return engine.ExecResult{Stdout: "LegacyScripted\n"}, true
		}
		return engine.ExecResult{}, false
	}
	return f
}

func TestLegacyHookAgainstTheFake(t *testing.T) {
	t.Parallel()
	f := legacyFixture(t)
	require.NoError(t, f.runner.Run(context.Background(), f.req()))

	assert.Contains(t, f.events.output("INFO"), "hostname is LegacyScripted")
	log, err := os.ReadFile(f.log)
	require.NoError(t, err)
	assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[INFO\] phoenix_hypervisor_setup_940.sh: Container 940 \(LegacyScripted\) set up, dry-run=0\n$`, string(log))

	var ops []string
	origin := engine.Origin{CTID: 940, Stage: "hook", Source: "phoenix_hypervisor_setup_940.sh"}
	for _, c := range f.fake.Calls() {
		ops = append(ops, engine.FormatArgv(c.Argv))
		assert.Equal(t, origin, c.Origin, "call %v", c.Argv)
	}
	assert.Equal(t, []string{"pct status 940", "pct listsnapshot 900", "pct exec 940 -- apt-get update", "pct exec 940 -- hostname"}, ops)
}

func TestLegacyHookExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		arrange func(f *shellFixture)
		code    string
		stderr  string
	}{
		{"no argument", func(f *shellFixture) { f.ct.HookArgs = []string{} }, "2", "Usage:"},
		{"container stopped", func(f *shellFixture) {
			f.fake.Put(940, &memhost.Container{Running: false})
		}, "3", "Container 940 is not running"},
		{"container missing", func(f *shellFixture) {
			require.NoError(t, f.fake.Destroy(context.Background(), 940))
		}, "3", "Container 940 is not running"},
		{"no template snapshot", func(f *shellFixture) {
			f.fake.Put(900, &memhost.Container{})
		}, "4", "Template 900 has no base-snapshot"},
		{"exec fails", func(f *shellFixture) {
			f.fake.Exec_ = func(int, []string, engine.ExecOptions) (engine.ExecResult, bool) {
				return engine.ExecResult{Code: 100, Stderr: "E: Could not get lock /var/lib/apt/lists/lock\n"}, true
			}
		}, "5", "E: Could not get lock /var/lib/apt/lists/lock | apt-get update failed in container 940"},
		{"wrong name", func(f *shellFixture) {
			require.NoError(t, writeFile(f.cfg.LXCFile, `{"lxc_configs": {"940": {"name": "Other"}}}`))
		}, "6", "Unexpected container name: Other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := legacyFixture(t)
			if tc.name == "container missing" {
				f.fake.Put(940, &memhost.Container{}) // stopped, then destroyed
			}
			tc.arrange(f)
			err := f.runner.Run(context.Background(), f.req())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "exited with code "+tc.code+"; last stderr lines: ")
			assert.Contains(t, err.Error(), tc.stderr)
			assert.NoFileExists(t, f.log, "the hook failed before logging")
		})
	}
}

// pctAnswer runs one pct call through the shim's server side.
func pctAnswer(t *testing.T, b engine.Backend, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = pctCall(context.Background(), b, shimRequest{Cmd: "pct", Args: args}, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPctShimAnswersAsPct(t *testing.T) {
	t.Parallel()
	f := memhost.New()
	code, out, errs := pctAnswer(t, f, "list")
	assert.Equal(t, 0, code)
	assert.Empty(t, out+errs, "pct list prints nothing at all when there is no container")

	code, _, errs = pctAnswer(t, f, "status", "901")
	assert.Equal(t, 255, code)
	assert.Regexp(t, `^Configuration file 'nodes/[^/]+/lxc/901.conf' does not exist\n$`, errs)

	f.Put(901, &memhost.Container{Running: true, Snapshots: []string{"base-snapshot", "gpu-snapshot"},
		Config: map[string]string{"hostname": "gpu", "memory": "2048", "lxc.mount.entry": "a\nb"}})
	code, out, _ = pctAnswer(t, f, "status", "901")
	assert.Equal(t, 0, code)
	assert.Equal(t, "status: running\n", out)

	_, out, _ = pctAnswer(t, f, "list")
	assert.Equal(t, "VMID       Status     Lock         Name                \n901        running                 gpu                 \n", out)

	_, out, _ = pctAnswer(t, f, "config", "901")
	assert.Equal(t, "hostname: gpu\nmemory: 2048\nlxc.mount.entry: a\nlxc.mount.entry: b\n", out)

	_, out, _ = pctAnswer(t, f, "listsnapshot", "901")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3)
	assert.True(t, strings.HasPrefix(lines[0], "`-> base-snapshot "), lines[0])
	assert.True(t, strings.HasPrefix(lines[1], " `-> gpu-snapshot "), lines[1])
	assert.True(t, strings.HasPrefix(lines[2], "  `-> current "), lines[2])
	assert.True(t, strings.HasSuffix(lines[2], "You are here!"), lines[2])

	code, _, errs = pctAnswer(t, f, "exec", "901", "ls", "-l")
	assert.Equal(t, 255, code, "pct exec without -- fails")
	assert.Contains(t, errs, "put -- before the command")

	f.Exec_ = func(_ int, argv []string, _ engine.ExecOptions) (engine.ExecResult, bool) {
		return engine.ExecResult{Code: 7, Stdout: "o\n", Stderr: "e\n"}, true
	}
	code, out, errs = pctAnswer(t, f, "exec", "901", "--", "false")
	assert.Equal(t, 7, code, "pct exec exits with the command's code")
	assert.Equal(t, "o\n", out)
	assert.Equal(t, "e\n", errs)

	code, _, errs = pctAnswer(t, f, "rollback", "901", "base-snapshot")
	assert.Equal(t, 255, code)
	assert.True(t, errors.Is(unmapped("rollback"), errUnmapped))
	assert.Contains(t, errs, "pct rollback: phoenix shim cannot map")

	code, _, errs = pctAnswer(t, f, "start", "901")
	assert.Equal(t, 255, code)
	assert.Equal(t, "CT 901 already running\n", errs)

	code, _, errs = pctAnswer(t, f, "status", "abc")
	assert.Equal(t, 255, code)
	assert.Contains(t, errs, "does not look like a valid VM ID")
}

func TestPctShimMutatingCallsReachTheBackend(t *testing.T) {
	t.Parallel()
	f := memhost.New()
	f.Put(900, &memhost.Container{Snapshots: []string{"base-snapshot"}, Config: map[string]string{"hostname": "base"}})
	steps := [][]string{
		{"create", "950", "local:vztmpl/ubuntu.tar.zst", "--hostname", "new", "--memory", "1024", "--unprivileged", "1"},
		{"clone", "900", "951", "--snapname", "base-snapshot", "--hostname", "copy", "--full"},
		{"set", "951", "--cores", "4", "--delete", "swap,tags"},
		{"start", "951"},
		{"snapshot", "951", "ready"},
		{"shutdown", "951", "--timeout", "30"},
		{"destroy", "950"},
	}
	for _, s := range steps {
		code, _, errs := pctAnswer(t, f, s...)
		require.Equal(t, 0, code, "pct %v: %s", s, errs)
	}
	var got []string
	for _, c := range f.MutatingCalls() {
		got = append(got, engine.FormatArgv(c.Argv))
	}
	assert.Equal(t, []string{
		"pct create 950 local:vztmpl/ubuntu.tar.zst --hostname new --memory 1024 --unprivileged 1",
		"pct clone 900 951 --snapname base-snapshot --hostname copy --full 1",
		"pct set 951 --cores 4 --delete swap,tags",
		"pct start 951",
		"pct snapshot 951 ready",
		"pct shutdown 951 --timeout 30",
		"pct destroy 950 --purge 1",
	}, got)
	assert.Equal(t, []string{"ready"}, f.Get(951).Snapshots)
}

// pct push reads the host file in the shim (the hook's side) and the
// content reaches the Backend; stdin of pct exec too.
func TestShimPushAndExecStdin(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	var stdin []byte
	f.fake.Exec_ = func(_ int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		stdin = o.Stdin
		return engine.ExecResult{}, true
	}
	f.hook(t, `#!/bin/bash
set -e
echo "motd from the host" > motd.txt
pct push "$1" motd.txt /etc/motd --perms 0644
printf 'line1\nline2\n' | pct exec "$1" -- tee /etc/issue
`)
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Equal(t, []byte("motd from the host\n"), f.fake.Get(940).Files["/etc/motd"])
	assert.Equal(t, "line1\nline2\n", string(stdin))
}

// In a real (not dry) run on a backend other than pct, qm & co. are not
// available; the hook learns it through exit 127.
func TestShimOtherCommandsOnANonPctBackend(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.hook(t, "#!/bin/bash\nqm list\n")
	err := f.runner.Run(context.Background(), f.req())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited with code 127; last stderr lines: qm: not available on the fake backend")
}

// The shim dir is gone after the run.
func TestShimDirRemoved(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.hook(t, "#!/bin/bash\necho \"$PHOENIX_SHIM_SOCKET\"\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	out := f.events.output("INFO")
	require.Len(t, out, 1)
	assert.NoDirExists(t, filepath.Dir(out[0]))
}

// streamingBackend's Exec writes a line, waits for the test, writes
// another: as a real backend streams a long command's output.
type streamingBackend struct {
	*memhost.Backend
	gate chan struct{}
}

func (b *streamingBackend) Exec(ctx context.Context, ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, error) {
	o.Stdout.Write([]byte("step 1 of 2\n"))
	select {
	case <-b.gate:
	case <-ctx.Done():
		return engine.ExecResult{}, ctx.Err()
	}
	o.Stdout.Write([]byte("step 2 of 2\n"))
	return engine.ExecResult{Code: 0, Stdout: "step 1 of 2\nstep 2 of 2\n"}, nil
}

// The output of `pct exec` through the shim reaches the run as it comes,
// and once.
func TestShimStreamsExecOutput(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	b := &streamingBackend{Backend: f.fake, gate: make(chan struct{})}
	f.hook(t, "#!/bin/bash\npct exec \"$1\" -- long-install\necho finished\n")
	req := f.req()
	req.Backend = b
	done := make(chan error, 1)
	go func() { done <- f.runner.Run(context.Background(), req) }()
	f.events.waitOutput(t, "step 1 of 2", 5*time.Second)
	assert.NotContains(t, f.events.output(""), "step 2 of 2")
	close(b.gate)
	require.NoError(t, <-done)
	assert.Equal(t, []string{"step 1 of 2", "step 2 of 2", "finished"}, f.events.output(""))
}

// An endless producer piped into pct exec does not hang the hook.
func TestShimExecStdinIsBounded(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	endless := io.LimitReader(zeroReader{}, maxExecStdin+10)
	code := shimClientWith("/nonexistent.sock", []string{"pct", "exec", "940", "--", "cat"}, endless, &out, &errb)
	assert.Equal(t, 255, code)
	assert.Contains(t, errb.String(), "stdin of pct exec is larger than 64 MiB")
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

// A hook calling pct in a loop gets MaxShimCalls answers; later calls fail
// with a message and the run warns once.
func TestShimCallLimit(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.runner.o.MaxShimCalls = 3
	f.hook(t, "#!/bin/bash\nfor i in 1 2 3 4 5; do pct status \"$1\" || echo \"refused $i\"; done\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Equal(t, []string{"status: running", "status: running", "status: running", "refused 4", "refused 5"}, f.events.output("INFO"))
	assert.Len(t, f.fake.Calls(), 3, "only the calls within the limit reach the backend")
	msg := "phoenix shim: this hook made more than 3 pct/qm/pvesm/... calls (a loop running away?): later calls are refused"
	assert.Equal(t, []string{"pct: " + msg, "pct: " + msg}, f.events.output("WARN"))
	assert.Equal(t, []string{msg}, f.events.warnings())
}

// In dry-run the recorded actions are bounded the same way.
func TestShimCallLimitDryRun(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	f := newShellFixture(t, 940)
	f.runner.o.MaxShimCalls = 2
	f.hook(t, "#!/bin/bash\nfor i in $(seq 10); do qm list || true; done\n")
	req := f.req()
	req.DryRun = true
	require.NoError(t, f.runner.Run(context.Background(), req))
	assert.Len(t, f.events.kind(engine.EventAction), 2)
	assert.Len(t, f.events.warnings(), 1)
}
