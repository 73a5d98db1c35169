package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Observe wraps b so that every mutating call and every Exec that is not a
// probe is emitted to sink as an EventAction (its pct argv, with CTID,
// stage and source from the ctx's Origin) before it is delegated. The
// dry-run plan, the run log and Result.Actions are all built from these
// events, so what a plan shows is exactly what a run does.
//
// The wrapper implements GPUSupport by asking b (a backend that does not
// implement it supports GPUs).
func Observe(b Backend, sink Sink) Backend {
	if sink == nil {
		return b
	}
	return &observed{b: b, sink: sink}
}

var (
	_ Backend         = (*observed)(nil)
	_ GPUSupport      = (*observed)(nil)
	_ Resizer         = (*observed)(nil)
	_ SnapshotDeleter = (*observed)(nil)
	_ BlindSpots      = (*observed)(nil)
)

type observed struct {
	b    Backend
	sink Sink
}

// pushSource stands for the host file pct push would read: the content is
// not part of the plan.
const pushSource = "<content>"

func (o *observed) emit(ctx context.Context, ctid int, argv []string) {
	o.emitNote(ctx, ctid, argv, "")
}

func (o *observed) emitNote(ctx context.Context, ctid int, argv []string, note string) {
	o.emitFile(ctx, ctid, argv, note, nil)
}

// emitFile emits the action with what it does to a file's content (nil:
// not a write, or not known).
func (o *observed) emitFile(ctx context.Context, ctid int, argv []string, note string, file *FileChange) {
	if o.Blind(ctid) {
		note = NoteInsideUnknown
	}
	or := OriginFrom(ctx)
	if or.CTID == 0 {
		or.CTID = ctid
	}
	o.sink.Emit(Event{
		Time:   time.Now(),
		Kind:   EventAction,
		CTID:   or.CTID,
		Stage:  or.Stage,
		Source: or.Source,
		Argv:   argv,
		Note:   note,
		File:   file,
	})
}

func (o *observed) GPUSupported() (bool, string) {
	if g, ok := o.b.(GPUSupport); ok {
		return g.GPUSupported()
	}
	return true, ""
}

func (o *observed) Name() string { return o.b.Name() }

// Blind asks b (BlindSpots): a backend that cannot tell sees everything.
func (o *observed) Blind(ctid int) bool {
	bs, ok := o.b.(BlindSpots)
	return ok && bs.Blind(ctid)
}

func (o *observed) Status(ctx context.Context, ctid int) (Status, error) {
	return o.b.Status(ctx, ctid)
}

func (o *observed) List(ctx context.Context) ([]ListEntry, error) { return o.b.List(ctx) }

func (o *observed) Config(ctx context.Context, ctid int) (map[string]string, error) {
	return o.b.Config(ctx, ctid)
}

func (o *observed) ListSnapshots(ctx context.Context, ctid int) ([]string, error) {
	return o.b.ListSnapshots(ctx, ctid)
}

func (o *observed) Create(ctx context.Context, spec CreateSpec) error {
	o.emit(ctx, spec.CTID, CreateArgv(spec))
	return o.b.Create(ctx, spec)
}

func (o *observed) Clone(ctx context.Context, spec CloneSpec) error {
	o.emit(ctx, spec.CTID, CloneArgv(spec))
	return o.b.Clone(ctx, spec)
}

func (o *observed) Set(ctx context.Context, ctid int, opts []Option, del []string) error {
	o.emit(ctx, ctid, SetArgv(ctid, opts, del))
	return o.b.Set(ctx, ctid, opts, del)
}

func (o *observed) AppendRaw(ctx context.Context, ctid int, lines []string) error {
	o.emit(ctx, ctid, AppendRawArgv(ctid, lines))
	return o.b.AppendRaw(ctx, ctid, lines)
}

func (o *observed) EditRaw(ctx context.Context, ctid int, edit RawEdit) error {
	o.emit(ctx, ctid, EditRawArgv(ctid, edit))
	return o.b.EditRaw(ctx, ctid, edit)
}

func (o *observed) Start(ctx context.Context, ctid int) error {
	o.emit(ctx, ctid, StartArgv(ctid))
	return o.b.Start(ctx, ctid)
}

func (o *observed) Stop(ctx context.Context, ctid int) error {
	o.emit(ctx, ctid, StopArgv(ctid))
	return o.b.Stop(ctx, ctid)
}

func (o *observed) Shutdown(ctx context.Context, ctid int, timeout time.Duration) error {
	o.emit(ctx, ctid, ShutdownArgv(ctid, timeout))
	return o.b.Shutdown(ctx, ctid, timeout)
}

func (o *observed) Snapshot(ctx context.Context, ctid int, name string) error {
	o.emit(ctx, ctid, SnapshotArgv(ctid, name))
	return o.b.Snapshot(ctx, ctid, name)
}

func (o *observed) Destroy(ctx context.Context, ctid int) error {
	o.emit(ctx, ctid, DestroyArgv(ctid))
	return o.b.Destroy(ctx, ctid)
}

func (o *observed) Push(ctx context.Context, ctid int, dest string, content []byte, opts PushOptions) error {
	o.emitFile(ctx, ctid, PushArgv(ctid, pushSource, dest, opts), "", o.pushChange(ctx, ctid, dest, content))
	return o.b.Push(ctx, ctid, dest, content, opts)
}

func (o *observed) Exec(ctx context.Context, ctid int, argv []string, opts ExecOptions) (ExecResult, error) {
	if !opts.Probe {
		note := ""
		if r, ok := o.b.(Recorder); ok && r.Records() && OriginFrom(ctx).Source != "" {
			note = NoteKnownAfterRun
		}
		o.emitExec(ctx, ctid, argv, opts.Env, note)
	}
	return o.b.Exec(ctx, ctid, argv, opts)
}

// emitExec emits the calls of an exec: with an environment, on a backend
// that passes it in a file, the file's push and the wrapped exec
// (pve.EnvExecCalls); the push's content, secret-bearing, is not shown.
func (o *observed) emitExec(ctx context.Context, ctid int, argv []string, env map[string]string, note string) {
	if len(env) > 0 && envInFile(o.b) {
		if calls, err := pve.EnvExecCalls(ctid, pve.EnvFilePlaceholder, argv, env); err == nil {
			o.emitNote(ctx, ctid, calls.PushArgv(ctid, pushSource), note)
			o.emitNote(ctx, ctid, calls.Exec, note)
			return
		} // else the backend refuses the environment, and nothing is sent
	}
	o.emitNote(ctx, ctid, ExecArgv(ctid, argv, env), note)
}

// Resize is emitted, then delegated to b when it can resize.
func (o *observed) Resize(ctx context.Context, ctid int, disk, size string) error {
	r, ok := o.b.(Resizer)
	if !ok {
		return fmt.Errorf("the %s backend cannot resize a disk: grow it by hand or keep storage_size_gb as it is", o.b.Name())
	}
	o.emit(ctx, ctid, ResizeArgv(ctid, disk, size))
	return r.Resize(ctx, ctid, disk, size)
}

// DeleteSnapshot is emitted, then delegated to b when it can delete one.
func (o *observed) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	d, ok := o.b.(SnapshotDeleter)
	if !ok {
		return fmt.Errorf("the %s backend cannot delete a snapshot: delete it by hand, then run again", o.b.Name())
	}
	o.emit(ctx, ctid, DelSnapshotArgv(ctid, name))
	return d.DeleteSnapshot(ctx, ctid, name)
}
