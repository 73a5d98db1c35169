package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// StatusOptions configure Inspect.
type StatusOptions struct {
	Config *Config
	// Backend is only read (List, Config, ListSnapshots, and one batched
	// probe per running container reading its markers). The CLI hands the dry-run recorder over the
	// host, so that not even a bug here could change anything.
	Backend Backend
	Hooks   HookRunner // nil: NoHooks
	CTIDs   []int      // empty: every container
}

// Hook states of a ContainerStatus.
const (
	HookConverged = "converged" // the marker matches the hook and the config
	HookChanged   = "changed"   // the marker is of another hook or config: a run would run it again
	HookNotRun    = "not run"   // no marker: it never completed
	HookUnknown   = "unknown"   // the container is stopped or missing: the marker cannot be read
	HookNone      = "no hook"   // no hook file for this container
)

// States of a ContainerStatus, as status and graph --status show them.
const (
	StateBuilt   = "built"
	StateDrifted = "drifted"
	StateFailed  = "failed"
	StateMissing = "missing"
)

// ContainerStatus is one configured container as the host has it.
type ContainerStatus struct {
	CTID      int      `json:"ctid"`
	Name      string   `json:"name"`
	Exists    bool     `json:"exists"`
	Running   bool     `json:"running"`
	Lock      string   `json:"lock,omitempty"`
	Snapshots []string `json:"snapshots"`
	// MissingSnapshot is the template snapshot a template container does
	// not have yet (its clones need it).
	MissingSnapshot string `json:"missing_snapshot,omitempty"`
	// StaleSnapshot says why the template snapshot no longer matches the
	// container (its marker is of another config entry or hook), as the
	// plan's warning does; "" when it matches or nothing tells (stopped,
	// no marker).
	StaleSnapshot string `json:"stale_snapshot,omitempty"`
	snapshot      string // the template snapshot's name, for StaleSnapshot
	Hook          string `json:"hook,omitempty"` // HookLua, HookShell, "" (none)
	HookState     string `json:"hook_state"`
	// Scripts are the feature hooks and the application script that run
	// before the hook, in that order, each with its marker's state.
	Scripts []ScriptStatus `json:"scripts,omitempty"`
	// Drift holds each configured key whose host value differs and that a
	// run sets in place (the configure stage's diff).
	Drift []Drift `json:"drift,omitempty"`
	// Rebuild holds what differs and pct cannot change in place (DriftOf:
	// unprivileged, storage, template, clone source): destroy and run.
	Rebuild []Drift `json:"rebuild,omitempty"`
	// State sums it up: built, drifted, failed (a build that did not
	// finish: its hook never completed, its template snapshot is missing,
	// or the host could not be read) or missing.
	State string `json:"state"`
	Err   error  `json:"-"`
}

// ScriptStatus is a feature hook or the application script of a container.
type ScriptStatus struct {
	Name  string `json:"name"`  // its file name in the hooks dir
	State string `json:"state"` // as HookState; "missing": the application script is not in the hooks dir
	info  HookInfo
}

// DriftText is a drift as status shows it: "memory 1234 → 32768", the
// host's value, then the config's: the direction of the plan's change
// (ChangeDetail, Drift.Line), so that status and plan read alike.
func DriftText(d Drift) string {
	return d.Key + " " + orNone(d.Host) + " → " + d.Want
}

// StatusReport is the deployment as the host has it.
type StatusReport struct {
	Containers []*ContainerStatus `json:"containers"` // CTID order
	// Strays are containers on the host whose CTID is in the config's range
	// (its lowest to its highest CTID) but not in the config; only looked
	// for when the status is of every container.
	Strays []ListEntry `json:"strays,omitempty"`
	// Range is the config's lowest and highest CTID.
	Range [2]int `json:"range"`
}

// InSync reports whether every container is built and matches its config
// and no stray is in the config's range: status exits 0 then, else 1.
func (r *StatusReport) InSync() bool {
	if len(r.Strays) > 0 {
		return false
	}
	for _, c := range r.Containers {
		if c.State != StateBuilt {
			return false
		}
	}
	return true
}

// MarshalJSON adds the error as a string.
func (c *ContainerStatus) MarshalJSON() ([]byte, error) {
	type plain ContainerStatus
	return json.Marshal(struct {
		*plain
		Error string `json:"error,omitempty"`
	}{(*plain)(c), errString(c.Err)})
}

// statusParallel bounds the containers read at once.
const statusParallel = 4

