package hoststate

import "github.com/phoenix-hypervisor/phoenix/internal/hostsim"

// Files is the in-memory Inside: each container's files and what each of
// its snapshots captured, as internal/hostsim models them.
type Files struct {
	cur   map[int]*hostsim.MapFS
	snaps map[int]map[string]*hostsim.MapFS
}

var _ Inside = (*Files)(nil)

// NewFiles returns an Inside with no files.
func NewFiles() *Files {
	return &Files{cur: map[int]*hostsim.MapFS{}, snaps: map[int]map[string]*hostsim.MapFS{}}
}

// Of is ctid's files, made empty the first time.
func (f *Files) Of(ctid int) *hostsim.MapFS {
	m := f.cur[ctid]
	if m == nil {
		m = &hostsim.MapFS{Files: map[string][]byte{}, Dirs: map[string]bool{}}
		f.cur[ctid] = m
	}
	return m
}

// Put replaces ctid's files (arranging a host).
func (f *Files) Put(ctid int, m *hostsim.MapFS) { f.cur[ctid] = m }

func (f *Files) Snapshot(ctid int, name string) error {
	if f.snaps[ctid] == nil {
		f.snaps[ctid] = map[string]*hostsim.MapFS{}
	}
	f.snaps[ctid][name] = f.Of(ctid).Clone()
	return nil
}

// Clone copies what snap captured; a snapshot whose files are not known
// (not taken here) stands for the current ones.
func (f *Files) Clone(src int, snap string, dst int) error {
	from := f.snaps[src][snap]
	if from == nil {
		from = f.Of(src)
	}
	f.cur[dst] = from.Clone()
	return nil
}

func (f *Files) Rollback(ctid int, name string) error {
	if s := f.snaps[ctid][name]; s != nil {
		f.cur[ctid] = s.Clone()
	}
	return nil
}

func (f *Files) DeleteSnapshot(ctid int, name string) error {
	delete(f.snaps[ctid], name)
	return nil
}

func (f *Files) Remove(ctid int) error {
	delete(f.cur, ctid)
	delete(f.snaps, ctid)
	return nil
}
