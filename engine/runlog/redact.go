package runlog

import (
	"strings"
	"sync"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Redacted replaces a secret wherever it would be written.
const Redacted = "[REDACTED]"

// Redactor holds the secrets of a run (for example the Hugging Face token a
// Lua hook reads through config.secret). Add and String are safe for
// concurrent use: hooks register secrets while other containers log.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string
}

// NewRedactor returns a Redactor with no secrets.
func NewRedactor() *Redactor { return &Redactor{} }

// Add registers a secret. Token files usually end with a newline: only the
// trimmed value is registered, because replacing the newline with the
// secret would glue the next line of the output onto the redacted one.
// Values shorter than 4 bytes are ignored because replacing them would
// mangle ordinary text.
func (r *Redactor) Add(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.TrimSpace(secret)
	if len(s) < 4 || r.has(s) {
		return
	}
	r.secrets = append(r.secrets, s)
	// Longest first, so a secret that contains another is replaced whole.
	sortByLenDesc(r.secrets)
}

func (r *Redactor) has(s string) bool {
	for _, v := range r.secrets {
		if v == s {
			return true
		}
	}
	return false
}

// String returns s with every registered secret replaced by Redacted.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, v := range r.secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// Event returns e with its text fields redacted. Argv is copied, never
// modified in place: other holders of the event keep their slice.
func (r *Redactor) Event(e engine.Event) engine.Event {
	e.Message = r.String(e.Message)
	e.Source = r.String(e.Source)
	if len(e.Argv) > 0 {
		argv := make([]string, len(e.Argv))
		for i, a := range e.Argv {
			argv[i] = r.String(a)
		}
		e.Argv = argv
	}
	e.File = r.File(e.File)
	return e
}

// Result returns res with its containers' actions redacted (Event), for
// writing it: the plan's file diffs hold content read back from the
// host, which a redaction of the rendered text alone cannot see through
// (an old secret, in no token file any more). res is not modified.
func (r *Redactor) Result(res *engine.Result) *engine.Result {
	if r == nil || res == nil {
		return res
	}
	cp := *res
	cp.Containers = make([]*engine.ContainerResult, len(res.Containers))
	for i, c := range res.Containers {
		cc := *c
		cc.Actions = make([]engine.Event, len(c.Actions))
		for j, a := range c.Actions {
			cc.Actions[j] = r.Event(a)
		}
		cp.Containers[i] = &cc
	}
	return &cp
}

// File returns a copy of fc with its path and diff redacted (nil: nil).
func (r *Redactor) File(fc *engine.FileChange) *engine.FileChange {
	if r == nil || fc == nil {
		return fc
	}
	cp := *fc
	cp.Path = r.String(fc.Path)
	cp.Diff = r.diff(fc.Diff)
	return &cp
}

// diff redacts a unified diff line by line. A secret in a line is
// replaced as anywhere else; and the same line on the other side of a
// change loses its value too: the old side of a rotated token holds the
// old token, which is in no token file any more ("-HF_TOKEN=hf_old",
// "+HF_TOKEN=hf_new" both become "HF_TOKEN=[REDACTED]"). The lines of a
// change are the run of '-' and '+' lines between context lines; the
// other side's line is the one that has the same text around the
// redacted value (with nothing around it: every line of the change).
func (r *Redactor) diff(d string) string {
	if d == "" {
		return d
	}
	lines := strings.Split(d, "\n")
	for start := 0; start < len(lines); {
		if !changed(lines[start]) {
			lines[start] = r.String(lines[start])
			start++
			continue
		}
		end := start
		for end < len(lines) && (changed(lines[end]) || strings.HasPrefix(lines[end], "\\")) {
			end++
		}
		r.change(lines[start:end])
		start = end
	}
	return strings.Join(lines, "\n")
}

// changed: a removed or added line of a hunk.
func changed(l string) bool { return strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") }

// change redacts the lines of one change in place.
func (r *Redactor) change(block []string) {
	type around struct {
		side           byte
		prefix, suffix string
	}
	var found []around
	for i, l := range block {
		red := r.String(l)
		if red == l {
			continue
		}
		block[i] = red
		first, last := strings.Index(red, Redacted), strings.LastIndex(red, Redacted)
		found = append(found, around{red[0], red[1:first], red[last+len(Redacted):]})
	}
	for _, f := range found {
		for i, l := range block {
			if !changed(l) || l[0] == f.side || strings.Contains(l, Redacted) {
				continue
			}
			body := l[1:]
			if len(body) >= len(f.prefix)+len(f.suffix) && strings.HasPrefix(body, f.prefix) && strings.HasSuffix(body, f.suffix) {
				block[i] = l[:1] + f.prefix + Redacted + f.suffix
			}
		}
	}
}

func sortByLenDesc(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && len(s[j]) > len(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Redact wraps sink so that every event is redacted by r before sink sees it.
func Redact(sink engine.Sink, r *Redactor) engine.Sink {
	return engine.SinkFunc(func(e engine.Event) { sink.Emit(r.Event(e)) })
}
