package runlog

import "github.com/phoenix-hypervisor/phoenix/engine"

// Multi sends every event to each sink in turn. Nil sinks are dropped.
func Multi(sinks ...engine.Sink) engine.Sink {
	var live []engine.Sink
	for _, s := range sinks {
		if s != nil {
			live = append(live, s)
		}
	}
	return engine.SinkFunc(func(e engine.Event) {
		for _, s := range live {
			s.Emit(e)
		}
	})
}

// Filter passes to sink only the events keep accepts.
func Filter(sink engine.Sink, keep func(engine.Event) bool) engine.Sink {
	return engine.SinkFunc(func(e engine.Event) {
		if keep(e) {
			sink.Emit(e)
		}
	})
}

// Level orders the event levels: DEBUG < INFO < WARN < ERROR. An empty
// level counts as INFO.
func Level(e engine.Event) int {
	switch level(e) {
	case "DEBUG":
		return 0
	case "WARN":
		return 2
	case "ERROR":
		return 3
	}
	return 1
}

// level is the event's level, derived for events that carry none: a failed
// stage is an ERROR, a skipped one a WARN.
func level(e engine.Event) string {
	if e.Level != "" {
		return e.Level
	}
	if e.Kind == engine.EventStage {
		switch e.State {
		case engine.StageFailed:
			return "ERROR"
		case engine.StageSkipped:
			return "WARN"
		}
	}
	return "INFO"
}

// source is who an event comes from, as the run log names it: the hook
// file (and line) for hook output, "ct<CTID>/<stage>" for a container's
// stage, "phoenix" for the run itself.
func source(e engine.Event) string {
	switch {
	case e.Source != "":
		return e.Source
	case e.CTID != 0 && e.Stage != "":
		return "ct" + itoa(e.CTID) + "/" + e.Stage
	case e.CTID != 0:
		return "ct" + itoa(e.CTID)
	}
	return "phoenix"
}

// text is the event's message as one human line (before splitting on
// newlines): a stage change says its state, an action its pct command line.
func text(e engine.Event) string {
	switch e.Kind {
	case engine.EventStage:
		if e.Message != "" {
			return e.State + ": " + e.Message
		}
		return e.State
	case engine.EventAction:
		// The source (the hook line that asked) is the log line's source.
		e.Source = ""
		s := engine.FormatAction(e)
		if e.Message != "" {
			s += " (" + e.Message + ")"
		}
		return s
	}
	return e.Message
}
