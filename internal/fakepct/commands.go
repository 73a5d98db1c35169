package fakepct

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/hoststate"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// parseCT parses the invocation and the container id in its first
// positional argument.
func parseCT(c *call, names ...string) (parsed, int, error) {
	p, err := parseArgs(c.op, c.args)
	if err != nil {
		return p, 0, err
	}
	if err := positional(c.op, p, names...); err != nil {
		return p, 0, err
	}
	id, err := vmid(p.pos[0])
	return p, id, err
}

func (f *Fake) create(c *call) error {
	p, id, err := parseCT(c, "vmid", "ostemplate")
	if err != nil {
		return err
	}
	ct := &Container{Config: map[string]string{"ostemplate": p.pos[1], "unprivileged": "1"}}
	for _, o := range p.opts {
		switch {
		case o.key == "lock":
			ct.Lock = o.value
		case !contains(createOnly, o.key):
			ct.Config[o.key] = normalize(id, o.key, o.value)
		}
	}
	if ct.Config["unprivileged"] == "0" {
		delete(ct.Config, "unprivileged")
	}
	if ct.Config["rootfs"] == "" {
		storage, ok := p.get("storage")
		if !ok {
			storage = "local"
		}
		ct.Config["rootfs"] = normalizeVolume(id, 0, storage+":4")
	}
	if v, _ := p.get("start"); v == "1" {
		ct.Running = true
	}
	return f.withHost(func(h *hoststate.Host) error { return h.Create(id, ct) })
}

func (f *Fake) clone(c *call) error {
	p, src, err := parseCT(c, "vmid", "newid")
	if err != nil {
		return err
	}
	newID, err := vmid(p.pos[1])
	if err != nil {
		return err
	}
	o := hoststate.CloneOptions{}
	o.Snapshot, _ = p.get("snapname")
	o.Hostname, _ = p.get("hostname")
	o.Description, _ = p.get("description")
	_, o.Full = p.get("full")
	o.Storage, _ = p.get("storage")
	return f.withHost(func(h *hoststate.Host) error {
		if err := h.Clone(src, newID, o); err != nil {
			return err
		}
		renameVolumes(h.CTs[newID].Config, src, newID)
		raw, err := RawLines(f.StateDir, src)
		if err != nil {
			return err
		}
		return writeRaw(f.StateDir, newID, raw)
	})
}

// writeRaw starts a new container's .conf with raw lines.
func writeRaw(dir string, id int, raw []string) error {
	if len(raw) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(ConfPath(dir, id)), 0o755); err != nil {
		return err
	}
	return os.WriteFile(ConfPath(dir, id), []byte(strings.Join(raw, "\n")+"\n"), 0o644)
}

func (f *Fake) set(c *call) error {
	p, id, err := parseCT(c, "vmid")
	if err != nil {
		return err
	}
	var opts []pve.Option
	var del []string
	for _, o := range p.opts {
		if o.key == "delete" {
			del = append(del, strings.FieldsFunc(o.value, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })...)
			continue
		}
		opts = append(opts, pve.Option{Key: o.key, Value: normalize(id, o.key, o.value)})
	}
	return f.withHost(func(h *hoststate.Host) error { return h.Set(id, opts, del) })
}

// loadCT parses a one-container command and loads that container.
func (f *Fake) loadCT(c *call, names ...string) (parsed, int, *Container, error) {
	p, id, err := parseCT(c, names...)
	if err != nil {
		return p, 0, nil, err
	}
	ct, err := f.load(id)
	return p, id, ct, err
}

func (f *Fake) start(c *call) error {
	_, id, err := parseCT(c, "vmid")
	if err != nil {
		return err
	}
	return f.withHost(func(h *hoststate.Host) error { return h.Start(id) })
}

// stop serves stop and shutdown.
func (f *Fake) stop(c *call) error {
	p, id, err := parseCT(c, "vmid")
	if err != nil {
		return err
	}
	if t, ok := p.get("timeout"); ok {
		if _, err := strconv.Atoi(t); err != nil {
			return refuse("400 Parameter verification failed.\ntimeout: type check ('integer') failed - got '%s'", t)
		}
	}
	return f.withHost(func(h *hoststate.Host) error { return h.Stop(id) })
}

func (f *Fake) status(c *call) error {
	_, _, ct, err := f.loadCT(c, "vmid")
	if err != nil {
		return err
	}
	fmt.Fprintf(&c.res.stdout, "status: %s\n", runState(ct))
	return nil
}

func runState(ct *Container) string {
	if ct.Running {
		return "running"
	}
	return "stopped"
}

func (f *Fake) config(c *call) error {
	_, id, ct, err := f.loadCT(c, "vmid")
	if err != nil {
		return err
	}
	raw, err := RawLines(f.StateDir, id)
	if err != nil {
		return err
	}
	for _, l := range configLines(ct, raw) {
		c.res.stdout.WriteString(l + "\n")
	}
	return nil
}

