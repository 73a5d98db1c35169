package engine

import (
	"context"
	"fmt"
	"strconv"
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

// stage is one built-in step of a container's provisioning.
type stage struct {
	key     string // the summary column: create for both create and clone
	name    func(ct *Container) string
	applies func(ct *Container) bool
	run     func(c *ctRun, ctx context.Context) (outcome, error)
}

func named(n string) func(*Container) string { return func(*Container) string { return n } }
func always(*Container) bool                 { return true }

// stages is the fixed order every container goes through.
var stages = []stage{
	{key: StageCreate, name: func(ct *Container) string {
		if ct.CloneFrom != 0 {
			return StageClone
		}
		return StageCreate
	}, applies: always, run: (*ctRun).stageCreate},
	{key: StageConfigure, name: named(StageConfigure), applies: always, run: (*ctRun).stageConfigure},
	{key: StageStart, name: named(StageStart), applies: always, run: (*ctRun).stageStart},
	{key: StageNvidia, name: named(StageNvidia), applies: (*Container).HasGPU, run: (*ctRun).stageNvidia},
	{key: StageDocker, name: named(StageDocker), applies: (*Container).WantsDocker, run: (*ctRun).stageDocker},
	{key: StageHook, name: named(StageHook), applies: always, run: (*ctRun).stageHook},
	{key: StageTemplate, name: named(StageTemplate), applies: isTemplate, run: (*ctRun).stageTemplate},
}

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

// --- create / clone --------------------------------------------------------

func (c *ctRun) stageCreate(ctx context.Context) (outcome, error) {
	ct := c.ct
	st, err := c.b.Status(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct status %d", ct.CTID)
	}
	if st.Exists {
		return already("exists: skip"), nil
	}
	if ct.CloneFrom != 0 {
		spec := CloneSpec{Source: ct.CloneFrom, CTID: ct.CTID, Hostname: ct.Hostname}
		if src := c.cfg.Containers[ct.CloneFrom]; src != nil && isTemplate(src) {
			spec.Snapshot = templateSnapshot(src)
		}
		release, err := c.lockSource(ctx, spec.Source)
		if err != nil {
			return outcome{}, err
		}
		err = c.b.Clone(ctx, spec)
		release()
		if err != nil {
			// A lock refusing a clone is its source's.
			return outcome{}, withHint(pctError(err, "pct clone %d %d", spec.Source, spec.CTID), spec.Source)
		}
		if spec.Snapshot != "" {
			return done("cloned from %d@%s", spec.Source, spec.Snapshot), nil
		}
		return done("cloned from %d", spec.Source), nil
	}
	if ct.Template == "" {
		return outcome{}, fmt.Errorf("container %d has neither a template nor a clone source: set template or clone_from_ctid in lxc_configs", ct.CTID)
	}
	spec := CreateSpec{CTID: ct.CTID, Template: ct.Template, Options: createOptions(ct)}
	if err := c.b.Create(ctx, spec); err != nil {
		return outcome{}, pctError(err, "pct create %d", ct.CTID)
	}
	return done("created from %s", ct.Template), nil
}

func createOptions(ct *Container) []Option {
	var opts []Option
	add := func(k, v string) { opts = append(opts, Option{Key: k, Value: v}) }
	if ct.Hostname != "" {
		add("hostname", ct.Hostname)
	}
	if ct.MemoryMB > 0 {
		add("memory", strconv.Itoa(ct.MemoryMB))
	}
	if ct.Cores > 0 {
		add("cores", strconv.Itoa(ct.Cores))
	}
	if ct.SwapMB > 0 {
		add("swap", strconv.Itoa(ct.SwapMB))
	}
	if ct.StoragePool != "" && ct.StorageSizeGB > 0 {
		add("rootfs", ct.StoragePool+":"+strconv.Itoa(ct.StorageSizeGB))
	}
	if n := DesiredNet0(ct.Net); n != nil {
		add("net0", net0Option(n))
	}
	if f := desiredFeatures(ct); len(f) > 0 {
		add("features", FormatFeatures(f))
	}
	if ct.Unprivileged {
		add("unprivileged", "1")
	} else {
		add("unprivileged", "0")
	}
	return opts
}

// --- configure -------------------------------------------------------------

func (c *ctRun) stageConfigure(ctx context.Context) (outcome, error) {
	ct := c.ct
	have, err := c.b.Config(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct config %d", ct.CTID)
	}
	opts := configDiff(ct, have)
	if len(opts) == 0 {
		return already("matches"), nil
	}
	if err := c.b.Set(ctx, ct.CTID, opts, nil); err != nil {
		return outcome{}, pctError(err, "pct set %d", ct.CTID)
	}
	keys := make([]string, len(opts))
	for i, o := range opts {
		keys[i] = o.Key
	}
	return done("set %s", strings.Join(keys, ", ")), nil
}

// configDiff returns the options whose configured value differs from what
// `pct config` reports, in a fixed order.
func configDiff(ct *Container, have map[string]string) []Option {
	var opts []Option
	diff := func(key, want string) {
		if want != "" && strings.TrimSpace(have[key]) != want {
			opts = append(opts, Option{Key: key, Value: want})
		}
	}
	diff("hostname", ct.Hostname)
	if ct.MemoryMB > 0 {
		diff("memory", strconv.Itoa(ct.MemoryMB))
	}
	if ct.Cores > 0 {
		diff("cores", strconv.Itoa(ct.Cores))
	}
	if ct.SwapMB > 0 {
		diff("swap", strconv.Itoa(ct.SwapMB))
	}
	if want := DesiredNet0(ct.Net); want != nil {
		got := ParseNet0(have["net0"])
		if !Net0Matches(want, got) {
			if _, ok := want["hwaddr"]; !ok && got["hwaddr"] != "" {
				// Keep the MAC Proxmox gave the interface: a new one
				// would change the container's DHCP lease and ARP entries.
				want["hwaddr"] = got["hwaddr"]
			}
			opts = append(opts, Option{Key: "net0", Value: net0Option(want)})
		}
	}
	if want := desiredFeatures(ct); len(want) > 0 {
		got := ParseFeatures(have["features"])
		if !FeaturesMatch(want, got) {
			opts = append(opts, Option{Key: "features", Value: FormatFeatures(mergeKV(got, want))})
		}
	}
	return opts
}

// mergeKV is have overridden by want: features set by hand are kept.
func mergeKV(have, want map[string]string) map[string]string {
	m := make(map[string]string, len(have)+len(want))
	for k, v := range have {
		m[k] = v
	}
	for k, v := range want {
		m[k] = v
	}
	return m
}

// --- start -----------------------------------------------------------------

func (c *ctRun) stageStart(ctx context.Context) (outcome, error) {
	ct := c.ct
	st, err := c.b.Status(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct status %d", ct.CTID)
	}
	if st.Running {
		if err := c.waitReady(ctx, true); err != nil {
			return outcome{}, err
		}
		return already("running"), nil
	}
	if err := c.start(ctx); err != nil {
		return outcome{}, err
	}
	return done("started"), nil
}

// start starts the container and waits until it answers.
func (c *ctRun) start(ctx context.Context) error {
	if err := c.b.Start(ctx, c.ct.CTID); err != nil {
		return pctError(err, "pct start %d", c.ct.CTID)
	}
	return c.waitReady(ctx, false)
}

// restart is shutdown then start, for changes Proxmox applies only at
// container start (device passthrough, features).
// A stopped container (a hook may stop it) is only started.
func (c *ctRun) restart(ctx context.Context) error {
	st, err := c.b.Status(ctx, c.ct.CTID)
	if err != nil {
		return pctError(err, "pct status %d", c.ct.CTID)
	}
	if st.Running {
		if err := c.b.Shutdown(ctx, c.ct.CTID, shutdownTimeout); err != nil {
			return pctError(err, "pct shutdown %d", c.ct.CTID)
		}
	}
	return c.start(ctx)
}

// waitReady polls until the container runs and `pct exec CTID -- true`
// succeeds. The first poll is immediate; then the pause doubles from 100ms
// up to 2s, within the run's StartTimeout. knownRunning skips the first
// status call when the caller has just seen the container running.
func (c *ctRun) waitReady(ctx context.Context, knownRunning bool) error {
	ctid := c.ct.CTID
	ctx2, cancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer cancel()
	pause := 100 * time.Millisecond
	last := "not polled yet"
	for first := true; ; first = false {
		running := knownRunning && first
		if !running {
			st, err := c.b.Status(ctx2, ctid)
			switch {
			case err != nil:
				last = err.Error()
			case !st.Exists:
				last = "container does not exist"
			case !st.Running:
				last = "status: stopped"
			default:
				running = true
			}
		}
		if running {
			r, err := c.b.Exec(ctx2, ctid, []string{"true"}, ExecOptions{Probe: true})
			switch {
			case err != nil:
				last = "pct exec: " + err.Error()
			case r.Code != 0:
				last = fmt.Sprintf("pct exec %d -- true: exit %d", ctid, r.Code)
			default:
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx2.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("container %d was not ready within %s (last: %s): check `pct status %d` and the container's console", ctid, c.o.StartTimeout, last, ctid)
		case <-t.C:
		}
		pause = min(pause*2, 2*time.Second)
	}
}

// --- nvidia ----------------------------------------------------------------

// nvidiaSmi asks the driver in the container for its version.
var nvidiaSmi = []string{"nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"}

func (c *ctRun) stageNvidia(ctx context.Context) (outcome, error) {
	if g, ok := c.b.(GPUSupport); ok {
		if yes, why := g.GPUSupported(); !yes {
			return skipped("%s", why), nil
		}
	}
	var details []string
	changed, detail, err := c.ensurePassthrough(ctx)
	if err != nil {
		return outcome{}, err
	}
	if detail != "" {
		details = append(details, detail)
	}
	if changed {
		if err := c.restart(ctx); err != nil {
			return outcome{}, fmt.Errorf("restart after passthrough change: %w", err)
		}
		details = append(details, "restarted")
	}
	installed, err := c.ensureDriver(ctx)
	if err != nil {
		return outcome{}, err
	}
	want := c.cfg.NvidiaDriverVersion
	if installed {
		details = append(details, "driver "+want+" installed")
	}
	if !changed && !installed {
		d := "passthrough present, driver " + want
		if detail != "" {
			d += "; " + detail // a warning the user must still see
		}
		return already("%s", d), nil
	}
	return done("%s", strings.Join(details, "; ")), nil
}

// gpuIndexes parses gpu_assignment ("0,1", "0, 1"); a container that only
// names the nvidia feature gets GPU 0.
func gpuIndexes(ct *Container) []string {
	var out []string
	for _, p := range strings.Split(ct.GPUAssignment, ",") {
		p = strings.TrimSpace(p)
		if p != "" && p != "none" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = []string{"0"}
	}
	return out
}

// nvidiaDevices are the host device nodes a GPU container needs.
func nvidiaDevices(ct *Container) []string {
	var out []string
	for _, i := range gpuIndexes(ct) {
		out = append(out, "/dev/nvidia"+i)
	}
	return append(out, "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
}

// ensurePassthrough adds the missing device entries (devN, or the legacy
// raw lxc lines) and reports whether it changed anything.
func (c *ctRun) ensurePassthrough(ctx context.Context) (bool, string, error) {
	ct := c.ct
	have, err := c.b.Config(ctx, ct.CTID)
	if err != nil {
		return false, "", pctError(err, "pct config %d", ct.CTID)
	}
	if ct.GPULegacyLXC {
		return c.ensureLegacyPassthrough(ctx, have)
	}
	present := map[string]bool{}
	used := map[int]bool{}
	for k, v := range have {
		n, ok := devIndex(k)
		if !ok {
			continue
		}
		used[n] = true
		path, _, _ := strings.Cut(v, ",")
		present[strings.TrimSpace(path)] = true
	}
	var opts []Option
	next := 0
	for _, dev := range nvidiaDevices(ct) {
		if present[dev] {
			continue
		}
		for used[next] {
			next++
		}
		used[next] = true
		opts = append(opts, Option{Key: "dev" + strconv.Itoa(next), Value: dev})
	}
	if len(opts) == 0 {
		return false, "", nil
	}
	if err := c.b.Set(ctx, ct.CTID, opts, nil); err != nil {
		return false, "", fmt.Errorf("pct set %d (GPU passthrough): %w", ct.CTID, err)
	}
	keys := make([]string, len(opts))
	for i, o := range opts {
		keys[i] = o.Key
	}
	return true, "passthrough " + strings.Join(keys, ","), nil
}

// devIndex parses "dev3" → 3.
func devIndex(key string) (int, bool) {
	rest, ok := strings.CutPrefix(key, "dev")
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// nvidiaMajor is the character-device major of /dev/nvidia0, nvidiactl and
// nvidia-modeset; nvidia-uvm's is dynamic and read from /proc/devices.
const nvidiaMajor = "195"

func (c *ctRun) ensureLegacyPassthrough(ctx context.Context, have map[string]string) (bool, string, error) {
	ct := c.ct
	var warn string
	want := []string{"lxc.cgroup2.devices.allow: c " + nvidiaMajor + ":* rwm"}
	major, err := c.uvmMajor()
	if err != nil {
		warn = fmt.Sprintf("nvidia-uvm major unknown (%v): load the module on the host (modprobe nvidia-uvm) and re-run", err)
		c.log("WARN", warn)
	} else {
		want = append(want, "lxc.cgroup2.devices.allow: c "+major+":* rwm")
	}
	for _, dev := range nvidiaDevices(ct) {
		rel := strings.TrimPrefix(dev, "/")
		want = append(want, "lxc.mount.entry: "+dev+" "+rel+" none bind,optional,create=file")
	}
	want = append(want, "lxc.mount.entry: /dev/nvidia-caps dev/nvidia-caps none bind,optional,create=dir")

	present := map[string]bool{}
	for _, key := range []string{"lxc.cgroup2.devices.allow", "lxc.mount.entry"} {
		for _, v := range strings.Split(have[key], "\n") {
			if v = strings.Join(strings.Fields(v), " "); v != "" {
				present[key+": "+v] = true
			}
		}
	}
	var missing []string
	for _, l := range want {
		if !present[l] {
			missing = append(missing, l)
		}
	}
	if len(missing) == 0 {
		return false, warn, nil
	}
	if err := c.b.AppendRaw(ctx, ct.CTID, missing); err != nil {
		return false, "", fmt.Errorf("append GPU passthrough lines to /etc/pve/lxc/%d.conf: %w", ct.CTID, err)
	}
	detail := fmt.Sprintf("passthrough: %d lxc lines added", len(missing))
	if warn != "" {
		detail += "; " + warn
	}
	return true, detail, nil
}

// uvmMajor finds nvidia-uvm in /proc/devices ("511 nvidia-uvm").
func (c *ctRun) uvmMajor() (string, error) {
	data, err := c.o.ProcDevices()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == "nvidia-uvm" {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("nvidia-uvm not listed in /proc/devices")
}

// ensureDriver installs the user-space driver when nvidia-smi in the
// container does not report the configured version; it reports whether
// it installed.
func (c *ctRun) ensureDriver(ctx context.Context) (bool, error) {
	want := c.cfg.NvidiaDriverVersion
	if want == "" {
		return false, fmt.Errorf("nvidia_driver_version is not set in phoenix_lxc_configs.json: set it to the host's driver version (nvidia-smi on the host)")
	}
	got, err := c.driverVersion(ctx)
	if err != nil {
		return false, err
	}
	if got == want {
		return false, nil
	}
	url := c.cfg.NvidiaRunfileURL
	if url == "" {
		// The configs before v05 have no nvidia_runfile_url: NVIDIA's own
		// download address of that version, as every later config names it.
		url = defaultRunfileURL(want)
		c.log("INFO", "nvidia_runfile_url is not set in phoenix_lxc_configs.json: using "+url)
	}
	if err := c.script(ctx, nvidiaInstallScript(want, url)); err != nil {
		return false, fmt.Errorf("install NVIDIA driver %s: %w", want, err)
	}
	if c.o.DryRun {
		// The recorder only noted the install: a probe cannot confirm it.
		return true, nil
	}
	got, err = c.driverVersion(ctx)
	if err != nil {
		return false, err
	}
	if got != want {
		return false, fmt.Errorf("driver reports %q, config wants %q: check nvidia_runfile_url matches nvidia_driver_version", got, want)
	}
	return true, nil
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

// defaultRunfileURL is NVIDIA's download address of a Linux x86_64
// driver version.
func defaultRunfileURL(version string) string {
	return "https://us.download.nvidia.com/XFree86/Linux-x86_64/" + version + "/NVIDIA-Linux-x86_64-" + version + ".run"
}

func (c *ctRun) driverVersion(ctx context.Context) (string, error) {
	r, err := c.probe(ctx, nvidiaSmi...)
	if err != nil {
		return "", err
	}
	if r.Code != 0 {
		return "", nil
	}
	first, _, _ := strings.Cut(strings.TrimSpace(r.Stdout), "\n")
	return strings.TrimSpace(first), nil
}

// The install scripts' first line is a tag the fake pct recognises to
// simulate the install; keep it exact.

func nvidiaInstallScript(version, url string) string {
	return "# phoenix:install-nvidia " + version + "\n" + `set -eu
export DEBIAN_FRONTEND=noninteractive
url=` + shellQuote(url) + `
f=/tmp/phoenix-nvidia-` + version + `.run
if ! command -v curl >/dev/null 2>&1; then
	apt-get update -qq && apt-get install -y -qq curl ca-certificates
fi
curl -fsSL -o "$f" "$url"
chmod +x "$f"
# the kernel module is the host's: only the user-space part goes here
"$f" --no-kernel-module --silent
rm -f "$f"
`
}
