package runlog

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// TimeFormat is the original run log's timestamp (`date '+%Y-%m-%d %H:%M:%S'`).
const TimeFormat = "2006-01-02 15:04:05"

// File appends events to the run log in the original line format:
//
//	2025-09-01 10:00:00 [INFO] phoenix: message
//
// One write per line, on a file opened with O_APPEND, so that legacy hooks
// that `tee -a "$MAIN_LOG_FILE"` at the same time interleave whole lines.
type File struct {
	mu  sync.Mutex
	f   *os.File
	err error // first write error, reported by Close
}

var _ engine.Sink = (*File)(nil)

// NewFile opens (creating it if needed) the run log at path for appending.
func NewFile(path string) (*File, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open run log %s: %w: choose a writable path with --log-file or PHOENIX_LOG_FILE", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open run log %s: %w: choose a writable path with --log-file or PHOENIX_LOG_FILE", path, err)
	}
	return &File{f: f}, nil
}

// Emit appends one line per line of the event's text.
func (l *File) Emit(e engine.Event) {
	b := appendLines(nil, e)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	if _, err := l.f.Write(b); err != nil && l.err == nil {
		l.err = fmt.Errorf("write run log: %w", err)
	}
}

// Close closes the file and reports the first write error, if any.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return l.err
	}
	err := l.f.Close()
	l.f = nil
	if l.err != nil {
		return l.err
	}
	return err
}

// FormatLine renders one run-log line (without the newline).
func FormatLine(t time.Time, level, source, msg string) string {
	return t.Format(TimeFormat) + " [" + level + "] " + source + ": " + msg
}

func appendLines(b []byte, e engine.Event) []byte {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	lvl, src := level(e), source(e)
	for _, line := range lines(text(e)) {
		b = append(b, FormatLine(t, lvl, src, line)...)
		b = append(b, '\n')
	}
	return b
}

// lines splits a message into lines, dropping carriage returns and a
// trailing newline, and escaping other control characters so that a line
// in the log is always one event line.
func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = escapeControl(strings.TrimRight(p, "\r"))
	}
	return parts
}

func escapeControl(s string) string {
	clean := true
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			fmt.Fprintf(&sb, "\\x%02x", r)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func itoa(i int) string { return strconv.Itoa(i) }
