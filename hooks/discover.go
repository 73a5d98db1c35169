package hooks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// hookPrefix is the file name prefix of every hook of the old system.
const hookPrefix = "phoenix_hypervisor_setup_"

// KindBoth is the Kind of a container that has both a .lua and a .sh hook
// (State engine.HookAmbiguous).
const KindBoth = "lua+sh"

// hookFileRE matches a hook file name; *_test.lua files are Lua hook tests,
// not hooks.
var hookFileRE = regexp.MustCompile(`^` + hookPrefix + `([0-9]+)\.(sh|lua)$`)

// HookPath is the path a container's hook of the given kind would have.
func HookPath(dir string, ctid int, kind string) string {
	return filepath.Join(dir, hookPrefix+strconv.Itoa(ctid)+"."+kind)
}

// describe finds ctid's hook in dir.
func describe(dir string, ctid int) engine.HookInfo {
	luaPath, shPath := HookPath(dir, ctid, engine.HookLua), HookPath(dir, ctid, engine.HookShell)
	_, hasLua := regularFile(luaPath)
	shFI, hasSh := regularFile(shPath)
	switch {
	case hasLua && hasSh:
		return engine.HookInfo{
			Kind:  KindBoth,
			Path:  luaPath + " and " + shPath,
			State: engine.HookAmbiguous,
			Problem: fmt.Sprintf("container %d has two hooks, %s and %s: remove one of them (a container has one hook, Lua or shell)",
				ctid, luaPath, shPath),
		}
	case hasLua:
		return withDigest(engine.HookInfo{Kind: engine.HookLua, Path: luaPath, State: engine.HookReady})
	case hasSh:
		info := engine.HookInfo{Kind: engine.HookShell, Path: shPath, State: engine.HookReady}
		if shFI.Mode().Perm()&0o111 == 0 {
			info.State = engine.HookNotExecutable
			info.Problem = fmt.Sprintf("%s is not executable: run chmod +x %s", shPath, shPath)
		}
		return withDigest(info)
	}
	return engine.HookInfo{}
}

// regularFile reports whether path is a regular file (symlinks followed).
func regularFile(path string) (fs.FileInfo, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	return fi, true
}

// withDigest fills info.Digest; an unreadable hook keeps its state but
// says why it cannot be read.
func withDigest(info engine.HookInfo) engine.HookInfo {
	d, err := fileDigest(info.Path)
	if err != nil {
		if info.Problem == "" {
			info.Problem = fmt.Sprintf("cannot read hook: %v: check its permissions", err)
		}
		return info
	}
	info.Digest = d
	return info
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Entry is one line of `phoenix hooks list`.
type Entry struct {
	CTID    int
	Name    string // the container's hostname; "" for an orphan
	Kind    string // engine.HookLua, engine.HookShell, KindBoth or "" (no hook)
	Path    string
	State   string // engine.HookReady, engine.HookNotExecutable, engine.HookAmbiguous, StateNone or StateOrphan
	Problem string
	Orphan  bool // a hook file whose CTID is not in the configuration
}

// States of a list entry beyond the engine's hook states.
const (
	StateNone   = "no hook"
	StateOrphan = "orphan"
)

// List returns every container's hook, in CTID order, followed by the hook
// files in dir whose CTID is not a container of cfg. A missing dir means no
// container has a hook.
func List(dir string, cfg *engine.Config) ([]Entry, error) {
	ctids := make([]int, 0, len(cfg.Containers))
	for id := range cfg.Containers {
		ctids = append(ctids, id)
	}
	sort.Ints(ctids)
	var out []Entry
	for _, id := range ctids {
		info := describe(dir, id)
		e := Entry{CTID: id, Name: cfg.Containers[id].Hostname, Kind: info.Kind, Path: info.Path, State: info.State, Problem: info.Problem}
		if info.Kind == "" {
			e.State = StateNone
		}
		out = append(out, e)
	}
	orphans, err := orphans(dir, cfg)
	if err != nil {
		return out, err
	}
	return append(out, orphans...), nil
}

// orphans lists the hook files in dir that belong to no container of cfg.
func orphans(dir string, cfg *engine.Config) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read hooks dir: %w", err)
	}
	var out []Entry
	for _, de := range des {
		m := hookFileRE.FindStringSubmatch(de.Name())
		if m == nil {
			continue
		}
		id, err := strconv.Atoi(m[1])
		if err == nil && cfg.Containers[id] != nil {
			continue
		}
		out = append(out, Entry{
			CTID:    id,
			Kind:    m[2],
			Path:    filepath.Join(dir, de.Name()),
			State:   StateOrphan,
			Orphan:  true,
			Problem: fmt.Sprintf("no container %s in the configuration: this hook never runs (remove or rename it)", m[1]),
		})
	}
	return out, nil
}

// WriteList prints entries as a table, then one line per problem.
func WriteList(w io.Writer, entries []Entry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CTID\tNAME\tKIND\tSTATE\tPATH")
	for _, e := range entries {
		kind, path, name := e.Kind, e.Path, e.Name
		if kind == "" {
			kind = "-"
		}
		if path == "" {
			path = "-"
		}
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.CTID, name, kind, e.State, path)
	}
	tw.Flush()
	for _, e := range entries {
		if e.Problem != "" {
			fmt.Fprintf(w, "%d: %s\n", e.CTID, e.Problem)
		}
	}
}
