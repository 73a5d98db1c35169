package fakepct

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/phoenix-hypervisor/phoenix/internal/hoststate"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Container is one fake container: <state>/<ctid>.json is the JSON of
// the shared model's container (internal/hoststate).
type Container = hoststate.Container

// Snapshot is one snapshot of a fake container.
type Snapshot = hoststate.Snapshot

// ExecRule scripts the answer to a `pct exec` (see exec_rules.json in the
// package documentation).
type ExecRule struct {
	// Match is a regexp searched in the command's argv joined by spaces
	// (after a leading `env K=V...` is stripped).
	Match string `json:"match"`
	// CTID, when non-zero, limits the rule to one container.
	CTID   int    `json:"ctid,omitempty"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Code   int    `json:"code,omitempty"`
	// Sleep is a Go duration ("2s") waited before answering, without
	// holding the state lock: for timeout and parallelism tests.
	Sleep string `json:"sleep,omitempty"`
	// Gate, when set, is a FIFO: after printing Stdout and Stderr the
	// command waits, without the state lock, until the FIFO is opened for
	// writing and closed, then prints After on stdout and exits. A test
	// holds the command open there to see its first lines arrive before
	// it ends (streaming), with no timing.
	Gate  string `json:"gate,omitempty"`
	After string `json:"after,omitempty"`
}

// Paths inside a state directory.
const (
	callsFile = "calls.log"
	rulesFile = "exec_rules.json"
	lockFile  = ".lock"
)

// ContainerPath is the JSON state file of ctid.
func ContainerPath(dir string, ctid int) string {
	return filepath.Join(dir, strconv.Itoa(ctid)+".json")
}

// RootfsPath is the directory standing for ctid's root file system.
func RootfsPath(dir string, ctid int) string {
	return filepath.Join(dir, "rootfs", strconv.Itoa(ctid))
}

// ConfPath is ctid's Proxmox-style configuration file,
// <state>/pve/lxc/<ctid>.conf. The fake rewrites its key lines on every
// change and keeps the raw lxc.* lines found in it, so pointing the pct
// backend's PVEDir at <state>/pve makes AppendRaw visible to `pct config`.
func ConfPath(dir string, ctid int) string {
	return filepath.Join(dir, "pve", "lxc", strconv.Itoa(ctid)+".conf")
}

func snapRootfsPath(dir string, ctid int, name string) string {
	return filepath.Join(dir, "snaprootfs", strconv.Itoa(ctid), name)
}

// Load reads ctid's state; (nil, nil) when the container does not exist.
func Load(dir string, ctid int) (*Container, error) {
	data, err := os.ReadFile(ContainerPath(dir, ctid))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read fake container %d: %w", ctid, err)
	}
	var c Container
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", ContainerPath(dir, ctid), err)
	}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	return &c, nil
}

// Save writes ctid's state (creating its rootfs directory and .conf), for
// the fake itself and for tests that arrange a host.
func Save(dir string, ctid int, c *Container) error {
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode fake container %d: %w", ctid, err)
	}
	for _, d := range []string{dir, filepath.Dir(ConfPath(dir, ctid))} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("save fake container %d: %w", ctid, err)
		}
	}
	if err := ensureRootfs(dir, ctid); err != nil {
		return fmt.Errorf("save fake container %d: %w", ctid, err)
	}
	if err := writeFileAtomic(ContainerPath(dir, ctid), append(data, '\n')); err != nil {
		return err
	}
	raw, err := RawLines(dir, ctid)
	if err != nil {
		return err
	}
	return writeFileAtomic(ConfPath(dir, ctid), renderConf(c, raw))
}

// Skeleton lists the directories a new fake rootfs starts with, as an
// Ubuntu or Debian template has them: pushing into one needs no mkdir.
var Skeleton = []string{"etc/apt/sources.list.d", "etc/default", "etc/profile.d", "etc/systemd/system",
	"home", "opt", "root", "run", "srv", "tmp", "usr/bin", "usr/lib", "usr/local/bin", "usr/local/sbin",
	"usr/sbin", "var/lib", "var/log", "var/tmp"}

// ensureRootfs makes ctid's rootfs with the Skeleton when it is missing.
func ensureRootfs(dir string, ctid int) error {
	root := RootfsPath(dir, ctid)
	if _, err := os.Stat(root); err == nil {
		return nil
	}
	for _, d := range Skeleton {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// RawLines returns the lxc.* lines of ctid's .conf (main section only).
func RawLines(dir string, ctid int) ([]string, error) {
	data, err := os.ReadFile(ConfPath(dir, ctid))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ConfPath(dir, ctid), err)
	}
	var raw []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "[") {
			break
		}
		if strings.HasPrefix(line, "lxc.") {
			raw = append(raw, line)
		}
	}
	return raw, sc.Err()
}

// configLines renders `pct config`: sorted `key: value` lines (lock
// included), then the raw lxc.* lines.
func configLines(c *Container, raw []string) []string {
	kv := make(map[string]string, len(c.Config)+1)
	for k, v := range c.Config {
		kv[k] = v
	}
	if c.Lock != "" {
		kv["lock"] = c.Lock
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, 0, len(keys)+len(raw))
	for _, k := range keys {
		v := kv[k]
		if k == "description" {
			v = pve.EncodeText(v) // as pct config prints it
		}
		lines = append(lines, k+": "+v)
	}
	return append(lines, raw...)
}

// renderConf writes /etc/pve/lxc/<CTID>.conf as Proxmox does: the current
// config (with parent: naming the latest snapshot) and its raw lines, then
// one section per snapshot with its config and snaptime.
func renderConf(c *Container, raw []string) []byte {
	f := pve.ConfFile{Current: pve.Section{Keys: map[string]string{}}}
	for _, l := range configLines(c, nil) {
		k, v, _ := strings.Cut(l, ": ")
		if k == "description" {
			// Proxmox keeps the description as comment lines.
			f.Current.Comments = strings.Split(pve.EncodeText(c.Config[k]), "%0A")
			continue
		}
		f.Current.Keys[k] = v
	}
	if c.Parent != "" {
		f.Current.Keys["parent"] = c.Parent
	}
	for _, l := range raw {
		k, v, _ := strings.Cut(l, ":")
		f.Current.Raw = append(f.Current.Raw, pve.RawLine{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	for _, snap := range c.Snapshots {
		sec := pve.Section{Name: snap.Name, Keys: map[string]string{}}
		for k, v := range snap.Config {
			sec.Keys[k] = v
		}
		sec.Keys["snaptime"] = strconv.FormatInt(snap.Time.Unix(), 10)
		if snap.Parent != "" {
			sec.Keys["parent"] = snap.Parent
		}
		f.Snapshots = append(f.Snapshots, sec)
	}
	return []byte(f.Format())
}

func writeFileAtomic(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// withHost runs fn on the model of the host the state directory holds,
// then writes back the containers fn changed and removes those it
// destroyed.
func (f *Fake) withHost(fn func(h *hoststate.Host) error) error {
	ids, err := listIDs(f.StateDir)
	if err != nil {
		return err
	}
	h := hoststate.New(diskInside{dir: f.StateDir})
	h.Now = f.now
	before := map[int][]byte{}
	for _, id := range ids {
		c, err := Load(f.StateDir, id)
		if err != nil {
			return err
		}
		h.CTs[id] = c
		before[id], _ = json.Marshal(c)
	}
	if err := fn(h); err != nil {
		return err
	}
	for _, id := range h.IDs() {
		if now, _ := json.Marshal(h.CTs[id]); !bytes.Equal(now, before[id]) {
			if err := Save(f.StateDir, id, h.CTs[id]); err != nil {
				return err
			}
		}
	}
	for id := range before {
		if h.CTs[id] == nil {
			if err := removeState(f.StateDir, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeState deletes ctid's state file and .conf.
func removeState(dir string, ctid int) error {
	for _, p := range []string{ContainerPath(dir, ctid), ConfPath(dir, ctid)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("destroy fake container %d: %w", ctid, err)
		}
	}
	return nil
}

// diskInside is the fake containers' files on disk: rootfs/<ctid> and the
// snapshots' copies in snaprootfs/<ctid>/<name>.
type diskInside struct{ dir string }

func (d diskInside) Snapshot(ctid int, name string) error {
	if err := copyTree(RootfsPath(d.dir, ctid), snapRootfsPath(d.dir, ctid, name)); err != nil {
		return fmt.Errorf("snapshot rootfs: %w", err)
	}
	return nil
}

func (d diskInside) Clone(src int, snap string, dst int) error {
	from := RootfsPath(d.dir, src)
	if snap != "" {
		from = snapRootfsPath(d.dir, src, snap)
	}
	if err := copyTree(from, RootfsPath(d.dir, dst)); err != nil {
		return fmt.Errorf("clone rootfs: %w", err)
	}
	return nil
}

func (d diskInside) Rollback(ctid int, name string) error {
	if err := copyTree(snapRootfsPath(d.dir, ctid, name), RootfsPath(d.dir, ctid)); err != nil {
		return fmt.Errorf("rollback rootfs: %w", err)
	}
	return nil
}

func (d diskInside) DeleteSnapshot(ctid int, name string) error {
	return os.RemoveAll(snapRootfsPath(d.dir, ctid, name))
}

func (d diskInside) Remove(ctid int) error {
	for _, p := range []string{RootfsPath(d.dir, ctid), filepath.Join(d.dir, "snaprootfs", strconv.Itoa(ctid))} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove fake rootfs %d: %w", ctid, err)
		}
	}
	return nil
}

// listIDs returns the ids of every fake container, sorted.
func listIDs(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list fake containers: %w", err)
	}
	var ids []int
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if id, err := strconv.Atoi(n); err == nil && !e.IsDir() {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	return ids, nil
}

// lockState takes the exclusive state lock; the returned func releases it.
func lockState(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state: %w", err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// appendCall adds argv to calls.log as one JSON line in a single write, so
// that concurrent invocations never interleave.
func appendCall(dir string, argv []string) error {
	if argv == nil {
		argv = []string{}
	}
	line, err := json.Marshal(argv)
	if err != nil {
		return fmt.Errorf("encode call: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, callsFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open call log: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write call log: %w", err)
	}
	return nil
}

// ReadCalls returns every recorded invocation (argv without "pct"), in order.
func ReadCalls(dir string) ([][]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, callsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read call log: %w", err)
	}
	var calls [][]string
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var argv []string
		if err := json.Unmarshal([]byte(line), &argv); err != nil {
			return nil, fmt.Errorf("call log line %d: %w", i+1, err)
		}
		calls = append(calls, argv)
	}
	return calls, nil
}

// WriteExecRules replaces the state's exec_rules.json.
func WriteExecRules(dir string, rules []ExecRule) error {
	data, err := json.MarshalIndent(rules, "", "  ")
	if err != nil {
		return fmt.Errorf("encode exec rules: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, rulesFile), data, 0o644)
}

func readExecRules(dir string) ([]ExecRule, error) {
	data, err := os.ReadFile(filepath.Join(dir, rulesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read exec rules: %w", err)
	}
	var rules []ExecRule
	if err := json.Unmarshal(data, &rules); err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Join(dir, rulesFile), err)
	}
	return rules, nil
}

// Mutating reports whether a recorded call changes a container's state. A
// `pct exec` counts as mutating: the fake cannot tell a probe from a
// change.
func Mutating(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	switch argv[0] {
	case "status", "config", "list", "listsnapshot":
		return false
	}
	return true
}

// copyTree copies the directory src to dst (dst is replaced).
func copyTree(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == src {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil
	})
}
