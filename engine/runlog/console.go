package runlog

import (
	"io"
	"strings"
	"sync"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// ANSI colours, used only when the console is a terminal.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

// Console prints progress for a person: one line per event, prefixed with
// the container it concerns:
//
//	[901] create: done
//	[901] create: pct clone 900 901 --snapname base-snapshot --hostname BaseTemplateGPU
//	[940] | line printed by the hook
//	phoenix: WARN no Proxmox host found ...
//
// DEBUG events and stages starting ("running") are shown only when
// Verbose is set; a long shell script shows its first line.
type Console struct {
	mu      sync.Mutex
	w       io.Writer
	color   bool
	Verbose bool
}

var _ engine.Sink = (*Console)(nil)

// NewConsole returns a console sink writing to w; color enables ANSI
// colours (pass term.IsTerminal of the output).
func NewConsole(w io.Writer, color bool) *Console { return &Console{w: w, color: color} }

// Emit prints the event.
func (c *Console) Emit(e engine.Event) {
	if !c.Verbose && (Level(e) == 0 || e.Kind == engine.EventStage && e.State == engine.StageRunning) {
		return
	}
	var sb strings.Builder
	prefix := consolePrefix(e)
	col := c.colour(e)
	for _, line := range lines(consoleText(e)) {
		sb.WriteString(prefix)
		if col != "" {
			sb.WriteString(col + line + ansiReset)
		} else {
			sb.WriteString(line)
		}
		sb.WriteByte('\n')
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, sb.String())
}

func consolePrefix(e engine.Event) string {
	p := "phoenix: "
	if e.CTID != 0 {
		p = "[" + itoa(e.CTID) + "] "
	}
	switch e.Kind {
	case engine.EventOutput:
		return p + "| "
	case engine.EventStage, engine.EventAction:
		if e.Stage != "" {
			return p + e.Stage + ": "
		}
	}
	return p
}

func consoleText(e engine.Event) string {
	switch e.Kind {
	case engine.EventAction:
		return engine.FormatAction(e)
	case engine.EventLog:
		if l := level(e); l != "INFO" {
			return l + " " + e.Message
		}
	}
	return text(e)
}

func (c *Console) colour(e engine.Event) string {
	if !c.color {
		return ""
	}
	if e.Kind == engine.EventStage {
		switch e.State {
		case engine.StageDone:
			return ansiGreen
		case engine.StageAlready:
			return ansiDim
		}
	}
	switch Level(e) {
	case 0:
		return ansiDim
	case 2:
		return ansiYellow
	case 3:
		return ansiRed
	}
	return ""
}
