package lock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultPath is where the lock lives unless --lock-file says otherwise.
const DefaultPath = "/run/lock/phoenix_hypervisor.lock"

// Holder identifies the process holding the lock.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Started time.Time `json:"started"`
}

// Self describes the current process.
func Self() Holder {
	return Holder{PID: os.Getpid(), Command: strings.Join(os.Args, " "), Started: time.Now()}
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "an unknown process (the lock file names no holder yet)"
	}
	return fmt.Sprintf("pid %d (%s), started %s", h.PID, h.Command, h.Started.Format("2006-01-02 15:04:05"))
}

// HeldError says that another process holds the lock.
type HeldError struct {
	Path   string
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("another phoenix run holds the lock %s: %s; wait for it to finish (or stop it) and run again", e.Path, e.Holder)
}

// ErrHeld matches any *HeldError with errors.Is.
var ErrHeld = errors.New("lock held by another run")

func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Lock is a held lock. Release it when the run ends; the kernel releases
// it anyway when the process dies, so a crash never leaves a stale lock.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock at path without waiting and records h in it.
// When another process holds it, the error is a *HeldError naming that
// holder.
func Acquire(path string, h Holder) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create lock directory: %w: choose another path with --lock-file or PHOENIX_LOCK_FILE", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w: choose another path with --lock-file or PHOENIX_LOCK_FILE", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, Holder: readHolder(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := writeHolder(f, h); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: record holder: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is the lock file's path.
func (l *Lock) Path() string { return l.path }

// Release empties the holder record and drops the lock. The file itself
// stays: removing it would let a waiting process lock an unlinked inode
// while a third creates a new file.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	terr := l.f.Truncate(0)
	uerr := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	cerr := l.f.Close()
	l.f = nil
	if err := errors.Join(terr, uerr, cerr); err != nil {
		return fmt.Errorf("release lock %s: %w", l.path, err)
	}
	return nil
}

func writeHolder(f *os.File, h Holder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	return f.Sync()
}

func readHolder(f *os.File) Holder {
	var h Holder
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 64<<10))
	if err != nil {
		return h
	}
	_ = json.Unmarshal(b, &h)
	return h
}
