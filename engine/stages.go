package engine

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Stage names, in the order they run. A clone runs StageClone where a
// created container runs StageCreate; the summary shows both in one column.
const (
	StageCreate    = "create"
	StageClone     = "clone"
	StageConfigure = "configure"
	StageStart     = "start"
	StageNvidia    = "nvidia"
	StageDocker    = "docker"
	StageHook      = "hook"
	StageTemplate  = "template"
)

// StageColumns are the summary's stage columns, in run order.
var StageColumns = []string{StageCreate, StageConfigure, StageStart, StageNvidia, StageDocker, StageHook, StageTemplate}

// LaterColumns are the later-era stages' columns, by the column they
// follow: a summary shows one only when a container ran that stage.
var LaterColumns = map[string][]string{
	StageConfigure: {StageMounts, StageBoot, StageLXCConf, StageFirewall},
	StageDocker:    {StagePreConfigured, StageFeatures, StageApp},
	StageHook:      {StageHealth},
	StageTemplate:  {StageFinalForm},
}

// shutdownTimeout is what `pct shutdown --timeout` gets before a snapshot
// or a restart.
const shutdownTimeout = 60 * time.Second

// outcome is what a stage reports: StageDone when it acted, StageAlready
// when there was nothing to do, StageSkipped when it does not apply here.
type outcome struct {
	state  string
	detail string
}

func done(format string, a ...any) outcome {
	return outcome{state: StageDone, detail: fmt.Sprintf(format, a...)}
}

func already(format string, a ...any) outcome {
	return outcome{state: StageAlready, detail: fmt.Sprintf(format, a...)}
}

func skipped(format string, a ...any) outcome {
	return outcome{state: StageSkipped, detail: fmt.Sprintf(format, a...)}
}

// Stage is one built-in step of a container's provisioning. Each lives in
// its own file (stage_<name>.go), whose doc comment says what it reads and
// what it writes.
type Stage struct {
	Key     string // the summary column: create for both create and clone
	Name    func(ct *Container) string
	Applies func(ct *Container) bool
	// When, if set, is asked too, with the run at hand: for stages that
	// depend on more than the config (the feature hooks found).
	When func(c *ctRun, ctx context.Context) bool
	Run  func(c *ctRun, ctx context.Context) (outcome, error)
}

func named(n string) func(*Container) string { return func(*Container) string { return n } }
func always(*Container) bool                 { return true }

// stages is the fixed order every container goes through.
// The later-era stages that change the container's configuration
// (mounts, boot, lxc-conf, firewall) run before start: Proxmox applies
// what they set when the container starts, so a new container starts
// once, with all of it.
// After docker: the pre-configured snapshot, the feature hooks, the
// application script, the per-CTID hook, the health check, then the
// final snapshot (template or final-form).
var stages = []Stage{createStage, configureStage, mountsStage, bootStage, lxcConfStage, firewallStage,
	startStage, nvidiaStage, dockerStage, preConfiguredStage, featuresStage, appStage, hookStage, healthStage,
	templateStage, finalFormStage}

func isTemplate(ct *Container) bool { return ct.IsTemplate || ct.TemplateSnapshot != "" }

// handledFeatures are the feature names a built-in stage acts on; the
// others (vllm, traefik, ...) are left to the container's hook.
var handledFeatures = map[string]bool{"nvidia": true, "docker": true}

// desiredFeatures is the pct features the container must end with: its
// own, plus nesting and keyctl when it runs Docker. create, configure and
// docker all use it, so they never undo each other.
func desiredFeatures(ct *Container) map[string]string {
	m := map[string]string{}
	for k, v := range ct.PctFeatures {
		m[k] = v
	}
	if ct.WantsDocker() {
		m["nesting"] = "1"
		m["keyctl"] = "1"
	}
	return m
}

// pctError wraps a backend error with the pct command it answers,
// unless the error already starts with it (the pct backend's errors name
// their command: "pct clone 900 902: <pct's message>: exit status 255").
func pctError(err error, format string, args ...any) error {
	prefix := fmt.Sprintf(format, args...)
	if strings.HasPrefix(err.Error(), prefix+": ") {
		return err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// probesFor are the read-only checks the stages will make in ctid, so that
// the first one asks them all in one batch (hostCache).
func (r *runner) probesFor(ctid int) [][]string {
	ct := r.cfg.Containers[ctid]
	if ct == nil {
		return nil
	}
	probes := [][]string{{"true"}}
	if ct.HasGPU() {
		probes = append(probes, nvidiaSmi)
	}
	if ct.WantsDocker() {
		probes = append(probes, []string{"docker", "info"})
		if ct.HasGPU() {
			probes = append(probes, []string{"nvidia-ctk", "--version"})
		}
		if argv := portainerRun(r.cfg, ct.PortainerRole); argv != nil {
			probes = append(probes, []string{"docker", "inspect", argv[4]})
		}
	}
	if r.hooks.Describe(ct).Kind != "" {
		probes = append(probes, []string{"cat", HookMarker(ctid)})
	}
	if isTemplate(ct) {
		probes = append(probes, []string{"cat", TemplateMarker(ctid)})
	}
	return probes
}