// Inspect reads the deployment from the host through the run's cache
// (hostCache), with the run's call economy: one `pct list`, then per
// existing container its config and snapshots (from <PVEDir>/lxc/<CTID>.conf
// when the backend can read it) and, running, every marker of its hook,
// feature hooks and application script in one batched probe. It changes
// nothing.
func Inspect(ctx context.Context, o StatusOptions) (*StatusReport, error) {
	if o.Config == nil || o.Backend == nil {
		return nil, fmt.Errorf("status: no configuration or backend")
	}
	if o.Hooks == nil {
		o.Hooks = NoHooks{}
	}
	ids := o.CTIDs
	if len(ids) == 0 {
		for id := range o.Config.Containers {
			ids = append(ids, id)
		}
	}
	ids = append([]int(nil), ids...)
	sort.Ints(ids)
	for _, id := range ids {
		if o.Config.Containers[id] == nil {
			return nil, fmt.Errorf("status: container %d is not in lxc_configs: check --ctid", id)
		}
	}
	// What each container runs is described once: for its status and for
	// the markers its batched probe reads.
	desc := make(map[int]*described, len(ids))
	for _, id := range ids {
		desc[id] = describe(o.Hooks, o.Config.Containers[id])
	}
	o.Backend = newHostCache(o.Backend, func(ctid int) [][]string {
		return desc[ctid].probes(ctid)
	})
	list, err := o.Backend.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("pct list: %w", err)
	}
	onHost := map[int]ListEntry{}
	for _, e := range list {
		onHost[e.CTID] = e
	}
	rep := &StatusReport{Range: configRange(o.Config)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(statusParallel)
	for _, id := range ids {
		ct := o.Config.Containers[id]
		cs := &ContainerStatus{CTID: id, Name: ct.Hostname, Snapshots: []string{}}
		rep.Containers = append(rep.Containers, cs)
		e, exists := onHost[id]
		g.Go(func() error {
			inspectOne(gctx, o, ct, desc[id], cs, e, exists)
			return nil
		})
	}
	_ = g.Wait() // inspectOne keeps each container's error to itself
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, e := range list {
		if len(o.CTIDs) > 0 {
			break // a status of some containers says nothing of the others
		}
		if o.Config.Containers[e.CTID] == nil && e.CTID >= rep.Range[0] && e.CTID <= rep.Range[1] {
			rep.Strays = append(rep.Strays, e)
		}
	}
	return rep, nil
}

func configRange(cfg *Config) [2]int {
	var r [2]int
	for id := range cfg.Containers {
		if r[0] == 0 || id < r[0] {
			r[0] = id
		}
		r[1] = max(r[1], id)
	}
	return r
}

// described is what a container runs: its hook, feature hooks and
// application script.
type described struct {
	hook     HookInfo
	scripts  []ScriptStatus
	template bool // its template marker is read too
}

func describe(hr HookRunner, ct *Container) *described {
	return &described{hook: hr.Describe(ct), scripts: scripts(hr, ct), template: isTemplate(ct)}
}

// probes are the marker reads of a running container, the scripts', the
// hook's, a template's: what its one batched probe answers.
func (d *described) probes(ctid int) [][]string {
	var out [][]string
	for _, sc := range d.scripts {
		if sc.info.Kind != "" && sc.State == HookUnknown {
			out = append(out, markerProbe(FileMarker(sc.info.Path)))
		}
	}
	if d.hook.Kind != "" && d.hook.State == HookReady {
		out = append(out, markerProbe(HookMarker(ctid)))
	}
	if d.template {
		out = append(out, markerProbe(TemplateMarker(ctid)))
	}
	return out
}

func markerProbe(marker string) []string { return []string{"cat", marker} }

