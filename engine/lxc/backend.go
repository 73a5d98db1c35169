package lxc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

var (
	_ engine.Backend    = (*Backend)(nil)
	_ engine.GPUSupport = (*Backend)(nil)
)

// DefaultLXCPath is LXC's own default container directory.
const DefaultLXCPath = "/var/lib/lxc"

// Network modes.
const (
	NetworkAuto = "auto" // a container gets its net0 when the bridge exists
	NetworkNone = "none" // never: loopback only
)

// Environment variables read by OptionsFromEnv.
const (
	EnvLXCPath = "PHOENIX_LXC_PATH"
	EnvNetwork = "PHOENIX_LXC_NETWORK"
)

// Options configure a Backend.
type Options struct {
	// LXCPath is the container directory every tool gets with -P;
	// "" is /var/lib/lxc.
	LXCPath string
	// HostRoot is prepended to bind mounts' host directories
	// (PHOENIX_HOST_ROOT, for tests); "" is /.
	HostRoot string
	// Network is NetworkAuto ("" too) or NetworkNone.
	Network string
	// BridgeExists reports whether a bridge of that name exists on the
	// host; nil checks /sys/class/net/<name>/bridge.
	BridgeExists func(name string) bool
	// Cgroup forces the cgroup keys (1: lxc.cgroup.*, 2: lxc.cgroup2.*);
	// 0 detects the host's layout.
	Cgroup int
	// Logger receives notes (an option recorded but not applied, ...);
	// nil discards them.
	Logger *slog.Logger
}

// OptionsFromEnv reads PHOENIX_LXC_PATH and PHOENIX_LXC_NETWORK.
func OptionsFromEnv(getenv func(string) string) Options {
	return Options{LXCPath: getenv(EnvLXCPath), Network: getenv(EnvNetwork), HostRoot: getenv("PHOENIX_HOST_ROOT")}
}

// Backend runs LXC containers named by CTID in one lxcpath. Reads never
// change the host (the dry-run backend reads through it); the lxcpath is
// made by the first Create or Clone.
type Backend struct {
	path string
	host host
	// dirs makes bind mounts' host directories (mount_points). There is
	// no Proxmox config root here: no firewall file.
	dirs  engine.LocalHost
	log   *slog.Logger
	locks sync.Map // ctid -> *sync.Mutex: config read-modify-write
	notes sync.Map // note text -> struct{}
}

// tools the backend runs; New checks they are installed.
var tools = []string{"lxc-start", "lxc-stop", "lxc-attach", "lxc-info", "lxc-ls", "lxc-copy", "lxc-snapshot", "lxc-destroy"}

// Tools are the LXC tools the backend runs (phoenix doctor checks them).
func Tools() []string { return append([]string(nil), tools...) }

// New checks that LXC's tools are installed and returns a Backend.
func New(o Options) (*Backend, error) {
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return nil, fmt.Errorf("lxc backend: %s not found on PATH: install LXC (apt-get install -y lxc) or use --backend pct", t)
		}
	}
	return newBackend(o)
}

