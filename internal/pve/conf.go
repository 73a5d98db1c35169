package pve

import (
	"fmt"
	"regexp"
	"strconv"
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
// raw key with its values joined by "\n", and the comment lines as the
// description (Proxmox keeps it there, each line percent-encoded).
func (s Section) Config() map[string]string {
	m := make(map[string]string, len(s.Keys)+len(s.Raw)+1)
	for k, v := range s.Keys {
		m[k] = v
	}
	if d, ok := m["description"]; ok {
		m["description"] = DecodeText(d) // pct config's form
	} else if len(s.Comments) > 0 {
		lines := make([]string, len(s.Comments))
		for i, c := range s.Comments {
			lines[i] = DecodeText(c)
		}
		m["description"] = strings.Join(lines, "\n")
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

// EncodeText is Proxmox's encode_text, the form of the description in
// the conf file (one comment line per line) and in `pct config`: control
// and non-ASCII bytes and ":" become %XX.
func EncodeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == ':' || c > 0x7e {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// DecodeText is Proxmox's decode_text (uri_unescape, the inverse of
// EncodeText): every %XX of two hex digits is that byte, any other "%"
// stays as it is.
func DecodeText(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

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
