package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
)

// FileChange is what a planned write (a pct push, a file under /etc/pve)
// does to the file, when the plan could read what is there: the plan
// shows the changed lines instead of the whole content.
type FileChange struct {
	Path string `json:"path"`
	// New: there is no such file yet.
	New bool `json:"new,omitempty"`
	// Unchanged: the file already holds exactly this content.
	Unchanged bool `json:"unchanged,omitempty"`
	// Size is the new content's length in bytes.
	Size int `json:"size"`
	// Diff is the unified diff old → new (hunks only, the action names the
	// file), at most diffMaxLines lines, "" for a new, unchanged or binary
	// file.
	Diff string `json:"diff,omitempty"`
}

// Diff shape: a few lines of context, and a cap so that a rewritten file
// does not bury the rest of the plan.
const (
	diffContext  = 2
	diffMaxLines = 24
)

// changeOf compares the old content with the new. A file whose content is
// not text gets no diff, only its size.
func changeOf(path string, old, content []byte) *FileChange {
	fc := &FileChange{Path: path, Size: len(content)}
	if bytes.Equal(old, content) {
		fc.Unchanged = true
		return fc
	}
	if !isText(old) || !isText(content) {
		return fc
	}
	diff, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: diffLines(old), B: diffLines(content), Context: diffContext,
	})
	if err != nil { // writes to a strings.Builder: cannot fail
		return fc
	}
	fc.Diff = capLines(diff, diffMaxLines)
	return fc
}

// newFile is a write to a path where there is no file.
func newFile(path string, content []byte) *FileChange {
	return &FileChange{Path: path, New: true, Size: len(content)}
}

// diffLines splits content into lines for difflib, each ending in "\n";
// a last line without one is marked as diff(1) does, so that adding or
// dropping the final newline shows as a change.
func diffLines(content []byte) []string {
	if len(content) == 0 {
		return nil
	}
	s := string(content)
	noEOL := !strings.HasSuffix(s, "\n")
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	if noEOL {
		lines[len(lines)-1] += "\n\\ No newline at end of file\n"
	} else {
		lines[len(lines)-1] += "\n"
	}
	return lines
}

func isText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }

// capLines keeps the first max lines of s and says how many were left out.
func capLines(s string, max int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) <= max {
		return s
	}
	return strings.Join(lines[:max], "\n") + fmt.Sprintf("\n… %d more lines\n", len(lines)-max)
}

// Summary is the note a plan line carries for the change: "new file, 65
// bytes", "content unchanged", or "" when the diff shows it.
func (fc *FileChange) Summary() string {
	switch {
	case fc == nil:
		return ""
	case fc.New:
		return fmt.Sprintf("new file, %d bytes", fc.Size)
	case fc.Unchanged:
		return "content unchanged"
	case fc.Diff == "":
		return fmt.Sprintf("%d bytes, not text", fc.Size)
	}
	return ""
}

// records reports whether the backend records instead of acting (a plan).
func (o *observed) records() bool {
	r, ok := o.b.(Recorder)
	return ok && r.Records()
}

// pushChange is what a planned push does to dest, read from the container
// as the plan leaves it (what the plan wrote earlier, else the host's
// file): nil outside a plan, or when the old content cannot be read.
func (o *observed) pushChange(ctx context.Context, ctid int, dest string, content []byte) *FileChange {
	if !o.records() {
		return nil
	}
	switch old, st := readInside(ctx, unwrapped(o.b), ctid, dest); st {
	case fileAbsent:
		return newFile(dest, content)
	case fileRead:
		return changeOf(dest, old, content)
	}
	return nil
}

// What readInside found.
const (
	fileUnknown = iota // unreadable, or not known before the run
	fileAbsent
	fileRead
)

// readInside reads a file in the container with a probe `cat`, which
// changes nothing. b is a backend under the run's cache: its batched
// probes trim the output, and a file is compared to the byte.
func readInside(ctx context.Context, b Backend, ctid int, path string) ([]byte, int) {
	r, err := b.Exec(ctx, ctid, []string{"cat", path}, ExecOptions{Probe: true})
	switch {
	case err != nil:
		return nil, fileUnknown
	case r.Code == 1 && strings.Contains(r.Stderr, "No such file"):
		return nil, fileAbsent
	case r.Code != 0:
		return nil, fileUnknown
	}
	return []byte(r.Stdout), fileRead
}
