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

// Add registers a secret. Token files usually end with a newline, so the
// trimmed value is registered as well; values shorter than 4 bytes are
// ignored because replacing them would mangle ordinary text.
func (r *Redactor) Add(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range []string{secret, strings.TrimSpace(secret)} {
		if len(s) < 4 || r.has(s) {
			continue
		}
		r.secrets = append(r.secrets, s)
	}
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
	return e
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
