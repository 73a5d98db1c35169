package pve

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Raw LXC lines of /etc/pve/lxc/<CTID>.conf, as Proxmox writes them:
// "lxc.<key>: <value>".

// lxcKey is an LXC configuration key: lxc.<word>[.<word>...], words of
// lower-case letters, digits and underscores (lxc.cgroup2.devices.allow,
// lxc.apparmor.allow_nesting).
var lxcKey = regexp.MustCompile(`^lxc(\.[a-z0-9_]+)+`)

// String is the line as Proxmox stores it.
func (r RawLine) String() string { return r.Key + ": " + r.Value }

// ParseLXCOption reads one raw LXC option as a user wrote it. Proxmox's
// form "lxc.key: value" is taken as is; the unambiguous other spellings,
// LXC's own "lxc.key = value" and "lxc.key=value", and "lxc.key:value"
// without the blank, are read too, and changed reports that the line is
// not in Proxmox's form. A line that is not one LXC key and one value
// (no "lxc." key, no separator, a line break, an empty value for a key
// that is not a list) is an error saying what is wrong with it.
func ParseLXCOption(s string) (line RawLine, changed bool, err error) {
	if strings.ContainsAny(s, "\n\r\x00") {
		return RawLine{}, false, fmt.Errorf("%q: a line break (one option per line)", s)
	}
	t := strings.TrimSpace(s)
	key := lxcKey.FindString(t)
	if key == "" {
		return RawLine{}, false, fmt.Errorf("%q: not an lxc.* key", s)
	}
	rest := strings.TrimLeft(t[len(key):], " \t")
	if rest == "" || (rest[0] != ':' && rest[0] != '=') {
		return RawLine{}, false, fmt.Errorf(`%q: no ":" or "=" after %s`, s, key)
	}
	value := strings.TrimSpace(rest[1:])
	if value == "" && !ClearsWhenEmpty(key) {
		return RawLine{}, false, fmt.Errorf("%q: no value", s)
	}
	line = RawLine{Key: key, Value: value}
	// "lxc.cap.drop:" is Proxmox's "lxc.cap.drop: " without the blank it
	// writes after the colon: the same line, not another form.
	changed = line.String() != s && !(value == "" && s == key+":")
	return line, changed, nil
}

// clearedByEmpty are the LXC keys that hold a list, which an empty value
// clears ("lxc.cap.drop:" drops none of the capabilities an earlier
// include, such as Proxmox's common.conf, dropped); a prefix ending in "."
// covers its sub-keys. For any other key, an empty value is a mistake.
var clearedByEmpty = []string{
	"lxc.cap.drop", "lxc.cap.keep", "lxc.mount.entry", "lxc.idmap", "lxc.environment",
	"lxc.apparmor.raw", "lxc.group", "lxc.hook.", "lxc.cgroup.", "lxc.cgroup2.", "lxc.sysctl.", "lxc.proc.",
}

// ClearsWhenEmpty reports whether an empty value of key is valid LXC: it
// clears the list the key builds.
func ClearsWhenEmpty(key string) bool {
	for _, k := range clearedByEmpty {
		if key == k || strings.HasSuffix(k, ".") && strings.HasPrefix(key, k) {
			return true
		}
	}
	return false
}

// IDMap is one lxc.idmap range: container ids [CT, CT+Size) are host ids
// [Host, Host+Size). Kind is "u" or "g".
type IDMap struct {
	Kind           string
	CT, Host, Size int
}

// Line is the raw line "lxc.idmap: u 0 100000 65536".
func (m IDMap) Line() RawLine {
	return RawLine{Key: "lxc.idmap", Value: fmt.Sprintf("%s %d %d %d", m.Kind, m.CT, m.Host, m.Size)}
}

// An unprivileged container's default map: container ids 0–65535 are host
// ids from 100000.
const (
	DefaultIDOffset = 100000
	DefaultIDCount  = 65536
)

// CompleteIDMaps returns the lxc.idmap ranges of an unprivileged container
// given the ranges the config maps: for "u" and for "g", the mapped ranges
// with the default map (offset 100000) filling every gap, so 0–65535 of
// the container stays whole. A kind with no mapped range gets the default
// map. Ranges are returned per kind (u, then g) in container-id order.
// Overlapping ranges, or ranges outside 0–65535, are an error.
func CompleteIDMaps(mapped []IDMap) ([]IDMap, error) {
	var out []IDMap
	for _, kind := range []string{"u", "g"} {
		var ranges []IDMap
		for _, m := range mapped {
			if m.Kind == kind {
				ranges = append(ranges, m)
			}
		}
		slices.SortStableFunc(ranges, func(a, b IDMap) int { return cmp.Compare(a.CT, b.CT) })
		next := 0
		for _, m := range ranges {
			switch {
			case m.Size < 1:
				return nil, fmt.Errorf("id map %s %d %d %d: the size must be at least 1", m.Kind, m.CT, m.Host, m.Size)
			case m.CT < 0 || m.CT+m.Size > DefaultIDCount:
				return nil, fmt.Errorf("id map %s %d %d %d: container ids must lie in 0–%d", m.Kind, m.CT, m.Host, m.Size, DefaultIDCount-1)
			case m.Host < 0:
				return nil, fmt.Errorf("id map %s %d %d %d: a host id cannot be negative", m.Kind, m.CT, m.Host, m.Size)
			case m.CT < next:
				return nil, fmt.Errorf("id map %s %d %d %d overlaps the range before it (container ids from %d are already mapped)", m.Kind, m.CT, m.Host, m.Size, m.CT)
			}
			if m.CT > next {
				out = append(out, IDMap{Kind: kind, CT: next, Host: DefaultIDOffset + next, Size: m.CT - next})
			}
			out = append(out, m)
			next = m.CT + m.Size
		}
		if next < DefaultIDCount {
			out = append(out, IDMap{Kind: kind, CT: next, Host: DefaultIDOffset + next, Size: DefaultIDCount - next})
		}
	}
	return out, nil
}

// ParseIDMap reads an lxc.idmap value ("u 0 100000 65536").
func ParseIDMap(value string) (IDMap, error) {
	f := strings.Fields(value)
	if len(f) != 4 || (f[0] != "u" && f[0] != "g") {
		return IDMap{}, fmt.Errorf(`lxc.idmap: expected "u|g CT HOST COUNT", found %q`, value)
	}
	var n [3]int
	for i, s := range f[1:] {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return IDMap{}, fmt.Errorf(`lxc.idmap: expected "u|g CT HOST COUNT", found %q`, value)
		}
		n[i] = v
	}
	return IDMap{Kind: f[0], CT: n[0], Host: n[1], Size: n[2]}, nil
}

// HostID is the host id a container id is stored as, given the
// container's maps of that kind; unprivileged without maps means the
// default offset, privileged means the id itself.
func HostID(maps []IDMap, kind string, ctID int, unprivileged bool) int {
	if !unprivileged {
		return ctID
	}
	for _, m := range maps {
		if m.Kind == kind && ctID >= m.CT && ctID < m.CT+m.Size {
			return m.Host + ctID - m.CT
		}
	}
	return DefaultIDOffset + ctID
}
