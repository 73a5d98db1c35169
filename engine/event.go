package engine

import "time"

// Event is one thing that happened during a run, for the console, the run
// log and --output json alike.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // see Event* constants
	CTID    int       `json:"ctid,omitempty"`
	Stage   string    `json:"stage,omitempty"`
	State   string    `json:"state,omitempty"` // for EventStage: StageRunning, StageDone, ...
	Level   string    `json:"level,omitempty"` // DEBUG, INFO, WARN, ERROR
	Message string    `json:"message,omitempty"`
	Argv    []string  `json:"argv,omitempty"`   // for EventAction: pct argv, without "pct"
	Source  string    `json:"source,omitempty"` // hook file:line, "" for built-in stages
	// Note is what a plan cannot know about the action: a hook's command
	// in dry-run is recorded, not run, so its output (and what the hook
	// does with it) is "known after run".
	Note string `json:"note,omitempty"`
	// File is what a planned write (pct push, a file under /etc/pve) does
	// to the file's content, when the plan could read the old one.
	File *FileChange `json:"file,omitempty"`
}

// NoteKnownAfterRun marks a recorded hook command whose output the plan
// cannot know.
const NoteKnownAfterRun = "output known after run"

// NoteInsideUnknown marks a planned action in a container whose inside
// the plan could not read (it is stopped on the host): the run looks
// inside first and may find it already done.
const NoteInsideUnknown = "known after run: the container is stopped, its inside is read when it runs"

// BlindSpots is implemented by a recorder that can tell where its plan is
// a guess.
type BlindSpots interface{ Blind(ctid int) bool }

// Recorder is implemented by a backend that records mutating calls
// instead of making them (the dry-run).
type Recorder interface{ Records() bool }

// EnvFileExec is implemented by a backend whose exec with an environment
// is two pct calls, the env file's push and the exec through its wrapper
// (pve.EnvExecCalls): the pct backend, and the dry-run and in-process
// fake that stand for it. Observe emits those two calls, the file named
// pve.EnvFilePlaceholder (its real name is random per exec), so that the
// plan, the console and the run log show what is sent.
type EnvFileExec interface{ EnvInFile() bool }

// envInFile reports whether b passes an exec's environment in a file.
func envInFile(b Backend) bool {
	e, ok := b.(EnvFileExec)
	return ok && e.EnvInFile()
}

// Event kinds.
const (
	EventStage  = "stage"  // a stage changed state
	EventAction = "action" // a backend call (recorded in dry-run, performed otherwise)
	EventOutput = "output" // a line a hook printed
	EventLog    = "log"    // a message
)

// Stage states, as the summary shows them.
const (
	StageRunning = "running"
	StageDone    = "done"
	StageAlready = "already done"
	StageSkipped = "skipped"
	StageFailed  = "failed"
)

// Sink receives events. Implementations must be safe for concurrent use.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

func (f SinkFunc) Emit(e Event) { f(e) }