// newBackend is New without the tools: enough for reads of the lxcpath
// and the plan's notes.
func newBackend(o Options) (*Backend, error) {
	switch o.Network {
	case "", NetworkAuto, NetworkNone:
	default:
		return nil, fmt.Errorf("lxc backend: network mode %q: want %q or %q", o.Network, NetworkAuto, NetworkNone)
	}
	path := o.LXCPath
	if path == "" {
		path = DefaultLXCPath
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("lxc backend: lxcpath: %w", err)
	}
	h := host{network: o.Network != NetworkNone, bridge: o.BridgeExists, cgroup2: isCgroup2(), apparmor: appArmorEnabled()}
	if h.bridge == nil {
		h.bridge = bridgeExists
	}
	if o.Cgroup != 0 {
		h.cgroup2 = o.Cgroup == 2
	}
	if _, err := os.Stat(nestingConf); err == nil {
		h.nesting = nestingConf
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Backend{path: path, host: h, log: log, dirs: engine.LocalHost{Root: o.HostRoot}}, nil
}

const nestingConf = "/usr/share/lxc/config/nesting.conf"

func (b *Backend) Name() string { return "lxc" }

// LXCPath is the container directory.
func (b *Backend) LXCPath() string { return b.path }

// GPUSupported: LXC on a plain host has no GPU passthrough here.
func (b *Backend) GPUSupported() (bool, string) { return false, "no GPU on this backend" }

func isCgroup2() bool {
	var st syscall.Statfs_t
	const cgroup2Magic = 0x63677270
	return syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == cgroup2Magic
}

func bridgeExists(name string) bool {
	if name == "" || strings.ContainsAny(name, "/.") {
		return false
	}
	_, err := os.Stat(filepath.Join("/sys/class/net", name, "bridge"))
	return err == nil
}

func (b *Backend) name(ctid int) string     { return strconv.Itoa(ctid) }
func (b *Backend) dir(ctid int) string      { return filepath.Join(b.path, b.name(ctid)) }
func (b *Backend) confPath(ctid int) string { return filepath.Join(b.dir(ctid), "config") }

func (b *Backend) exists(ctid int) bool {
	_, err := os.Stat(b.confPath(ctid))
	return err == nil
}

func (b *Backend) notExist(op string, ctid int) error {
	return fmt.Errorf("%s %d: container %d does not exist in %s: %w", op, ctid, ctid, b.path, engine.ErrNotExist)
}

func (b *Backend) lock(ctid int) func() {
	m, _ := b.locks.LoadOrStore(ctid, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// note logs a note once per text.
func (b *Backend) note(ctid int, text string) {
	if text == "" {
		return
	}
	if _, dup := b.notes.LoadOrStore(strconv.Itoa(ctid)+": "+text, struct{}{}); !dup {
		b.log.Info("lxc backend: "+text, "ctid", ctid)
	}
}

// state is lxc-info's state: RUNNING, STOPPED, FROZEN, ...
func (b *Backend) state(ctx context.Context, ctid int) (string, error) {
	out, err := b.run(ctx, nil, "lxc-info", "-n", b.name(ctid), "-P", b.path, "-s", "-H")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

func isRunning(state string) bool { return state == "RUNNING" || state == "FROZEN" }

func (b *Backend) Status(ctx context.Context, ctid int) (engine.Status, error) {
	if !b.exists(ctid) {
		return engine.Status{}, nil
	}
	st, err := b.state(ctx, ctid)
	if err != nil {
		return engine.Status{}, fmt.Errorf("status %d: %w", ctid, err)
	}
	return engine.Status{Exists: true, Running: isRunning(st)}, nil
}

func (b *Backend) List(ctx context.Context) ([]engine.ListEntry, error) {
	ents, err := os.ReadDir(b.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // made by the first Create: nothing there yet
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.path, err)
	}
	states, err := b.states(ctx)
	if err != nil {
		return nil, err
	}
	var out []engine.ListEntry
	for _, e := range ents {
		ctid, err := strconv.Atoi(e.Name())
		if err != nil || strconv.Itoa(ctid) != e.Name() || !b.exists(ctid) {
			continue
		}
		st := "stopped"
		if isRunning(states[e.Name()]) {
			st = "running"
		}
		name := ""
		if c, err := readConf(b.confPath(ctid)); err == nil {
			name = c.First("lxc.uts.name")
		}
		out = append(out, engine.ListEntry{CTID: ctid, Status: st, Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CTID < out[j].CTID })
	return out, nil
}

// states is every container's state from one lxc-ls call.
func (b *Backend) states(ctx context.Context) (map[string]string, error) {
	out, err := b.run(ctx, nil, "lxc-ls", "-P", b.path, "-f", "-F", "NAME,STATE")
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	m := map[string]string{}
	for i, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 2 {
			continue
		}
		m[f[0]] = f[1]
	}
	return m, nil
}

func (b *Backend) Config(ctx context.Context, ctid int) (map[string]string, error) {
	c, err := readConf(b.confPath(ctid))
	if errors.Is(err, os.ErrNotExist) {
		return nil, b.notExist("config", ctid)
	}
	if err != nil {
		return nil, fmt.Errorf("config %d: %w", ctid, err)
	}
	return pctConfig(c), nil
}

// editConf applies f to the container's config under its lock.
func (b *Backend) editConf(ctid int, f func(c *lxcConf) error) error {
	unlock := b.lock(ctid)
	defer unlock()
	c, err := readConf(b.confPath(ctid))
	if errors.Is(err, os.ErrNotExist) {
		return engine.ErrNotExist
	}
	if err != nil {
		return err
	}
	if err := f(c); err != nil {
		return err
	}
	return c.write(b.confPath(ctid))
}

func (b *Backend) Set(ctx context.Context, ctid int, opts []engine.Option, del []string) error {
	if !b.exists(ctid) {
		return b.notExist("set", ctid)
	}
	var notes []string
	err := b.editConf(ctid, func(c *lxcConf) error {
		for _, o := range opts {
			n, err := applyOption(c, o.Key, o.Value, b.host)
			if err != nil {
				return err
			}
			notes = append(notes, n)
		}
		for _, k := range del {
			deleteOption(c, k, b.host)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set %d: %w", ctid, err)
	}
	for _, n := range notes {
		b.note(ctid, n)
	}
	for _, o := range opts {
		if o.Key == "hostname" {
			b.syncHostname(ctid, o.Value)
		}
	}
	return nil
}

// AppendRaw adds lxc.* lines given in pct's "key: value" form.
func (b *Backend) AppendRaw(ctx context.Context, ctid int, lines []string) error {
	if !b.exists(ctid) {
		return b.notExist("append raw", ctid)
	}
	err := b.editConf(ctid, func(c *lxcConf) error {
		for _, l := range lines {
			k, v, ok := strings.Cut(l, ":")
			if !ok || !strings.HasPrefix(strings.TrimSpace(k), "lxc.") {
				return fmt.Errorf("raw line %q: want `lxc.key: value`", l)
			}
			if k = strings.TrimSpace(k); k == "lxc.idmap" {
				recordIDMap(c, strings.TrimSpace(v))
				continue
			}
			c.Add(k, strings.TrimSpace(v))
		}
		syncIDMaps(c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("append raw %d: %w", ctid, err)
	}
	return nil
}

// EditRaw applies a pve.MergeRaw edit: each changed key's lines replaced
// in place (lxc.idmap as one set), and the description holding the record
// of Phoenix's lines.
func (b *Backend) EditRaw(ctx context.Context, ctid int, edit engine.RawEdit) error {
	if !b.exists(ctid) {
		return b.notExist("edit raw", ctid)
	}
	err := b.editConf(ctid, func(c *lxcConf) error {
		for _, ch := range edit.Changes {
			if ch.Key == "lxc.idmap" {
				c.DelMeta(idmapMeta)
				for _, v := range ch.New {
					recordIDMap(c, v)
				}
				syncIDMaps(c)
				continue
			}
			c.Replace(ch.Key, ch.New)
		}
		if edit.DescriptionChanged {
			if edit.Description == "" {
				c.DelMeta("description")
			} else {
				c.SetMeta("description", edit.Description)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("edit raw %d: %w", ctid, err)
	}
	return nil
}

func (b *Backend) Start(ctx context.Context, ctid int) error {
	st, err := b.Status(ctx, ctid)
	switch {
	case err != nil:
		return err
	case !st.Exists:
		return b.notExist("start", ctid)
	case st.Running:
		return fmt.Errorf("start %d: CT %d already running", ctid, ctid)
	}
	if c, err := readConf(b.confPath(ctid)); err == nil {
		if uid, gid, ok := mappedRoot(c); ok {
			if err := checkReachable(ctid, b.dir(ctid), uid, gid); err != nil {
				return err
			}
		}
	}
	logf := filepath.Join(b.dir(ctid), "start.log")
	_ = os.Remove(logf)
	if _, err := b.run(ctx, nil, "lxc-start", "-n", b.name(ctid), "-P", b.path, "-d", "-o", logf, "-l", "ERROR"); err != nil {
		// lxc-start's stderr (in err) ends with its generic "failed to
		// start"; the cause is the start log's first errors.
		if head := firstLines(logf, 3); head != "" {
			return fmt.Errorf("start %d: %w; first errors in %s: %s", ctid, err, logf, head)
		}
		return fmt.Errorf("start %d: %w", ctid, err)
	}
	return nil
}

// firstLines is the first n non-blank lines of the file at path, joined
// with "; " ("" when it cannot be read).
func firstLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && len(lines) < n {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

func (b *Backend) Stop(ctx context.Context, ctid int) error {
	return b.stop(ctx, "stop", ctid, "-k")
}

// Shutdown asks the init to stop (SIGPWR) and kills the container after
// timeout, as `pct shutdown --forceStop` would.
func (b *Backend) Shutdown(ctx context.Context, ctid int, timeout time.Duration) error {
	secs := int(timeout / time.Second)
	if secs <= 0 {
		secs = 60
	}
	return b.stop(ctx, "shutdown", ctid, "-t", strconv.Itoa(secs))
}

func (b *Backend) stop(ctx context.Context, op string, ctid int, args ...string) error {
	st, err := b.Status(ctx, ctid)
	switch {
	case err != nil:
		return err
	case !st.Exists:
		return b.notExist(op, ctid)
	case !st.Running:
		return fmt.Errorf("%s %d: CT %d not running", op, ctid, ctid)
	}
	argv := append([]string{"-n", b.name(ctid), "-P", b.path}, args...)
	if _, err := b.run(ctx, nil, "lxc-stop", argv...); err != nil {
		return fmt.Errorf("%s %d: %w", op, ctid, err)
	}
	return nil
}

// Destroy removes a stopped container with its snapshots. LXC refuses
// while overlay clones of its snapshots exist.
func (b *Backend) Destroy(ctx context.Context, ctid int) error {
	st, err := b.Status(ctx, ctid)
	switch {
	case err != nil:
		return err
	case !st.Exists:
		return b.notExist("destroy", ctid)
	case st.Running:
		return fmt.Errorf("destroy %d: CT %d is running - destroy failed: stop it first", ctid, ctid)
	}
	if _, err := b.run(ctx, nil, "lxc-destroy", "-n", b.name(ctid), "-P", b.path, "-s"); err != nil {
		return fmt.Errorf("destroy %d: %w", ctid, err)
	}
	return nil
}

// appArmorEnabled reads whether the kernel's AppArmor module is on.
func appArmorEnabled() bool {
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(data)) == "Y"
}

var _ engine.HostDirs = (*Backend)(nil)

// StatHostDir reports a bind mount's host directory.
func (b *Backend) StatHostDir(ctx context.Context, path string) (bool, int, int, error) {
	return b.dirs.StatHostDir(ctx, path)
}

// EnsureHostDir makes a bind mount's host directory, owned by the host
// ids the stage asks for: the container's id maps apply for real here, so
// those are the ids the container sees as its owner.
func (b *Backend) EnsureHostDir(ctx context.Context, ctid int, path string, uid, gid int) error {
	return b.dirs.EnsureHostDir(ctx, ctid, path, uid, gid)
}
