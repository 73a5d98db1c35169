package pve

import (
	"fmt"
	"regexp"
	"strings"
)

// ConfFile is /etc/pve/lxc/<CTID>.conf: the current configuration, then
// one section per snapshot ("[name]"), each with its own keys. The
// current section's `parent:` names the latest snapshot.
type ConfFile struct {
	Current   Section
	Snapshots []Section // in file order
}

// Section is one block of the file.
type Section struct {
	Name string // "" for the current configuration
	// Comments are the leading "#" lines (Proxmox keeps the description
	// there), without the "#".
	Comments []string
	// Keys are the pct keys ("memory: 2048").
	Keys map[string]string
	// Raw are the raw lxc.* lines, in order (a key may repeat).
	Raw []RawLine
}

// RawLine is one `lxc.<key>: <value>` line.
type RawLine struct{ Key, Value string }

// Config is the section as `pct config` reports it: the keys, plus each
// raw key with its values joined by "\n".
func (s Section) Config() map[string]string {
	m := make(map[string]string, len(s.Keys)+len(s.Raw))
	for k, v := range s.Keys {
		m[k] = v
	}
	for _, r := range s.Raw {
		if old, ok := m[r.Key]; ok {
			m[r.Key] = old + "\n" + r.Value
		} else {
			m[r.Key] = r.Value
		}
	}
	return m
}

// SetConfig replaces the section's keys and raw lines from a Config map
// (the inverse of Config).
func (s *Section) SetConfig(m map[string]string) {
	s.Keys, s.Raw = map[string]string{}, nil
	for _, k := range SortedKeys(m) {
		if IsRawKey(k) {
			for _, v := range strings.Split(m[k], "\n") {
				s.Raw = append(s.Raw, RawLine{Key: k, Value: v})
			}
			continue
		}
		s.Keys[k] = m[k]
	}
}

// IsRawKey reports whether key is a raw LXC key (pct cannot set it).
func IsRawKey(key string) bool { return strings.HasPrefix(key, "lxc.") }

// Snapshot is the section of snapshot name, nil when there is none.
func (f *ConfFile) Snapshot(name string) *Section {
	for i := range f.Snapshots {
		if f.Snapshots[i].Name == name {
			return &f.Snapshots[i]
		}
	}
	return nil
}

// SnapshotNames are the snapshots in file order.
func (f *ConfFile) SnapshotNames() []string {
	out := make([]string, 0, len(f.Snapshots))
	for _, s := range f.Snapshots {
		out = append(out, s.Name)
	}
	return out
}

var (
	reSection = regexp.MustCompile(`^\[([^\]]+)\]\s*$`)
	reKey     = regexp.MustCompile(`^([a-z][a-z0-9_.-]*)\s*:\s?(.*)$`)
)

// ParseConf reads a container's config file (and `pct config`'s output,
// which is its current section).
func ParseConf(data string) (*ConfFile, error) {
	f := &ConfFile{Current: Section{Keys: map[string]string{}}}
	cur := &f.Current
	for n, line := range strings.Split(data, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "#"):
			cur.Comments = append(cur.Comments, line[1:])
		case reSection.MatchString(line):
			f.Snapshots = append(f.Snapshots, Section{Name: reSection.FindStringSubmatch(line)[1], Keys: map[string]string{}})
			cur = &f.Snapshots[len(f.Snapshots)-1]
		default:
			m := reKey.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("line %d: %q is not `key: value`", n+1, line)
			}
			k, v := m[1], strings.TrimSpace(m[2])
			if IsRawKey(k) {
				cur.Raw = append(cur.Raw, RawLine{Key: k, Value: v})
			} else {
				cur.Keys[k] = v
			}
		}
	}
	return f, nil
}

// Format writes the file as Proxmox does: per section the comments, the
// keys sorted, then the raw lines in order; sections separated by a blank
// line.
func (f *ConfFile) Format() string {
	var b strings.Builder
	writeSection(&b, f.Current)
	for _, s := range f.Snapshots {
		b.WriteString("\n[" + s.Name + "]\n")
		writeSection(&b, s)
	}
	return b.String()
}

func writeSection(b *strings.Builder, s Section) {
	for _, c := range s.Comments {
		b.WriteString("#" + c + "\n")
	}
	for _, k := range SortedKeys(s.Keys) {
		b.WriteString(k + ": " + s.Keys[k] + "\n")
	}
	for _, r := range s.Raw {
		b.WriteString(r.Key + ": " + r.Value + "\n")
	}
}

// AppendRaw adds raw `lxc.key: value` lines to a Config view (Section.Config):
// a key seen before gets the value on a line of its own, as the file keeps
// both lines.
func AppendRaw(cfg map[string]string, lines []string) {
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if old, ok := cfg[k]; ok && old != "" {
			v = old + "\n" + v
		}
		cfg[k] = v
	}
}
