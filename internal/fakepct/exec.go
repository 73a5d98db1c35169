package fakepct

import (
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/hostsim"
	"github.com/phoenix-hypervisor/phoenix/internal/hoststate"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// What the install scripts leave in a container, and their tags: the
// shared model of internal/hostsim.
const (
	NvidiaVersionFile       = hostsim.NvidiaVersionFile
	NvidiaCTKFile           = hostsim.NvidiaCTKFile
	DockerBinary            = hostsim.DockerBinary
	TagInstallDocker        = hostsim.TagInstallDocker
	TagInstallNvidia        = hostsim.TagInstallNvidia
	TagInstallNvidiaToolkit = hostsim.TagInstallNvidiaToolkit
	GPUName                 = hostsim.GPUName
)

// DockerMarker is the file standing for a docker container NAME.
func DockerMarker(name string) string { return hostsim.DockerMarker(name) }

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
	var ct *Container
	if err := f.withHost(func(h *hoststate.Host) error {
		ct = h.CTs[id]
		return h.CanExec(id)
	}); err != nil {
		return err
	}
	if len(cmd) == 0 {
		return refuse("missing command")
	}
	return f.runInContainer(c, id, ct, hostsim.StripEnv(cmd))
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// runInContainer answers a command run in the fake container ctid. Nothing
// runs on the host.
func (f *Fake) runInContainer(c *call, ctid int, ct *Container, cmd []string) error {
	if len(cmd) == 0 {
		return nil
	}
	if file, rest, ok := pve.CutEnvFileExec(cmd); ok {
		// The wrapper reads and removes the pushed environment file.
		if err := os.Remove(inRootfs(f.StateDir, ctid, file)); err != nil {
			c.res.stderr.WriteString("sh: 1: .: cannot open " + file + ": No such file\n")
			c.res.code = 2
			return nil
		}
		cmd = rest
	}
	if handled, err := f.applyRule(c, ctid, cmd); handled || err != nil {
		return err
	}
	raw, err := RawLines(f.StateDir, ctid)
	if err != nil {
		return err
	}
	config := map[string]string{}
	for k, v := range ct.Config {
		config[k] = v
	}
	pve.AppendRaw(config, raw)
	res, err := hostsim.Exec(diskFS{dir: f.StateDir, ctid: ctid}, hostsim.GPUs(config), cmd, c.stdin)
	if err != nil {
		return err
	}
	c.res.stdout.Write(res.Stdout.Bytes())
	c.res.stderr.Write(res.Stderr.Bytes())
	c.res.code = res.Code
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
		c.res.gate, c.res.after = r.Gate, r.After
		return true, nil
	}
	return false, nil
}

// diskFS is a fake container's rootfs on disk, for hostsim.
type diskFS struct {
	dir  string
	ctid int
}

func (d diskFS) path(p string) string { return inRootfs(d.dir, d.ctid, p) }

func (d diskFS) ReadFile(p string) ([]byte, error) { return os.ReadFile(d.path(p)) }

func (d diskFS) Stat(p string) (bool, int64, error) {
	info, err := os.Stat(d.path(p))
	if err != nil {
		return false, 0, err
	}
	return info.IsDir(), info.Size(), nil
}

func (d diskFS) WriteFile(p string, data []byte, perm fs.FileMode) error {
	return writeInRootfs(d.dir, d.ctid, p, data, perm)
}

func (d diskFS) Mkdir(p string, parents bool) error {
	if parents {
		if info, err := os.Stat(d.path(p)); err == nil && !info.IsDir() {
			return fs.ErrExist
		}
		return os.MkdirAll(d.path(p), 0o755)
	}
	return os.Mkdir(d.path(p), 0o755)
}
