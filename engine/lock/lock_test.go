package lock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary act as a second process holding the lock:
// with LOCK_TEST_HOLD=path it takes the lock, says "locked", and holds it
// until its stdin closes.
func TestMain(m *testing.M) {
	if path := os.Getenv("LOCK_TEST_HOLD"); path != "" {
		l, err := Acquire(path, Holder{PID: os.Getpid(), Command: "phoenix run --test-holder", Started: time.Now()})
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSecondProcessIsRefusedNamingTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "phoenix.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCK_TEST_HOLD="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = Acquire(path, Self())
	require.Error(t, err)
	var held *HeldError
	require.ErrorAs(t, err, &held)
	assert.True(t, errors.Is(err, ErrHeld))
	assert.Equal(t, cmd.Process.Pid, held.Holder.PID)
	assert.Equal(t, "phoenix run --test-holder", held.Holder.Command)
	assert.WithinDuration(t, time.Now(), held.Holder.Started, time.Minute)
	assert.Contains(t, err.Error(), "pid ")
	assert.Contains(t, err.Error(), "phoenix run --test-holder")
	assert.Contains(t, err.Error(), path)

	// The holder ends: the lock is free again.
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	l, err := Acquire(path, Self())
	require.NoError(t, err)
	require.NoError(t, l.Release())
}

func TestDeadHolderLeavesNoStaleLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phoenix.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCK_TEST_HOLD="+path)
	_, err := cmd.StdinPipe() // kept open: the holder waits
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	_, err = bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	l, err := Acquire(path, Self())
	require.NoError(t, err, "a killed holder's lock is released by the kernel")
	require.NoError(t, l.Release())
}

func TestSameProcessSecondAcquireFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phoenix.lock")
	me := Holder{PID: 4242, Command: "phoenix run", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)}
	l, err := Acquire(path, me)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"pid":4242`)

	_, err = Acquire(path, Self())
	var held *HeldError
	require.ErrorAs(t, err, &held)
	assert.Equal(t, me.PID, held.Holder.PID)
	assert.Contains(t, err.Error(), "pid 4242 (phoenix run), started 2026-01-02 03:04:05")

	require.NoError(t, l.Release())
	require.NoError(t, l.Release(), "release twice is harmless")
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Empty(t, b, "the holder record is cleared on release")
}

func TestUnusablePathSaysWhatToDo(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	_, err := Acquire(filepath.Join(blocker, "x.lock"), Self())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--lock-file")
	assert.False(t, errors.Is(err, ErrHeld))
}
