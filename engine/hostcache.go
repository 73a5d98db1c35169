package engine

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// hostCache sits between a run and its backend and makes the pct call
// economy a property of the engine (every pct call costs hundreds of
// milliseconds on a Proxmox node): one `pct list` answers every status;
// each container's config and snapshot list are read once and then kept
// up to date from phoenix's own writes; the probes of a container are
// answered by one batched `pct exec` (pve.ProbeScript) until something
// changes inside it. What a hook may have done behind phoenix's back is
// forgotten after the hook (Forget).
type hostCache struct {
	b    Backend
	want func(ctid int) [][]string // the probes a container's stages will ask

	listMu sync.Mutex // one List at a time
	mu     sync.Mutex
	listed bool
	status map[int]Status
	// stale are the containers whose status is not known any more (a
	// hook ran, a write failed): asked with pct status, not taken from
	// the listing.
	stale  map[int]bool
	config map[int]map[string]string
	snaps  map[int][]string
	probes map[int]map[string]ExecResult
	// noBatch: the backend answered a batch with something else (a test
	// double that scripts single probes): ask probes one by one.
	noBatch bool
}

var _ Backend = (*hostCache)(nil)

func newHostCache(b Backend, want func(int) [][]string) *hostCache {
	return &hostCache{b: b, want: want, status: map[int]Status{}, stale: map[int]bool{}, config: map[int]map[string]string{},
		snaps: map[int][]string{}, probes: map[int]map[string]ExecResult{}}
}

func (h *hostCache) Name() string { return h.b.Name() }

// Unwrap is the backend the cache reads through, for the ports it does not
// cache (PVEFiles, HostDirs).
func (h *hostCache) Unwrap() Backend { return h.b }

// GPUSupported asks the backend.
func (h *hostCache) GPUSupported() (bool, string) {
	if g, ok := h.b.(GPUSupport); ok {
		return g.GPUSupported()
	}
	return true, ""
}

// Records passes the dry-run's nature on.
func (h *hostCache) Records() bool {
	r, ok := h.b.(Recorder)
	return ok && r.Records()
}

// EnvInFile passes the backend's exec form on (EnvFileExec).
func (h *hostCache) EnvInFile() bool { return envInFile(h.b) }

// Blind passes the dry-run's blind spots on.
func (h *hostCache) Blind(ctid int) bool {
	bs, ok := h.b.(BlindSpots)
	return ok && bs.Blind(ctid)
}

// Forget drops what is known of ctid (after its hook ran).
func (h *hostCache) Forget(ctid int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forgetStatus(ctid)
	delete(h.config, ctid)
	delete(h.snaps, ctid)
	delete(h.probes, ctid)
}

func (h *hostCache) forgetInside(ctid int) {
	h.mu.Lock()
	delete(h.probes, ctid)
	h.mu.Unlock()
}

func (h *hostCache) Status(ctx context.Context, ctid int) (Status, error) {
	if err := h.list(ctx); err != nil {
		return h.b.Status(ctx, ctid)
	}
	h.mu.Lock()
	st, ok := h.status[ctid]
	if !ok && !h.stale[ctid] {
		ok = true // not in the listing: it does not exist
	}
	h.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := h.b.Status(ctx, ctid)
	if err == nil {
		h.setStatus(ctid, st)
	}
	return st, err
}

// list fills the statuses from one `pct list`, once.
func (h *hostCache) list(ctx context.Context) error {
	h.listMu.Lock()
	defer h.listMu.Unlock()
	h.mu.Lock()
	done := h.listed
	h.mu.Unlock()
	if done {
		return nil
	}
	_, err := h.List(ctx)
	return err
}

// List asks the backend and takes every status from it: a container not
// listed does not exist.
func (h *hostCache) List(ctx context.Context) ([]ListEntry, error) {
	entries, err := h.b.List(ctx)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listed = true
	h.status, h.stale = map[int]Status{}, map[int]bool{}
	for _, e := range entries {
		h.status[e.CTID] = Status{Exists: true, Running: e.Status == "running", Lock: e.Lock}
	}
	return entries, nil
}

// statusOf is what is known of ctid's status: from the listing, a
// container not in it does not exist.
func (h *hostCache) setStatus(ctid int, st Status) {
	h.mu.Lock()
	h.status[ctid] = st
	delete(h.stale, ctid)
	h.mu.Unlock()
}

// forgetStatus makes ctid's status unknown; h.mu is held.
func (h *hostCache) forgetStatus(ctid int) {
	delete(h.status, ctid)
	h.stale[ctid] = true
}

func (h *hostCache) Config(ctx context.Context, ctid int) (map[string]string, error) {
	h.mu.Lock()
	cfg, ok := h.config[ctid]
	h.mu.Unlock()
	if ok {
		return copyConfig(cfg), nil
	}
	cfg, err := h.b.Config(ctx, ctid)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.config[ctid] = copyConfig(cfg)
	h.mu.Unlock()
	return cfg, nil
}

func (h *hostCache) ListSnapshots(ctx context.Context, ctid int) ([]string, error) {
	h.mu.Lock()
	snaps, ok := h.snaps[ctid]
	h.mu.Unlock()
	if ok {
		return append([]string{}, snaps...), nil
	}
	snaps, err := h.b.ListSnapshots(ctx, ctid)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.snaps[ctid] = append([]string{}, snaps...)
	h.mu.Unlock()
	return snaps, nil
}

