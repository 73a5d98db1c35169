package fakepct

import (
	"github.com/phoenix-hypervisor/phoenix/internal/pve"

	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Marker files inside a fake container's rootfs.
const (
	NvidiaVersionFile = "/.fake/nvidia-version"
	NvidiaCTKFile     = "/.fake/nvidia-ctk"
	DockerBinary      = "/usr/bin/docker"
	dockerMarkerDir   = "/.fake"
)

// Script tags: the first line of a `sh -c` script naming the install the
// fake simulates.
const (
	TagInstallDocker        = "# phoenix:install-docker"
	TagInstallNvidia        = "# phoenix:install-nvidia"
	TagInstallNvidiaToolkit = "# phoenix:install-nvidia-toolkit"
)

// DockerMarker is the file standing for a docker container NAME.
func DockerMarker(name string) string { return dockerMarkerDir + "/docker-" + name }

func (f *Fake) exec(c *call) error {
	sep := indexOf(c.args, "--")
	head, cmd := c.args, []string(nil)
	if sep >= 0 {
		head, cmd = c.args[:sep], c.args[sep+1:]
	}
	p, err := parseArgs(c.op, head)
	if err != nil {
		return err
	}
	if len(p.pos) == 0 {
		return positional(c.op, p, "vmid")
	}
	if sep < 0 || len(p.pos) > 1 {
		extra := ""
		if len(p.pos) > 1 {
			extra = p.pos[1]
		}
		return refuse("Unknown option: %s\n400 unable to parse option (put '--' before the command)\nUSAGE: pct exec <vmid> [<extra-args>] [OPTIONS]", extra)
	}
	id, err := vmid(p.pos[0])
	if err != nil {
		return err
	}
	ct, err := f.load(id)
	if err != nil {
		return err
	}
	if !ct.Running {
		return pctError(pve.MsgExecNotRunning(id))
	}
	if len(cmd) == 0 {
		return refuse("missing command")
	}
	return f.runInContainer(c, id, ct, stripEnv(cmd))
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// stripEnv drops a leading `env [K=V...]`.
func stripEnv(cmd []string) []string {
	if len(cmd) == 0 || (cmd[0] != "env" && cmd[0] != "/usr/bin/env") {
		return cmd
	}
	i := 1
	for i < len(cmd) && strings.Contains(cmd[i], "=") && !strings.HasPrefix(cmd[i], "-") {
		i++
	}
	return cmd[i:]
}

// runInContainer answers a command run in the fake container ctid. Nothing
// runs on the host.
func (f *Fake) runInContainer(c *call, ctid int, ct *Container, cmd []string) error {
	if len(cmd) == 0 {
		return nil
	}
	if handled, err := f.applyRule(c, ctid, cmd); handled || err != nil {
		return err
	}
	raw, err := RawLines(f.StateDir, ctid)
	if err != nil {
		return err
	}
	fc := fakeCT{dir: f.StateDir, ctid: ctid, res: c.res, gpus: gpus(ct, raw)}
	switch filepath.Base(cmd[0]) {
	case "true":
	case "false":
		c.res.code = 1
	case "cat":
		fc.cat(cmd[1:], c.stdin)
	case "test":
		fc.test(cmd[1:])
	case "mkdir":
		fc.mkdir(cmd[1:])
	case "nvidia-smi":
		fc.nvidiaSMI(cmd[1:])
	case "nvidia-ctk":
		fc.needFile(NvidiaCTKFile, "nvidia-ctk", func() { c.res.stdout.WriteString("NVIDIA Container Toolkit CLI version 1.0.0-fake\n") })
	case "docker":
		fc.docker(cmd[1:])
	case "sh", "bash":
		return fc.shell(cmd[1:])
	}
	return nil
}

// applyRule answers from exec_rules.json, the first matching rule wins.
func (f *Fake) applyRule(c *call, ctid int, cmd []string) (bool, error) {
	rules, err := readExecRules(f.StateDir)
	if err != nil {
		return false, err
	}
	line := strings.Join(cmd, " ")
	for _, r := range rules {
		if r.CTID != 0 && r.CTID != ctid {
			continue
		}
		re, err := regexp.Compile(r.Match)
		if err != nil {
			return false, fmt.Errorf("exec rule %q: %w", r.Match, err)
		}
		if !re.MatchString(line) {
			continue
		}
		if r.Sleep != "" {
			d, err := time.ParseDuration(r.Sleep)
			if err != nil {
				return false, fmt.Errorf("exec rule %q sleep: %w", r.Match, err)
			}
			c.res.sleep = d
		}
		c.res.stdout.WriteString(r.Stdout)
		c.res.stderr.WriteString(r.Stderr)
		c.res.code = r.Code
		return true, nil
	}
	return false, nil
}

// fakeCT is the inside of one fake container.
type fakeCT struct {
	dir  string
	ctid int
	res  *result
	gpus []int // indexes of the /dev/nvidiaN passed through
}

var gpuDev = regexp.MustCompile(`(?:^|[=\s])/dev/nvidia([0-9]+)(?:[,\s]|$)`)

// gpus lists the GPUs passed through to a container: devN entries and
// legacy lxc.mount.entry lines naming /dev/nvidiaN.
func gpus(ct *Container, raw []string) []int {
	seen := map[int]bool{}
	var out []int
	add := func(s string) {
		if m := gpuDev.FindStringSubmatch(s); m != nil {
			n := 0
			fmt.Sscan(m[1], &n)
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	for k, v := range ct.Config {
		if strings.HasPrefix(k, "dev") {
			add(v)
		}
	}
	for _, l := range raw {
		if strings.HasPrefix(l, "lxc.mount.entry:") {
			add(strings.TrimPrefix(l, "lxc.mount.entry:"))
		}
	}
	sort.Ints(out)
	return out
}

func (fc fakeCT) path(p string) string { return inRootfs(fc.dir, fc.ctid, p) }

func (fc fakeCT) exists(p string) bool {
	_, err := os.Stat(fc.path(p))
	return err == nil
}

func (fc fakeCT) touch(p string, data string, perm os.FileMode) error {
	return writeInRootfs(fc.dir, fc.ctid, p, []byte(data), perm)
}

func (fc fakeCT) notFound(name string) {
	fmt.Fprintf(&fc.res.stderr, "%s: command not found\n", name)
	fc.res.code = 127
}

func (fc fakeCT) cat(files []string, stdin io.Reader) {
	if len(files) == 0 && stdin != nil {
		_, _ = io.Copy(&fc.res.stdout, stdin)
		return
	}
	for _, name := range files {
		data, err := os.ReadFile(fc.path(name))
		if err != nil {
			fmt.Fprintf(&fc.res.stderr, "cat: %s: No such file or directory\n", name)
			fc.res.code = 1
			continue
		}
		fc.res.stdout.Write(data)
	}
}

// test answers `test -e|-f|-d|-s FILE`; anything else is true.
func (fc fakeCT) test(args []string) {
	if len(args) != 2 {
		return
	}
	info, err := os.Stat(fc.path(args[1]))
	ok := err == nil
	switch args[0] {
	case "-f":
		ok = ok && info.Mode().IsRegular()
	case "-d":
		ok = ok && info.IsDir()
	case "-s":
		ok = ok && info.Size() > 0
	}
	if !ok {
		fc.res.code = 1
	}
}

// mkdir answers `mkdir [-p] [-m MODE] DIR...`.
func (fc fakeCT) mkdir(args []string) {
	parents := false
	var dirs []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-p" || a == "--parents":
			parents = true
		case a == "-m":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			dirs = append(dirs, a)
		}
	}
	for _, d := range dirs {
		target := fc.path(d)
		var err error
		if parents {
			err = os.MkdirAll(target, 0o755)
		} else {
			err = os.Mkdir(target, 0o755)
		}
		if err != nil {
			why := "No such file or directory"
			if os.IsExist(err) {
				why = "File exists"
			}
			fmt.Fprintf(&fc.res.stderr, "mkdir: cannot create directory '%s': %s\n", d, why)
			fc.res.code = 1
		}
	}
}

func (fc fakeCT) needFile(p, name string, then func()) {
	if !fc.exists(p) {
		fc.notFound(name)
		return
	}
	then()
}

// GPUName is what the fake nvidia-smi calls every GPU.
const GPUName = "NVIDIA Fake GPU"

// nvidiaSMI answers `nvidia-smi [--query-gpu=F1,F2 --format=csv,noheader]`
// with one line per GPU passed through (at least one).
func (fc fakeCT) nvidiaSMI(args []string) {
	data, err := os.ReadFile(fc.path(NvidiaVersionFile))
	if err != nil {
		fc.notFound("nvidia-smi")
		return
	}
	version := strings.TrimSpace(string(data))
	gpus := fc.gpus
	if len(gpus) == 0 {
		gpus = []int{0}
	}
	var fields []string
	for _, a := range args {
		if q, ok := strings.CutPrefix(a, "--query-gpu="); ok {
			fields = strings.Split(q, ",")
		}
	}
	if fields == nil {
		fmt.Fprintf(&fc.res.stdout, "NVIDIA-SMI (fake)  Driver Version: %s  GPUs: %d\n", version, len(gpus))
		return
	}
	for i := range gpus {
		vals := make([]string, len(fields))
		for j, f := range fields {
			switch strings.TrimSpace(f) {
			case "index":
				vals[j] = fmt.Sprint(i)
			case "name":
				vals[j] = GPUName
			case "driver_version":
				vals[j] = version
			default:
				vals[j] = "[N/A]"
			}
		}
		fc.res.stdout.WriteString(strings.Join(vals, ", ") + "\n")
	}
}

func (fc fakeCT) docker(args []string) {
	if !fc.exists(DockerBinary) {
		fc.notFound("docker")
		return
	}
	if len(args) == 0 {
		return
	}
	switch args[0] {
	case "info":
		fc.res.stdout.WriteString("Server Version: fake\n")
	case "inspect":
		fc.dockerInspect(args[1:])
	case "run":
		if name := dockerName(args[1:]); name != "" {
			if err := fc.touch(DockerMarker(name), name+"\n", 0o644); err != nil {
				fmt.Fprintf(&fc.res.stderr, "docker: %v\n", err)
				fc.res.code = 125
				return
			}
			fmt.Fprintf(&fc.res.stdout, "fake-%s\n", name)
		}
	}
}

var goTemplate = regexp.MustCompile(`{{\s*([^}]*?)\s*}}`)

// dockerInspect answers `docker inspect [-f|--format TEMPLATE] NAME...`:
// a docker container exists when its marker does, and runs.
func (fc fakeCT) dockerInspect(args []string) {
	format := ""
	var names []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-f" || a == "--format" || a == "--type") && i+1 < len(args):
			if a != "--type" {
				format = args[i+1]
			}
			i++
		case strings.HasPrefix(a, "--format="):
			format = strings.TrimPrefix(a, "--format=")
		case strings.HasPrefix(a, "-"):
		default:
			names = append(names, a)
		}
	}
	var found []string
	for _, name := range names {
		if !fc.exists(DockerMarker(name)) {
			fmt.Fprintf(&fc.res.stderr, "Error: No such object: %s\n", name)
			fc.res.code = 1
			continue
		}
		found = append(found, name)
	}
	if format == "" {
		var objs []string
		for _, name := range found {
			objs = append(objs, fmt.Sprintf(`{"Name":"/%s","State":{"Status":"running","Running":true}}`, name))
		}
		fmt.Fprintf(&fc.res.stdout, "[%s]\n", strings.Join(objs, ","))
		return
	}
	for _, name := range found {
		out := goTemplate.ReplaceAllStringFunc(format, func(m string) string {
			switch goTemplate.FindStringSubmatch(m)[1] {
			case ".State.Running":
				return "true"
			case ".State.Status":
				return "running"
			case ".Name":
				return "/" + name
			}
			return "<no value>"
		})
		fc.res.stdout.WriteString(out + "\n")
	}
}

func dockerName(args []string) string {
	for i, a := range args {
		if a == "--name" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--name="); ok {
			return v
		}
	}
	return ""
}

// shell simulates the tagged install scripts of the built-in stages;
// other scripts succeed without effect.
func (fc fakeCT) shell(args []string) error {
	if len(args) < 2 || args[0] != "-c" {
		return nil
	}
	first, _, _ := strings.Cut(strings.TrimLeft(args[1], "\n"), "\n")
	fields := strings.Fields(first)
	tag := strings.Join(fields[:min(len(fields), 2)], " ")
	switch tag {
	case TagInstallDocker:
		return fc.touch(DockerBinary, "#!/bin/sh\n# fake docker\n", 0o755)
	case TagInstallNvidia:
		if len(fields) < 3 {
			fc.res.stderr.WriteString("install-nvidia: no driver version on the tag line\n")
			fc.res.code = 2
			return nil
		}
		return fc.touch(NvidiaVersionFile, fields[2]+"\n", 0o644)
	case TagInstallNvidiaToolkit:
		return fc.touch(NvidiaCTKFile, "fake\n", 0o755)
	}
	return nil
}
