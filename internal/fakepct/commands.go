package fakepct

import (
	"github.com/phoenix-hypervisor/phoenix/internal/pve"

	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
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
	if old, err := Load(f.StateDir, id); err != nil {
		return err
	} else if old != nil {
		return pctError(pve.MsgExists(Node, id))
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
	if err := os.RemoveAll(RootfsPath(f.StateDir, id)); err != nil {
		return err
	}
	return Save(f.StateDir, id, ct)
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
	sct, err := f.load(src)
	if err != nil {
		return err
	}
	if err := checkLock(sct); err != nil {
		return err
	}
	if old, err := Load(f.StateDir, newID); err != nil {
		return err
	} else if old != nil {
		return pctError(pve.MsgExists(Node, newID))
	}
	cfg, rootfs := sct.Config, RootfsPath(f.StateDir, src)
	if snap, ok := p.get("snapname"); ok {
		s := sct.snapshot(snap)
		if s == nil {
			return refuse("snapshot '%s' does not exist", snap)
		}
		cfg, rootfs = s.Config, snapRootfsPath(f.StateDir, src, snap)
	}
	ct := &Container{Config: map[string]string{}}
	for k, v := range cfg {
		if k != "template" {
			ct.Config[k] = v
		}
	}
	if _, full := p.get("full"); !full && sct.Config["template"] == "1" {
		ct.LinkedTo = src
	}
	renameVolumes(ct.Config, src, newID)
	if h, ok := p.get("hostname"); ok {
		ct.Config["hostname"] = h
	}
	if d, ok := p.get("description"); ok {
		ct.Config["description"] = d
	}
	if err := copyTree(rootfs, RootfsPath(f.StateDir, newID)); err != nil {
		return fmt.Errorf("clone rootfs: %w", err)
	}
	raw, err := RawLines(f.StateDir, src)
	if err != nil {
		return err
	}
	return saveWithRaw(f.StateDir, newID, ct, raw)
}

// saveWithRaw saves a new container whose .conf starts with raw lines.
func saveWithRaw(dir string, id int, ct *Container, raw []string) error {
	if len(raw) > 0 {
		if err := os.MkdirAll(filepath.Dir(ConfPath(dir, id)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(ConfPath(dir, id), []byte(strings.Join(raw, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return Save(dir, id, ct)
}

func (f *Fake) set(c *call) error {
	p, id, err := parseCT(c, "vmid")
	if err != nil {
		return err
	}
	ct, err := f.load(id)
	if err != nil {
		return err
	}
	if err := checkLock(ct); err != nil {
		return err
	}
	for _, o := range p.opts {
		switch o.key {
		case "delete":
			for _, k := range strings.FieldsFunc(o.value, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
				delete(ct.Config, k)
			}
		case "digest", "revert":
		case "lock":
			ct.Lock = o.value
		default:
			ct.Config[o.key] = normalize(id, o.key, o.value)
		}
	}
	return Save(f.StateDir, id, ct)
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
	_, id, ct, err := f.loadCT(c, "vmid")
	if err != nil {
		return err
	}
	if err := checkLock(ct); err != nil {
		return err
	}
	if ct.Config["template"] == "1" {
		return refuse("CT %d is a template - start failed", id)
	}
	if ct.Running {
		return pctError(pve.MsgAlreadyRunning(id))
	}
	ct.Running = true
	return Save(f.StateDir, id, ct)
}

// stop serves stop and shutdown.
func (f *Fake) stop(c *call) error {
	p, id, ct, err := f.loadCT(c, "vmid")
	if err != nil {
		return err
	}
	if t, ok := p.get("timeout"); ok {
		if _, err := strconv.Atoi(t); err != nil {
			return refuse("400 Parameter verification failed.\ntimeout: type check ('integer') failed - got '%s'", t)
		}
	}
	if !ct.Running {
		return pctError(pve.MsgNotRunning(id))
	}
	ct.Running = false
	return Save(f.StateDir, id, ct)
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

var snapNameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]+$`)

func (f *Fake) snapshot(c *call) error {
	p, id, ct, err := f.loadCT(c, "vmid", "snapname")
	if err != nil {
		return err
	}
	name := p.pos[1]
	if !snapNameRe.MatchString(name) || len(name) > 40 || name == "current" {
		return refuse("400 Parameter verification failed.\nsnapname: invalid format - invalid configuration ID '%s'", name)
	}
	if err := checkLock(ct); err != nil {
		return err
	}
	if ct.snapshot(name) != nil {
		return refuse("snapshot name '%s' already used", name)
	}
	desc, _ := p.get("description")
	cfg := make(map[string]string, len(ct.Config))
	for k, v := range ct.Config {
		cfg[k] = v
	}
	ct.Snapshots = append(ct.Snapshots, Snapshot{Name: name, Parent: ct.Parent, Time: f.now(), Description: desc, Config: cfg})
	ct.Parent = name
	if err := copyTree(RootfsPath(f.StateDir, id), snapRootfsPath(f.StateDir, id, name)); err != nil {
		return fmt.Errorf("snapshot rootfs: %w", err)
	}
	return Save(f.StateDir, id, ct)
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
		if parent != "" && ct.snapshot(parent) == nil {
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
	p, id, ct, err := f.loadCT(c, "vmid", "snapname")
	if err != nil {
		return err
	}
	name := p.pos[1]
	s := ct.snapshot(name)
	if s == nil {
		return refuse("snapshot '%s' does not exist", name)
	}
	if err := checkLock(ct); err != nil {
		return err
	}
	parent := s.Parent
	kept := ct.Snapshots[:0]
	for _, x := range ct.Snapshots {
		if x.Name == name {
			continue
		}
		if x.Parent == name {
			x.Parent = parent
		}
		kept = append(kept, x)
	}
	ct.Snapshots = kept
	if ct.Parent == name {
		ct.Parent = parent
	}
	if err := os.RemoveAll(snapRootfsPath(f.StateDir, id, name)); err != nil {
		return err
	}
	return Save(f.StateDir, id, ct)
}

func (f *Fake) rollback(c *call) error {
	p, id, ct, err := f.loadCT(c, "vmid", "snapname")
	if err != nil {
		return err
	}
	name := p.pos[1]
	s := ct.snapshot(name)
	if s == nil {
		return refuse("snapshot '%s' does not exist", name)
	}
	if err := checkLock(ct); err != nil {
		return err
	}
	ct.Config = map[string]string{}
	for k, v := range s.Config {
		ct.Config[k] = v
	}
	ct.Parent = name
	start, _ := p.get("start")
	ct.Running = start == "1"
	if err := copyTree(snapRootfsPath(f.StateDir, id, name), RootfsPath(f.StateDir, id)); err != nil {
		return fmt.Errorf("rollback rootfs: %w", err)
	}
	return Save(f.StateDir, id, ct)
}

func (f *Fake) destroy(c *call) error {
	_, id, ct, err := f.loadCT(c, "vmid")
	if err != nil {
		return err
	}
	if err := checkLock(ct); err != nil {
		return err
	}
	if ct.Running {
		return pctError(pve.MsgRunningDestroy(id))
	}
	if clones, err := f.linkedClones(id); err != nil {
		return err
	} else if len(clones) > 0 {
		return pctError(pve.MsgLinkedClones(baseVolume(id, ct)))
	}
	return remove(f.StateDir, id)
}

// linkedClones are the containers that share template id's base volume.
func (f *Fake) linkedClones(id int) ([]int, error) {
	ids, err := listIDs(f.StateDir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, other := range ids {
		ct, err := Load(f.StateDir, other)
		if err != nil {
			return nil, err
		}
		if ct != nil && ct.LinkedTo == id {
			out = append(out, other)
		}
	}
	return out, nil
}

// baseVolume is a template's rootfs volume as Proxmox names it once the
// container is a template: "local:base-900-disk-0".
func baseVolume(id int, ct *Container) string {
	vol, _, _ := strings.Cut(ct.Config["rootfs"], ",")
	return strings.Replace(vol, "vm-"+strconv.Itoa(id)+"-", "base-"+strconv.Itoa(id)+"-", 1)
}

func (f *Fake) template(c *call) error {
	_, id, ct, err := f.loadCT(c, "vmid")
	if err != nil {
		return err
	}
	if err := checkLock(ct); err != nil {
		return err
	}
	switch {
	case ct.Config["template"] == "1":
		return refuse("CT %d is already a template", id)
	case ct.Running:
		return refuse("CT %d is running - cannot convert to template", id)
	case len(ct.Snapshots) > 0:
		return refuse("you can't convert a CT to template if the CT has snapshots")
	}
	ct.Config["template"] = "1"
	if r := ct.Config["rootfs"]; r != "" {
		ct.Config["rootfs"] = strings.Replace(r, fmt.Sprintf("vm-%d-", id), fmt.Sprintf("base-%d-", id), 1)
	}
	return Save(f.StateDir, id, ct)
}

func (f *Fake) unlock(c *call) error {
	_, id, ct, err := f.loadCT(c, "vmid")
	if err != nil {
		return err
	}
	ct.Lock = ""
	return Save(f.StateDir, id, ct)
}

func (f *Fake) push(c *call) error {
	p, id, ct, err := f.loadCT(c, "vmid", "file", "destination")
	if err != nil {
		return err
	}
	if !ct.Running {
		return pctError(pve.MsgNotRunning(id))
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
