package runlog

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// BenchmarkFileEmit: one action event through the redactor (one secret
// registered) into the run log file.
func BenchmarkFileEmit(b *testing.B) {
	f, err := NewFile(filepath.Join(b.TempDir(), "run.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := NewRedactor()
	r.Add("hf_dummyTOKEN123")
	sink := Redact(f, r)
	e := engine.Event{Time: t0, Kind: engine.EventAction, CTID: 950, Stage: "hook", Source: "phoenix_hypervisor_setup_950.lua:12",
		Argv: []string{"exec", "950", "--", "systemctl", "restart", "vllm.service"}}
	b.ReportAllocs()
	for b.Loop() {
		sink.Emit(e)
	}
}

// BenchmarkConsoleEmit: one stage event on a console.
func BenchmarkConsoleEmit(b *testing.B) {
	c := NewConsole(io.Discard, true)
	e := engine.Event{Kind: engine.EventStage, CTID: 901, Stage: "create", State: engine.StageDone, Message: "created"}
	b.ReportAllocs()
	for b.Loop() {
		c.Emit(e)
	}
}