// inspectOne fills cs from the host.
func inspectOne(ctx context.Context, o StatusOptions, ct *Container, d *described, cs *ContainerStatus, e ListEntry, exists bool) {
	info := d.hook
	cs.Hook = info.Kind
	cs.HookState = HookUnknown
	if info.Kind == "" {
		cs.HookState = HookNone
	}
	defer func() { cs.State = cs.summary() }()
	if !exists {
		return
	}
	cs.Exists, cs.Running, cs.Lock = true, e.Status == "running", e.Lock
	have, err := o.Backend.Config(ctx, ct.CTID)
	if err != nil {
		cs.Err = pctError(err, "pct config %d", ct.CTID)
		return
	}
	for _, opt := range configDiff(ct, have) {
		cs.Drift = append(cs.Drift, Drift{Key: opt.Key, Want: opt.Value, Host: strings.TrimSpace(have[opt.Key])})
	}
	cs.Rebuild = DriftOf(o.Config, ct, have)
	snaps, err := o.Backend.ListSnapshots(ctx, ct.CTID)
	if err != nil {
		cs.Err = pctError(err, "pct listsnapshot %d", ct.CTID)
		return
	}
	cs.Snapshots = append(cs.Snapshots, snaps...)
	if isTemplate(ct) && !slices.Contains(snaps, templateSnapshot(ct)) {
		cs.MissingSnapshot = templateSnapshot(ct)
	}
	cs.Scripts = append([]ScriptStatus(nil), d.scripts...)
	if !cs.Running {
		return
	}
	cs.snapshot = templateSnapshot(ct)
	// Last, after the hook's marker (the batched probe asks the first
	// probe read first); before the state is summed up (the earlier defer).
	defer func() {
		if cs.Err == nil {
			cs.StaleSnapshot, cs.Err = staleSnapshot(ctx, o, ct, d, snaps)
		}
	}()
	for i, sc := range cs.Scripts {
		if sc.info.Kind != "" && sc.State == HookUnknown {
			cs.Scripts[i].State, cs.Err = markerState(ctx, o, ct, FileMarker(sc.info.Path), sc.info)
			if cs.Err != nil {
				return
			}
		}
	}
	if info.Kind == "" {
		return
	}
	if info.State != HookReady {
		cs.HookState = info.State
		return
	}
	cs.HookState, cs.Err = markerState(ctx, o, ct, HookMarker(ct.CTID), info)
}

// staleSnapshot reads a running template's marker as the template stage
// does (snapshotStale): one of another config entry or hook than now makes
// the existing snapshot stale. No snapshot (MissingSnapshot says it) or no
// marker (taken before markers existed) is not a finding.
func staleSnapshot(ctx context.Context, o StatusOptions, ct *Container, d *described, snaps []string) (string, error) {
	if !d.template || !slices.Contains(snaps, templateSnapshot(ct)) {
		return "", nil
	}
	marker := TemplateMarker(ct.CTID)
	r, err := o.Backend.Exec(ctx, ct.CTID, markerProbe(marker), ExecOptions{Probe: true})
	switch {
	case err != nil:
		return "", fmt.Errorf("pct exec %d -- cat %s: %w", ct.CTID, marker, err)
	case r.Code != 0, strings.TrimSpace(r.Stdout) == HookFingerprint(o.Config, ct, d.hook.Digest):
		return "", nil
	}
	return markerChanged(ct.CTID), nil
}

// scripts lists the container's feature hooks (of the features without a
// built-in stage that have one) and its application script, as the run
// finds them; their states are HookUnknown until a marker is read.
func scripts(hr HookRunner, ct *Container) []ScriptStatus {
	var out []ScriptStatus
	add := func(info HookInfo, name string) {
		st := ScriptStatus{Name: name, State: HookUnknown, info: info}
		switch {
		case info.Kind == "":
			st.State = "missing"
		case info.State != "" && info.State != HookReady:
			st.State = info.State
		}
		out = append(out, st)
	}
	for _, f := range OtherFeatures(ct) {
		if info, err := featureHook(hr, f); err == nil && info.Kind != "" {
			add(info, filepath.Base(info.Path))
		} else if err != nil {
			add(HookInfo{Kind: HookLua, State: HookAmbiguous}, FeatureHookName(f))
		}
	}
	if hasApp(ct) {
		info, _ := appScript(hr, ct.Later.ApplicationScript)
		add(info, ct.Later.ApplicationScript)
	}
	return out
}

// markerState compares a marker in the running container with what the
// stage that writes it would write now (HookFingerprint of info).
func markerState(ctx context.Context, o StatusOptions, ct *Container, marker string, info HookInfo) (string, error) {
	r, err := o.Backend.Exec(ctx, ct.CTID, markerProbe(marker), ExecOptions{Probe: true})
	switch {
	case err != nil:
		return HookUnknown, fmt.Errorf("pct exec %d -- cat %s: %w", ct.CTID, marker, err)
	case r.Code != 0:
		return HookNotRun, nil
	case strings.TrimSpace(r.Stdout) == HookFingerprint(o.Config, ct, info.Digest):
		return HookConverged, nil
	}
	return HookChanged, nil
}

