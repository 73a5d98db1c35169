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
//	[940] hook | line printed by the hook
//	phoenix: WARN no Proxmox host found ...
//
// DEBUG events and stages starting ("running") are shown only when
// Verbose is set; a long shell script shows its first line. A stage that
// runs long gets progress lines ("[950] hook: running 1m30s …"), or on a
// terminal (Live) a status below the event lines, redrawn in place
// (SetStatus).
type Console struct {
	mu      sync.Mutex
	w       io.Writer
	color   bool
	Verbose bool
	// Live: w is a terminal, so progress shows in the status lines of
	// SetStatus, not as progress lines.
	Live   bool
	status []string // drawn below the event lines
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
	if c.Live && e.Kind == engine.EventProgress {
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
	_, _ = io.WriteString(c.w, c.clearStatus()+sb.String()+c.drawStatus())
}

// SetStatus replaces the status lines below the event lines (nil clears
// them): one per long-running container, on a terminal.
func (c *Console) SetStatus(lines []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear := c.clearStatus()
	c.status = append([]string(nil), lines...)
	if out := clear + c.drawStatus(); out != "" {
		_, _ = io.WriteString(c.w, out)
	}
}

// clearStatus moves the cursor up over the drawn status lines and clears
// to the end of the screen. c.mu is held.
func (c *Console) clearStatus() string {
	if len(c.status) == 0 {
		return ""
	}
	return "\x1b[" + itoa(len(c.status)) + "F\x1b[J"
}

// drawStatus writes the status lines. c.mu is held.
func (c *Console) drawStatus() string {
	var sb strings.Builder
	for _, l := range c.status {
		if c.color {
			l = ansiDim + l + ansiReset
		}
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

func consolePrefix(e engine.Event) string {
	p := "phoenix: "
	if e.CTID != 0 {
		p = "[" + itoa(e.CTID) + "] "
	}
	switch e.Kind {
	case engine.EventOutput:
		// A line a command printed, labelled with the stage that ran it
		// (hook, features, app, health, docker, ...).
		if e.Stage != "" {
			return p + e.Stage + " | "
		}
		return p + "| "
	case engine.EventStage, engine.EventAction, engine.EventProgress:
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
