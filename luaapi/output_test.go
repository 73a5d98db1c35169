package luaapi

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// streamingExec makes the fake container print "one", "two" on stdout and
// "oops\nwent wrong" on stderr, then exit 3; seen holds how many output
// events had reached ev before the command ended.
func streamingExec(ev *events, seen *int) func(o *Options) {
	return func(o *Options) {
		o.Backend.(*memhost.Backend).Exec_ = func(ctid int, argv []string, eo engine.ExecOptions) (engine.ExecResult, bool) {
			fmt.Fprint(eo.Stdout, "one\ntw")
			fmt.Fprint(eo.Stdout, "o\n")
			fmt.Fprint(eo.Stderr, "oops\nwent wrong")
			*seen = len(outputs(ev))
			return engine.ExecResult{Code: 3, Stdout: "one\ntwo\n", Stderr: "oops\nwent wrong"}, true
		}
	}
}

func outputs(ev *events) []engine.Event {
	var out []engine.Event
	for _, e := range ev.all() {
		if e.Kind == engine.EventOutput {
			out = append(out, e)
		}
	}
	return out
}

// pct_exec's output streams into the events line by line as it comes, as
// a shell hook's does (stderr at WARN), in process and from a worker; a
// failure shows the last stderr lines as lines, not \x0a.
func TestPctExecOutputStreams(t *testing.T) {
	src := "log.info('start')\nlocal r = pct_exec({'make'})"
	for _, isolated := range []bool{false, true} {
		ev, seen := &events{}, 0
		mods := []func(*Options){func(o *Options) { o.Events = ev }, streamingExec(ev, &seen)}
		var err error
		if isolated {
			err, _ = runIsolated(t, src, mods...)
		} else {
			err, _, _ = run(t, src, mods...)
		}
		he := hookErr(t, err)
		require.Equal(t, `pct_exec {"make"}: exit 3: oops | went wrong`, he.Message, "isolated %v", isolated)
		require.Equal(t, 2, he.Line)
		require.Equal(t, 3, seen, "whole lines are out before the command ends (isolated %v)", isolated)
		var got []string
		for _, e := range outputs(ev) {
			require.Equal(t, "phoenix_hypervisor_setup_950.lua:2", e.Source)
			require.Equal(t, 950, e.CTID)
			got = append(got, e.Level+" "+e.Message)
		}
		require.Equal(t, []string{"INFO one", "INFO two", "WARN oops", "WARN went wrong"}, got, "isolated %v", isolated)
	}
}

func TestLastLines(t *testing.T) {
	require.Equal(t, "c | d | e", lastLines("a\nb\nc\nd\ne", 3, 100))
	require.Equal(t, "x", lastLines("x\r", 3, 100))
	require.Equal(t, "…fg", lastLines("abcdefg", 3, 2))
}
