package lxc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTool puts an executable shell script named name on a PATH of its
// own (the test's PATH is only that directory and /bin:/usr/bin).
func fakeTool(t *testing.T, name, script string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755))
	t.Setenv("PATH", dir+":/usr/bin:/bin")
}

// A failing tool's error carries its last stderr lines, not only "exit
// status N": LXC says why there (a missing rsync).
func TestRunToolErrorCarriesTheToolsLastStderrLines(t *testing.T) {
	fakeTool(t, "lxc-snapshot", `
for i in 1 2 3 4 5 6 7 8 9 10; do echo "noise $i" >&2; done
echo "progress on stdout"
echo 'lxc-snapshot: 100: storage.c: storage_copy: 511 Failed to rsync from "/a" into "/b"' >&2
echo "lxc-snapshot: 100: lxc_snapshot.c: do_snapshot: 197 Error creating a snapshot" >&2
echo "args: $*" >&2
exit 3
`)
	b := &Backend{path: t.TempDir()}
	out, err := b.run(context.Background(), nil, "lxc-snapshot", "-n", "100", "-P", "/x")
	require.Error(t, err)
	assert.Equal(t, "progress on stdout\n", out)

	var te *ToolError
	require.True(t, errors.As(err, &te), "%T", err)
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee))
	assert.Equal(t, 3, ee.ExitCode())
	assert.Len(t, te.Tail, toolTailLines)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "lxc-snapshot --logpriority=ERROR -n 100 -P /x: exit status 3: "), msg)
	assert.Contains(t, msg, `Failed to rsync from "/a" into "/b"`)
	assert.Contains(t, msg, "Error creating a snapshot")
	// LXC's tools print their errors only with a log priority.
	assert.Contains(t, msg, "args: --logpriority=ERROR -n 100 -P /x")
	assert.Contains(t, msg, "noise 10")
	assert.NotContains(t, msg, "noise 6;", "only the last lines")
	assert.NotContains(t, msg, "progress on stdout", "stderr said why: stdout is not needed")
}

// A tool that says nothing on stderr: its last stdout lines instead.
func TestRunToolFallsBackToStdout(t *testing.T) {
	fakeTool(t, "cp", "echo 'cp: no space left'; exit 1\n")
	b := &Backend{path: t.TempDir()}
	_, err := b.run(context.Background(), nil, "cp", "-a", "x", "y")
	require.Error(t, err)
	assert.Equal(t, "cp -a x y: exit status 1: cp: no space left", err.Error())
}

// A tool that is not installed: the error says which.
func TestRunToolNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	b := &Backend{path: t.TempDir()}
	_, err := b.run(context.Background(), nil, "lxc-copy", "-n", "1")
	require.Error(t, err)
	assert.ErrorIs(t, err, exec.ErrNotFound)
	assert.Contains(t, err.Error(), "lxc-copy")
}

// debootstrap's failure carries its own last lines too.
func TestDebootstrapErrorCarriesItsStderr(t *testing.T) {
	fakeTool(t, "debootstrap", "echo 'I: Retrieving InRelease'; echo 'E: Failed getting release file http://deb.example/dists/bookworm/Release' >&2; exit 1\n")
	dir := filepath.Join(t.TempDir(), "rootfs")
	_, _, err := EnsureRootfs(context.Background(), RootfsOptions{Dir: dir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "E: Failed getting release file http://deb.example/dists/bookworm/Release")
	assert.NoDirExists(t, dir+".building", "a failed build leaves nothing")
	assert.NoDirExists(t, dir)
}

func TestLXCLogArgs(t *testing.T) {
	assert.Equal(t, []string{"-a"}, lxcLogArgs("cp", []string{"-a"}))
	assert.Equal(t, []string{"--logpriority=ERROR", "-n", "1"}, lxcLogArgs("lxc-stop", []string{"-n", "1"}))
	keep := []string{"-n", "1", "-o", "f", "-l", "ERROR"}
	assert.Equal(t, keep, lxcLogArgs("lxc-start", keep))
}

// lxc-start's own stderr ends with "The container failed to start": its
// error carries the start log's first errors too, where LXC says why.
func TestStartFailureCarriesTheStartLogsFirstErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lxc-info"), []byte("#!/bin/sh\necho STOPPED\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lxc-start"), []byte(`#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -o ] && log=$2; shift; done
echo "lxc-start 100 ERROR conf - Failed to pivot_root()" >> "$log"
echo "lxc-start 100 ERROR start - Failed to setup container" >> "$log"
echo "lxc-start 100 ERROR sync - An error occurred in another process" >> "$log"
echo "lxc-start 100 ERROR lxc_start - The container failed to start" >> "$log"
echo "lxc-start: 100: The container failed to start" >&2
exit 1
`), 0o755))
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	b := &Backend{path: t.TempDir()}
	require.NoError(t, os.MkdirAll(b.dir(100), 0o755))
	require.NoError(t, os.WriteFile(b.confPath(100), []byte("lxc.uts.name = x\n"), 0o644))
	err := b.Start(context.Background(), 100)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exit status 1: lxc-start: 100: The container failed to start; first errors in ")
	assert.Contains(t, err.Error(), "Failed to pivot_root(); lxc-start 100 ERROR start - Failed to setup container; lxc-start 100 ERROR sync")
	assert.NotContains(t, err.Error(), "lxc_start - The container failed to start", "the first errors only")
}