func (c *ContainerStatus) summary() string {
	switch {
	case !c.Exists:
		return StateMissing
	case c.Err != nil, c.MissingSnapshot != "", failedState(c.HookState), c.anyScript(failedState):
		return StateFailed
	case len(c.Drift) > 0, len(c.Rebuild) > 0, c.HookState == HookChanged, c.StaleSnapshot != "",
		c.anyScript(func(s string) bool { return s == HookChanged }):
		return StateDrifted
	}
	return StateBuilt
}

// failedState: a hook or script that never completed or cannot run.
func failedState(s string) bool {
	return s == HookNotRun || s == HookNotExecutable || s == HookAmbiguous || s == "missing"
}

func (c *ContainerStatus) anyScript(f func(string) bool) bool {
	for _, s := range c.Scripts {
		if f(s.State) {
			return true
		}
	}
	return false
}

// WriteStatus writes one line per container (state, running, snapshots,
// hook, drift), then the strays and what a failed read said.
func WriteStatus(w io.Writer, r *StatusReport, color bool) {
	rows := [][]string{{"CTID", "NAME", "STATE", "POWER", "SNAPSHOTS", "HOOK", "DRIFT (HOST → CONFIG)"}}
	for _, c := range r.Containers {
		rows = append(rows, []string{strconv.Itoa(c.CTID), c.Name, c.State, c.power(), joinOr(c.Snapshots, ", "), c.hookText(), c.driftText()})
	}
	writeTable(w, rows, color)
	for _, c := range r.Containers {
		if c.Err != nil {
			fmt.Fprintf(w, "%d %s: %v\n", c.CTID, c.Name, c.Err)
		}
		for _, d := range c.Rebuild {
			fmt.Fprintf(w, "%d %s: %s\n", c.CTID, c.Name, rebuildText(c.CTID, d))
		}
		if c.MissingSnapshot != "" {
			fmt.Fprintf(w, "%d %s: template snapshot %s missing: `phoenix run --ctid %d` takes it\n", c.CTID, c.Name, c.MissingSnapshot, c.CTID)
		}
		if c.StaleSnapshot != "" {
			fmt.Fprintf(w, "%d %s: template snapshot %s is stale: %s; %s\n", c.CTID, c.Name, c.snapshot, c.StaleSnapshot, staleAdvice)
		}
	}
	for _, s := range r.Strays {
		fmt.Fprintf(w, "stray: %d %s (%s) is on the host, in the config's range %d-%d, but not in the config: phoenix leaves it alone\n", s.CTID, s.Name, s.Status, r.Range[0], r.Range[1])
	}
	n := 0
	for _, c := range r.Containers {
		if c.State != StateBuilt {
			n++
		}
	}
	if r.InSync() {
		fmt.Fprintf(w, "in sync: %d container(s) built and matching the config\n", len(r.Containers))
		return
	}
	fmt.Fprintf(w, "out of sync: %d of %d container(s) not built as configured, %d stray(s): `phoenix plan` shows what a run would change\n", n, len(r.Containers), len(r.Strays))
}

// rebuildText says what to do about a drift pct cannot change in place.
func rebuildText(ctid int, d Drift) string {
	s := "! " + d.Key + " cannot change in place"
	if d.Why != "" {
		s += " (" + d.Why + ")"
	}
	s += fmt.Sprintf(": `phoenix destroy --ctid %d` (with what is cloned from it or depends on it), then `phoenix run --ctid %d`", ctid, ctid)
	if d.Back != "" {
		s += fmt.Sprintf("; or set %s back to %s in the config", d.Key, d.Back)
	}
	return s
}

func (c *ContainerStatus) power() string {
	switch {
	case !c.Exists:
		return "-"
	case c.Running:
		return "running"
	}
	return "stopped"
}

func (c *ContainerStatus) hookText() string {
	var parts []string
	for _, s := range c.Scripts {
		if c.Exists {
			parts = append(parts, s.Name+": "+s.State)
		} else {
			parts = append(parts, s.Name)
		}
	}
	switch {
	case c.Hook == "":
		parts = append(parts, HookNone)
	case !c.Exists:
		parts = append(parts, c.Hook)
	default:
		parts = append(parts, c.Hook+": "+c.HookState)
	}
	return strings.Join(parts, "; ")
}

func (c *ContainerStatus) driftText() string {
	var parts []string
	for _, d := range c.Rebuild {
		parts = append(parts, "! "+DriftText(d))
	}
	for _, d := range c.Drift {
		parts = append(parts, DriftText(d))
	}
	return joinOr(parts, "; ")
}

func joinOr(list []string, sep string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, sep)
}