func copyConfig(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// made records a container phoenix just made: it exists, stopped, with a
// config and snapshots still to be read.
func (h *hostCache) made(ctid int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status[ctid] = Status{Exists: true}
	delete(h.stale, ctid)
	delete(h.config, ctid)
	h.snaps[ctid] = []string{}
	delete(h.probes, ctid)
}

func (h *hostCache) Create(ctx context.Context, spec CreateSpec) error {
	if err := h.b.Create(ctx, spec); err != nil {
		h.Forget(spec.CTID)
		return err
	}
	h.made(spec.CTID)
	return nil
}

func (h *hostCache) Clone(ctx context.Context, spec CloneSpec) error {
	if err := h.b.Clone(ctx, spec); err != nil {
		h.Forget(spec.CTID)
		return err
	}
	h.made(spec.CTID)
	return nil
}

// edit applies fn to ctid's cached config after a write succeeded, or
// forgets it after a failure (what pct did is then unknown).
func (h *hostCache) edit(ctid int, err error, fn func(cfg map[string]string)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cfg, ok := h.config[ctid]
	switch {
	case err != nil:
		delete(h.config, ctid)
		h.forgetStatus(ctid)
	case ok:
		fn(cfg)
	}
	return err
}

func (h *hostCache) Set(ctx context.Context, ctid int, opts []Option, del []string) error {
	return h.edit(ctid, h.b.Set(ctx, ctid, opts, del), func(cfg map[string]string) {
		for _, o := range opts {
			cfg[o.Key] = o.Value
		}
		for _, k := range del {
			delete(cfg, k)
		}
	})
}

func (h *hostCache) AppendRaw(ctx context.Context, ctid int, lines []string) error {
	return h.edit(ctid, h.b.AppendRaw(ctx, ctid, lines), func(cfg map[string]string) {
		pve.AppendRaw(cfg, lines)
	})
}

func (h *hostCache) EditRaw(ctx context.Context, ctid int, edit RawEdit) error {
	return h.edit(ctid, h.b.EditRaw(ctx, ctid, edit), func(cfg map[string]string) {
		pve.ApplyRawEdit(cfg, edit)
	})
}

// running records a start or stop phoenix made; what runs inside changed.
func (h *hostCache) running(ctid int, err error, running bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.probes, ctid)
	st, ok := h.status[ctid]
	switch {
	case err != nil:
		h.forgetStatus(ctid)
	case ok:
		st.Running = running
		h.status[ctid] = st
	}
	return err
}

func (h *hostCache) Start(ctx context.Context, ctid int) error {
	return h.running(ctid, h.b.Start(ctx, ctid), true)
}

func (h *hostCache) Stop(ctx context.Context, ctid int) error {
	return h.running(ctid, h.b.Stop(ctx, ctid), false)
}

func (h *hostCache) Shutdown(ctx context.Context, ctid int, timeout time.Duration) error {
	return h.running(ctid, h.b.Shutdown(ctx, ctid, timeout), false)
}

func (h *hostCache) Snapshot(ctx context.Context, ctid int, name string) error {
	err := h.b.Snapshot(ctx, ctid, name)
	h.mu.Lock()
	defer h.mu.Unlock()
	if snaps, ok := h.snaps[ctid]; ok && err == nil {
		h.snaps[ctid] = append(snaps, name)
	} else {
		delete(h.snaps, ctid)
	}
	return err
}

func (h *hostCache) Destroy(ctx context.Context, ctid int) error {
	err := h.b.Destroy(ctx, ctid)
	h.Forget(ctid)
	if err == nil {
		h.setStatus(ctid, Status{})
	}
	return err
}

func (h *hostCache) Push(ctx context.Context, ctid int, dest string, content []byte, opts PushOptions) error {
	defer h.forgetInside(ctid)
	return h.b.Push(ctx, ctid, dest, content, opts)
}

// Exec answers a probe from the container's batch; any other command may
// change what the probes would see.
func (h *hostCache) Exec(ctx context.Context, ctid int, argv []string, opts ExecOptions) (ExecResult, error) {
	if !opts.Probe || opts.Stdin != nil || len(opts.Env) > 0 {
		defer h.forgetInside(ctid)
		return h.b.Exec(ctx, ctid, argv, opts)
	}
	key := strings.Join(argv, "\x00")
	h.mu.Lock()
	r, ok := h.probes[ctid][key]
	noBatch := h.noBatch
	h.mu.Unlock()
	if ok {
		return r, nil
	}
	if noBatch {
		return h.b.Exec(ctx, ctid, argv, opts)
	}
	probes := [][]string{argv}
	for _, p := range h.want(ctid) {
		if strings.Join(p, "\x00") != key {
			probes = append(probes, p)
		}
	}
	res, err := h.b.Exec(ctx, ctid, []string{"sh", "-c", pve.ProbeScript(probes)}, ExecOptions{Probe: true})
	if err != nil {
		return ExecResult{}, err
	}
	answers, perr := pve.ParseProbeOutput(res.Stdout, len(probes))
	if perr != nil {
		h.mu.Lock()
		h.noBatch = true
		h.mu.Unlock()
		return h.b.Exec(ctx, ctid, argv, opts)
	}
	got := make(map[string]ExecResult, len(probes))
	for i, p := range probes {
		got[strings.Join(p, "\x00")] = probeResult(answers[i])
	}
	if answers[0].Code == 0 || len(argv) != 1 || argv[0] != "true" {
		// A container not ready yet (true failed) is asked again.
		h.mu.Lock()
		h.probes[ctid] = got
		h.mu.Unlock()
	}
	return got[key], nil
}

// probeResult is a batch answer as an ExecResult: the merged output is
// stdout when the check passed, stderr (for the error message) when not.
func probeResult(a pve.ProbeAnswer) ExecResult {
	out := a.Output
	if out != "" {
		out += "\n"
	}
	if a.Code == 0 {
		return ExecResult{Stdout: out}
	}
	return ExecResult{Code: a.Code, Stderr: out}
}
