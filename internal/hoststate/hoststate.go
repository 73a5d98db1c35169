package hoststate

import (
	"maps"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Container is one container as Proxmox keeps it: what
// /etc/pve/lxc/<CTID>.conf says, and whether it runs. Its JSON is the fake
// pct's state file.
type Container struct {
	// Config holds the `pct config` keys (template: 1 included; lock and
	// parent are the fields below).
	Config    map[string]string `json:"config"`
	Running   bool              `json:"running"`
	Lock      string            `json:"lock,omitempty"`
	Snapshots []Snapshot        `json:"snapshots,omitempty"`
	// Parent is the snapshot the current state derives from ("" = none).
	Parent string `json:"parent,omitempty"`
	// LinkedTo is the template a linked clone shares its base volume with
	// (a clone of a template without --full); 0 for the others.
	LinkedTo int `json:"linked_to,omitempty"`
}

// Snapshot is one snapshot of a container.
type Snapshot struct {
	Name        string    `json:"name"`
	Parent      string    `json:"parent,omitempty"`
	Time        time.Time `json:"time"`
	Description string    `json:"description,omitempty"`
	// Config is the config the snapshot captured: what a clone of it or
	// a rollback to it gets. Nil when it is not known (a snapshot read
	// from a host's listsnapshot): the current config stands for it.
	Config map[string]string `json:"config"`
}

// Snapshot returns the snapshot called name, or nil.
func (c *Container) Snapshot(name string) *Snapshot {
	for i := range c.Snapshots {
		if c.Snapshots[i].Name == name {
			return &c.Snapshots[i]
		}
	}
	return nil
}

// SnapshotNames lists the snapshots in the order they were taken.
func (c *Container) SnapshotNames() []string {
	out := make([]string, 0, len(c.Snapshots))
	for _, s := range c.Snapshots {
		out = append(out, s.Name)
	}
	return out
}

// IsTemplate reports whether `pct template` made c a template.
func (c *Container) IsTemplate() bool { return c.Config["template"] == "1" }

// Copy is a deep copy of c.
func (c *Container) Copy() *Container {
	cp := *c
	cp.Config = maps.Clone(c.Config)
	if cp.Config == nil {
		cp.Config = map[string]string{}
	}
	cp.Snapshots = make([]Snapshot, len(c.Snapshots))
	for i, s := range c.Snapshots {
		s.Config = maps.Clone(s.Config)
		cp.Snapshots[i] = s
	}
	return &cp
}

// Inside keeps what is inside the containers. The Host calls it once a
// verb passed pct's checks, to do to the files what the verb does.
type Inside interface {
	// Snapshot keeps ctid's current files as snapshot name.
	Snapshot(ctid int, name string) error
	// Clone gives dst a copy of src's snapshot snap ("" = current) files.
	Clone(src int, snap string, dst int) error
	// Rollback puts ctid's snapshot name files back.
	Rollback(ctid int, name string) error
	// DeleteSnapshot forgets ctid's snapshot name files.
	DeleteSnapshot(ctid int, name string) error
	// Remove forgets ctid's files and snapshots (destroy; and create: a
	// new container starts from its template, not a destroyed one's
	// leftovers).
	Remove(ctid int) error
}

// Host is the containers of one node, by CTID.
type Host struct {
	CTs map[int]*Container
	// Inside, when set, is told what each verb does to the files.
	Inside Inside
	// Now stamps snapshots; nil means time.Now.
	Now func() time.Time
}

// New returns an empty host whose files inside keeps (nil: none).
func New(inside Inside) *Host { return &Host{CTs: map[int]*Container{}, Inside: inside} }

func (h *Host) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// IDs lists the containers, sorted.
func (h *Host) IDs() []int {
	ids := make([]int, 0, len(h.CTs))
	for id := range h.CTs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// Get is ctid, or pct's refusal when it does not exist.
func (h *Host) Get(ctid int) (*Container, error) {
	c := h.CTs[ctid]
	if c == nil {
		return nil, pve.Refuse(pve.MsgNoConfig(pve.Node, ctid))
	}
	return c, nil
}

// unlocked is ctid when it exists and no lock refuses the verb.
func (h *Host) unlocked(ctid int) (*Container, error) {
	c, err := h.Get(ctid)
	if err != nil {
		return nil, err
	}
	return c, c.CheckLock()
}

// CheckLock is pct's refusal of a locked container, nil when c has no
// lock.
func (c *Container) CheckLock() error {
	if c.Lock != "" {
		return pve.Refuse(pve.MsgLocked(c.Lock))
	}
	return nil
}

func (h *Host) inside(fn func(in Inside) error) error {
	if h.Inside == nil {
		return nil
	}
	return fn(h.Inside)
}

// Create is `pct create`: c (its config as Proxmox stores it) becomes
// ctid, which must not exist.
func (h *Host) Create(ctid int, c *Container) error {
	if h.CTs[ctid] != nil {
		return pve.Refuse(pve.MsgExists(pve.Node, ctid))
	}
	if err := h.inside(func(in Inside) error { return in.Remove(ctid) }); err != nil {
		return err
	}
	c = c.Copy()
	h.CTs[ctid] = c
	return nil
}

// CloneOptions are pct clone's options the state sees.
type CloneOptions struct {
	Snapshot    string // --snapname: clone what it captured, not the current state
	Full        bool   // --full: a template's clone is linked without it
	Storage     string // --storage: where a full clone's disks go
	Hostname    string
	Description string
}

// Clone is `pct clone src dst`: dst gets src's config (at o.Snapshot
// when set) and files, stopped, with no snapshots and not a template.
func (h *Host) Clone(src, dst int, o CloneOptions) error {
	s, err := h.unlocked(src)
	if err != nil {
		return err
	}
	if h.CTs[dst] != nil {
		return pve.Refuse(pve.MsgExists(pve.Node, dst))
	}
	cfg := s.Config
	if o.Snapshot != "" {
		snap := s.Snapshot(o.Snapshot)
		if snap == nil {
			return pve.Refuse(pve.MsgNoSnapshot(o.Snapshot))
		}
		if snap.Config != nil {
			cfg = snap.Config
		}
	}
	c := &Container{Config: maps.Clone(cfg)}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	for _, k := range []string{"template", "lock", "parent"} {
		delete(c.Config, k)
	}
	if !o.Full && s.IsTemplate() {
		if o.Storage != "" {
			return pve.Refuse(pve.MsgStorageLinkedClone())
		}
		c.LinkedTo = src
	}
	if o.Storage != "" {
		for k, v := range c.Config {
			if pve.IsVolumeKey(k) {
				c.Config[k] = pve.OnStorage(v, o.Storage)
			}
		}
	}
	if o.Hostname != "" {
		c.Config["hostname"] = o.Hostname
	}
	if o.Description != "" {
		c.Config["description"] = o.Description
	}
	if err := h.inside(func(in Inside) error { return in.Clone(src, o.Snapshot, dst) }); err != nil {
		return err
	}
	h.CTs[dst] = c
	return nil
}

// Set is `pct set`: opts (values as Proxmox stores them) then del. A
// "lock" option sets the lock; digest and revert change nothing here.
func (h *Host) Set(ctid int, opts []pve.Option, del []string) error {
	c, err := h.unlocked(ctid)
	if err != nil {
		return err
	}
	for _, o := range opts {
		switch o.Key {
		case "digest", "revert":
		case "lock":
			c.Lock = o.Value
		default:
			c.Config[o.Key] = o.Value
		}
	}
	for _, k := range del {
		delete(c.Config, k)
	}
	return nil
}

// AppendRaw adds raw lxc.* lines to ctid's config, as writing them into
// its .conf does (no lock is asked).
func (h *Host) AppendRaw(ctid int, lines []string) error {
	c, err := h.Get(ctid)
	if err != nil {
		return err
	}
	pve.AppendRaw(c.Config, lines)
	return nil
}

// EditRaw applies a pve.MergeRaw edit to ctid's config (raw lines and
// the description holding their record), as writing the .conf does.
func (h *Host) EditRaw(ctid int, edit pve.RawEdit) error {
	c, err := h.Get(ctid)
	if err != nil {
		return err
	}
	pve.ApplyRawEdit(c.Config, edit)
	return nil
}

// Start is `pct start`.
func (h *Host) Start(ctid int) error {
	c, err := h.unlocked(ctid)
	if err != nil {
		return err
	}
	switch {
	case c.IsTemplate():
		return pve.Refuse(pve.MsgTemplateStart(ctid))
	case c.Running:
		return pve.Refuse(pve.MsgAlreadyRunning(ctid))
	}
	c.Running = true
	return nil
}

// Stop is `pct stop` and `pct shutdown`.
func (h *Host) Stop(ctid int) error {
	c, err := h.Get(ctid)
	if err != nil {
		return err
	}
	if !c.Running {
		return pve.Refuse(pve.MsgNotRunning(ctid))
	}
	c.Running = false
	return nil
}

var snapNameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]+$`)

// Snapshot is `pct snapshot ctid name`: it captures the config (and,
// through Inside, the files) that a clone of it or a rollback gets.
func (h *Host) Snapshot(ctid int, name, description string) error {
	c, err := h.Get(ctid)
	if err != nil {
		return err
	}
	if !snapNameRe.MatchString(name) || len(name) > 40 || name == "current" {
		return pve.Refuse(pve.MsgBadSnapshotName(name))
	}
	if err := c.CheckLock(); err != nil {
		return err
	}
	if c.Snapshot(name) != nil {
		return pve.Refuse(pve.MsgSnapshotExists(name))
	}
	if err := h.inside(func(in Inside) error { return in.Snapshot(ctid, name) }); err != nil {
		return err
	}
	c.Snapshots = append(c.Snapshots, Snapshot{Name: name, Parent: c.Parent, Time: h.now(),
		Description: description, Config: maps.Clone(c.Config)})
	c.Parent = name
	return nil
}

// snapshotOf is ctid and its snapshot name, refusing a missing one or a
// lock.
func (h *Host) snapshotOf(ctid int, name string) (*Container, *Snapshot, error) {
	c, err := h.Get(ctid)
	if err != nil {
		return nil, nil, err
	}
	s := c.Snapshot(name)
	if s == nil {
		return nil, nil, pve.Refuse(pve.MsgNoSnapshot(name))
	}
	return c, s, c.CheckLock()
}

// DeleteSnapshot is `pct delsnapshot`: the snapshot's children hang from
// its parent.
func (h *Host) DeleteSnapshot(ctid int, name string) error {
	c, s, err := h.snapshotOf(ctid, name)
	if err != nil {
		return err
	}
	if err := h.inside(func(in Inside) error { return in.DeleteSnapshot(ctid, name) }); err != nil {
		return err
	}
	parent := s.Parent
	kept := c.Snapshots[:0]
	for _, x := range c.Snapshots {
		if x.Name == name {
			continue
		}
		if x.Parent == name {
			x.Parent = parent
		}
		kept = append(kept, x)
	}
	c.Snapshots = kept
	if c.Parent == name {
		c.Parent = parent
	}
	return nil
}

// Rollback is `pct rollback ctid name [--start]`.
func (h *Host) Rollback(ctid int, name string, start bool) error {
	c, s, err := h.snapshotOf(ctid, name)
	if err != nil {
		return err
	}
	if err := h.inside(func(in Inside) error { return in.Rollback(ctid, name) }); err != nil {
		return err
	}
	if s.Config != nil {
		c.Config = maps.Clone(s.Config)
	}
	c.Parent = name
	c.Running = start
	return nil
}

// Destroy is `pct destroy`: a stopped container no linked clone uses.
func (h *Host) Destroy(ctid int) error {
	c, err := h.unlocked(ctid)
	if err != nil {
		return err
	}
	if c.Running {
		return pve.Refuse(pve.MsgRunningDestroy(ctid))
	}
	for _, id := range h.IDs() {
		if h.CTs[id].LinkedTo == ctid {
			return pve.Refuse(pve.MsgLinkedClones(baseVolume(ctid, c)))
		}
	}
	if err := h.inside(func(in Inside) error { return in.Remove(ctid) }); err != nil {
		return err
	}
	delete(h.CTs, ctid)
	return nil
}

// Template is `pct template`: a stopped container without snapshots
// becomes a template, its rootfs a base volume.
func (h *Host) Template(ctid int) error {
	c, err := h.unlocked(ctid)
	if err != nil {
		return err
	}
	switch {
	case c.IsTemplate():
		return pve.Refuse(pve.MsgAlreadyTemplate(ctid))
	case c.Running:
		return pve.Refuse(pve.MsgRunningTemplate(ctid))
	case len(c.Snapshots) > 0:
		return pve.Refuse(pve.MsgSnapshotsTemplate)
	}
	c.Config["template"] = "1"
	if r := c.Config["rootfs"]; r != "" {
		c.Config["rootfs"] = strings.Replace(r, vmPrefix(ctid), basePrefix(ctid), 1)
	}
	return nil
}

// Unlock is `pct unlock`.
func (h *Host) Unlock(ctid int) error {
	c, err := h.Get(ctid)
	if err != nil {
		return err
	}
	c.Lock = ""
	return nil
}

// Resize is `pct resize ctid disk size`: size absolute ("64G") or
// relative ("+2G"); a disk only grows.
func (h *Host) Resize(ctid int, disk, size string) error {
	c, err := h.unlocked(ctid)
	if err != nil {
		return err
	}
	old, ok := pve.ParseVolume(c.Config[disk])
	if !ok {
		return pve.Refuse(pve.MsgNoDisk(disk))
	}
	mib := pve.ParseSizeMiB(strings.TrimPrefix(size, "+"))
	if mib == 0 {
		return pve.Refuse(pve.MsgBadSize)
	}
	if strings.HasPrefix(size, "+") {
		mib += old.SizeMiB
	}
	if mib < old.SizeMiB {
		return pve.Refuse(pve.MsgShrink)
	}
	c.Config[disk] = pve.WithSize(c.Config[disk], pve.FormatSizeGB(mib)+"G")
	return nil
}

// CanPush refuses a push into ctid as pct push does.
func (h *Host) CanPush(ctid int) error { return h.running(ctid, pve.MsgNotRunning) }

// CanExec refuses an exec in ctid as pct exec (lxc-attach) does; no lock
// is asked.
func (h *Host) CanExec(ctid int) error { return h.running(ctid, pve.MsgExecNotRunning) }

// running refuses a stopped or missing ctid, a stopped one with
// stopped's message.
func (h *Host) running(ctid int, stopped func(int) string) error {
	c, err := h.Get(ctid)
	if err == nil && !c.Running {
		err = pve.Refuse(stopped(ctid))
	}
	return err
}