func (f *Fake) list(c *call) error {
	p, err := parseArgs(c.op, c.args)
	if err != nil {
		return err
	}
	if err := positional(c.op, p); err != nil {
		return err
	}
	ids, err := listIDs(f.StateDir)
	if err != nil || len(ids) == 0 {
		return err
	}
	fmt.Fprintf(&c.res.stdout, "%-10s %-10s %-12s %-20s\n", "VMID", "Status", "Lock", "Name")
	for _, id := range ids {
		ct, err := Load(f.StateDir, id)
		if err != nil || ct == nil {
			return err
		}
		fmt.Fprintf(&c.res.stdout, "%-10d %-10s %-12s %-20s\n", id, runState(ct), ct.Lock, ct.Config["hostname"])
	}
	return nil
}

func (f *Fake) snapshot(c *call) error {
	p, id, err := parseCT(c, "vmid", "snapname")
	if err != nil {
		return err
	}
	desc, _ := p.get("description")
	return f.withHost(func(h *hoststate.Host) error { return h.Snapshot(id, p.pos[1], desc) })
}

func (f *Fake) listsnapshot(c *call) error {
	_, _, ct, err := f.loadCT(c, "vmid")
	if err != nil {
		return err
	}
	printTree(c, ct)
	return nil
}

// printTree prints snapshots as pct does: one line per snapshot, children
// indented under their parent, the "current" state last.
func printTree(c *call, ct *Container) {
	children := map[string][]Snapshot{}
	for _, s := range ct.Snapshots {
		parent := s.Parent
		if parent != "" && ct.Snapshot(parent) == nil {
			parent = ""
		}
		children[parent] = append(children[parent], s)
	}
	for _, list := range children {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Time.Before(list[j].Time) })
	}
	var walk func(indent, parent string)
	walk = func(indent, parent string) {
		for _, s := range children[parent] {
			desc := s.Description
			if desc == "" {
				desc = "no-description"
			}
			treeLine(c, indent, s.Name, s.Time.Local().Format("2006-01-02 15:04:05"), desc)
			walk(indent+"  ", s.Name)
		}
		if parent == ct.Parent {
			treeLine(c, indent, "current", "", "You are here!")
		}
	}
	walk("", "")
}

func treeLine(c *call, indent, name, when, desc string) {
	prefix := indent + "`->"
	width := max(30-len(prefix), 0)
	fmt.Fprintf(&c.res.stdout, "%s %-*s %-23s %s\n", prefix, width, name, when, desc)
}

func (f *Fake) delsnapshot(c *call) error {
	p, id, err := parseCT(c, "vmid", "snapname")
	if err != nil {
		return err
	}
	return f.withHost(func(h *hoststate.Host) error { return h.DeleteSnapshot(id, p.pos[1]) })
}

func (f *Fake) rollback(c *call) error {
	p, id, err := parseCT(c, "vmid", "snapname")
	if err != nil {
		return err
	}
	start, _ := p.get("start")
	return f.withHost(func(h *hoststate.Host) error { return h.Rollback(id, p.pos[1], start == "1") })
}

func (f *Fake) destroy(c *call) error {
	_, id, err := parseCT(c, "vmid")
	if err != nil {
		return err
	}
	return f.withHost(func(h *hoststate.Host) error { return h.Destroy(id) })
}

func (f *Fake) template(c *call) error {
	_, id, err := parseCT(c, "vmid")
	if err != nil {
		return err
	}
	return f.withHost(func(h *hoststate.Host) error { return h.Template(id) })
}

func (f *Fake) unlock(c *call) error {
	_, id, err := parseCT(c, "vmid")
	if err != nil {
		return err
	}
	return f.withHost(func(h *hoststate.Host) error { return h.Unlock(id) })
}

func (f *Fake) push(c *call) error {
	p, id, err := parseCT(c, "vmid", "file", "destination")
	if err != nil {
		return err
	}
	if err := f.withHost(func(h *hoststate.Host) error { return h.CanPush(id) }); err != nil {
		return err
	}
	data, err := os.ReadFile(p.pos[1])
	if err != nil {
		return refuse("unable to open file '%s' - %s", p.pos[1], reason(err))
	}
	perm := os.FileMode(0o644)
	if s, ok := p.get("perms"); ok {
		n, err := strconv.ParseUint(s, 8, 32)
		if err != nil {
			return refuse("400 Parameter verification failed.\nperms: invalid format - '%s' is not octal", s)
		}
		perm = os.FileMode(n)
	}
	dest := p.pos[2]
	if info, err := os.Stat(filepath.Dir(inRootfs(f.StateDir, id, dest))); err != nil || !info.IsDir() {
		// pct push opens dest in the container; it makes no directories.
		return refuse("failed to open %s for writing: No such file or directory", dest)
	}
	return writeInRootfs(f.StateDir, id, dest, data, perm)
}

// inRootfs maps a path inside the container to the host; ".." cannot
// escape the rootfs.
func inRootfs(dir string, ctid int, p string) string {
	return filepath.Join(RootfsPath(dir, ctid), filepath.Clean("/"+p))
}

// writeInRootfs writes a file inside the container, making its parent
// directories (for the fake's own marker files).
func writeInRootfs(dir string, ctid int, p string, data []byte, perm os.FileMode) error {
	target := inRootfs(dir, ctid, p)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(target, data, perm); err != nil {
		return err
	}
	return os.Chmod(target, perm)
}

func reason(err error) string {
	if os.IsNotExist(err) {
		return "No such file or directory"
	}
	return err.Error()
}
