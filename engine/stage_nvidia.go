package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// nvidiaStage passes the host's GPUs through and installs the matching
// user-space driver, for containers with a GPU; it converges the devN
// passthrough set: NVIDIA device entries the config no longer asks for
// (fewer GPUs, or gpu_assignment none) are removed. Other devN entries
// (an admin's USB stick) are never touched.
// Reads: `pct config` (devN, or the legacy raw lxc lines); /proc/devices
// (legacy); the probe nvidia-smi's driver version.
// Writes: `pct set --devN` / `--delete devN` or raw lines appended to
// /etc/pve/lxc/CTID.conf, a restart when the passthrough changed, the
// driver install script. A driver is never uninstalled.
var nvidiaStage = Stage{Key: StageNvidia, Name: named(StageNvidia), Applies: always, When: wantsNvidia, Run: (*ctRun).stageNvidia}

// wantsNvidia: a container with a GPU, or one without whose host config
// still passes NVIDIA devices through (its gpu_assignment went to none).
func wantsNvidia(c *ctRun, ctx context.Context) bool {
	if c.ct.HasGPU() {
		return true
	}
	have, err := c.b.Config(ctx, c.ct.CTID)
	return err == nil && len(unwantedNvidiaDevs(c.ct, have)) > 0
}

// nvidiaSmi asks the driver in the container for its version.
var nvidiaSmi = []string{"nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"}

func (c *ctRun) stageNvidia(ctx context.Context) (outcome, error) {
	if g, ok := c.b.(GPUSupport); ok {
		if yes, why := g.GPUSupported(); !yes {
			return skipped("%s", why), nil
		}
	}
	if !c.ct.HasGPU() {
		return c.removePassthrough(ctx)
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

// removePassthrough takes the NVIDIA devices off a container that no
// longer has a GPU. The driver inside stays: uninstalling it is the
// container's business (its files may be in use), and without the devices
// it does nothing.
func (c *ctRun) removePassthrough(ctx context.Context) (outcome, error) {
	have, err := c.b.Config(ctx, c.ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct config %d", c.ct.CTID)
	}
	removed, err := c.deleteDevs(ctx, unwantedNvidiaDevs(c.ct, have))
	if err != nil || removed == "" {
		return already("no NVIDIA passthrough"), err
	}
	details := []string{removed}
	if err := c.restart(ctx); err != nil {
		return outcome{}, fmt.Errorf("restart after passthrough change: %w", err)
	}
	details = append(details, "restarted")
	if v, err := c.driverVersion(ctx); err != nil {
		return outcome{}, err
	} else if v != "" {
		details = append(details, "driver "+v+" stays installed (phoenix does not uninstall it)")
	}
	return done("%s", strings.Join(details, "; ")), nil
}

// deleteDevs removes devN entries (`pct set --delete`), in key order;
// it says what it removed, "" for nothing.
func (c *ctRun) deleteDevs(ctx context.Context, keys []string) (string, error) {
	if len(keys) == 0 {
		return "", nil
	}
	if err := c.b.Set(ctx, c.ct.CTID, nil, keys); err != nil {
		return "", fmt.Errorf("pct set %d --delete %s (GPU passthrough): %w", c.ct.CTID, strings.Join(keys, ","), err)
	}
	return "passthrough removed " + strings.Join(keys, ","), nil
}

// unwantedNvidiaDevs are the devN keys, sorted by N, passing an NVIDIA
// device phoenix passes through (nvidiaDevices of any GPU set) that ct
// does not ask for: /dev/nvidia1 after gpu_assignment "0,1" became "0",
// all of them after it became none. Entries of other devices, and
// NVIDIA nodes phoenix never adds (/dev/nvidia-caps/…), are the admin's.
func unwantedNvidiaDevs(ct *Container, have map[string]string) []string {
	want := map[string]bool{}
	if ct.HasGPU() && !ct.GPULegacyLXC {
		for _, d := range nvidiaDevices(ct) {
			want[d] = true
		}
	}
	var idx []int
	for k, v := range have {
		n, ok := devIndex(k)
		if !ok {
			continue
		}
		path, _, _ := strings.Cut(v, ",")
		path = strings.TrimSpace(path)
		if isPassedNvidiaDevice(path) && !want[path] {
			idx = append(idx, n)
		}
	}
	sort.Ints(idx)
	keys := make([]string, len(idx))
	for i, n := range idx {
		keys[i] = "dev" + strconv.Itoa(n)
	}
	return keys
}

// isPassedNvidiaDevice: a node nvidiaDevices may name (/dev/nvidiaN,
// nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset).
func isPassedNvidiaDevice(path string) bool {
	if slices.Contains(nvidiaDevices(&Container{GPUAssignment: "0"})[1:], path) {
		return true
	}
	n, ok := strings.CutPrefix(path, "/dev/nvidia")
	return ok && n != "" && strings.Trim(n, "0123456789") == ""
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
	// A removed entry's number is not reused in the same pct set: one
	// call cannot both set and delete a key.
	stale := unwantedNvidiaDevs(ct, have)
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
	if len(opts) == 0 && len(stale) == 0 {
		return false, "", nil
	}
	if err := c.b.Set(ctx, ct.CTID, opts, stale); err != nil {
		return false, "", fmt.Errorf("pct set %d (GPU passthrough): %w", ct.CTID, err)
	}
	var parts []string
	if len(opts) > 0 {
		keys := make([]string, len(opts))
		for i, o := range opts {
			keys[i] = o.Key
		}
		parts = append(parts, "passthrough "+strings.Join(keys, ","))
	}
	if len(stale) > 0 {
		parts = append(parts, "passthrough removed "+strings.Join(stale, ","))
	}
	return true, strings.Join(parts, "; "), nil
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
	if err := checkDriverVersion(want); err != nil {
		return false, err
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
f=` + shellQuote("/tmp/phoenix-nvidia-"+version+".run") + `
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
