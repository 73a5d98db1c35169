package hostsim

import (
	"io/fs"
	"path"
	"strings"
)

// MapFS is a container's files in memory, by absolute path. Directories
// are implied by the files under them, or made by Mkdir.
type MapFS struct {
	Files map[string][]byte
	Dirs  map[string]bool
}

func clean(p string) string { return path.Clean("/" + p) }

func (m *MapFS) ReadFile(p string) ([]byte, error) {
	data, ok := m.Files[clean(p)]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), data...), nil
}

func (m *MapFS) isDir(p string) bool {
	if p == "/" || m.Dirs[p] {
		return true
	}
	for f := range m.Files {
		if strings.HasPrefix(f, p+"/") {
			return true
		}
	}
	return false
}

func (m *MapFS) Stat(p string) (bool, int64, error) {
	p = clean(p)
	if data, ok := m.Files[p]; ok {
		return false, int64(len(data)), nil
	}
	if m.isDir(p) {
		return true, 0, nil
	}
	return false, 0, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
}

func (m *MapFS) WriteFile(p string, data []byte, _ fs.FileMode) error {
	if m.Files == nil {
		m.Files = map[string][]byte{}
	}
	m.Files[clean(p)] = append([]byte(nil), data...)
	return nil
}

// Mkdir makes p; without parents its parent must exist (the root and the
// directories files are in always do).
func (m *MapFS) Mkdir(p string, parents bool) error {
	p = clean(p)
	if _, isFile := m.Files[p]; isFile || (!parents && m.isDir(p)) {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
	}
	if !parents && !m.isDir(path.Dir(p)) {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrNotExist}
	}
	if m.Dirs == nil {
		m.Dirs = map[string]bool{}
	}
	for d := p; d != "/"; d = path.Dir(d) {
		m.Dirs[d] = true
	}
	return nil
}

// Clone is a deep copy.
func (m *MapFS) Clone() *MapFS {
	out := &MapFS{Files: make(map[string][]byte, len(m.Files)), Dirs: make(map[string]bool, len(m.Dirs))}
	for k, v := range m.Files {
		out.Files[k] = append([]byte(nil), v...)
	}
	for k := range m.Dirs {
		out.Dirs[k] = true
	}
	return out
}
