package runlog

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// JSON writes each event as one JSON object per line (--output json).
// Events keep their own "kind"; other records written through Write share
// the stream, so the writer is locked for both.
type JSON struct {
	mu sync.Mutex
	w  io.Writer
}

var _ engine.Sink = (*JSON)(nil)

// NewJSON returns a JSON-lines sink writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{w: w} }

// Emit writes the event as one line.
func (j *JSON) Emit(e engine.Event) { _ = j.Write(e) }

// Write marshals v as one line. It is how the plan and the summary join
// the event stream.
func (j *JSON) Write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err = j.w.Write(b)
	return err
}
