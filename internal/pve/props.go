package pve

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// PropKind is how one option's property string is spelled: its default
// key (the value that may go without "key=", like rootfs's volume) and the
// key Proxmox writes first (net's name). The rest is sorted.
type PropKind struct {
	DefaultKey string
	First      string
}

var (
	// KindNet is netN: name first, the rest sorted.
	KindNet = PropKind{First: "name"}
	// KindFlags is features and startup: key=value pairs, sorted.
	KindFlags = PropKind{}
	// KindVolume is rootfs and mpN: the volume first, bare.
	KindVolume = PropKind{DefaultKey: "volume"}
	// KindDev is devN: the device path first, bare.
	KindDev = PropKind{DefaultKey: "path"}

	reNet = regexp.MustCompile(`^net[0-9]+$`)
	reMP  = regexp.MustCompile(`^mp[0-9]+$`)
	reDev = regexp.MustCompile(`^dev[0-9]+$`)
)

// IsVolumeKey reports whether key holds a disk: rootfs or a mount point.
func IsVolumeKey(key string) bool { return key == "rootfs" || reMP.MatchString(key) }

// KindOf is the property-string kind of an option; ok is false for plain
// values (hostname, memory, ...).
func KindOf(key string) (PropKind, bool) {
	switch {
	case reNet.MatchString(key):
		return KindNet, true
	case key == "features" || key == "startup":
		return KindFlags, true
	case IsVolumeKey(key):
		return KindVolume, true
	case reDev.MatchString(key):
		return KindDev, true
	}
	return PropKind{}, false
}

// ParseProps parses a property string ("name=eth0,bridge=vmbr0"). Keys are
// lower-cased and blanks around entries trimmed. A bare entry is the
// default key's value when it comes first and the kind has one; any other
// bare entry is refused as pct refuses it ("nesting" is not
// "nesting=1"): the error comes with what did parse.
func ParseProps(kind PropKind, s string) (map[string]string, error) {
	m := map[string]string{}
	var bad []string
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			if i == 0 && kind.DefaultKey != "" {
				m[kind.DefaultKey] = part
				continue
			}
			bad = append(bad, part)
			continue
		}
		m[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if len(bad) > 0 {
		return m, fmt.Errorf("value without key, but schema does not define a default key: %s", strings.Join(bad, ","))
	}
	return m, nil
}

// FormatProps spells m the way Proxmox stores it: the default key's value
// bare, then the First key, then the others sorted. Values must not hold
// ',' (Proxmox has no quoting there either).
func FormatProps(kind PropKind, m map[string]string) string {
	out := make([]string, 0, len(m))
	if v, ok := m[kind.DefaultKey]; ok && kind.DefaultKey != "" {
		out = append(out, v)
	}
	if v, ok := m[kind.First]; ok && kind.First != "" {
		out = append(out, kind.First+"="+v)
	}
	for _, k := range SortedKeys(m) {
		if (k == kind.DefaultKey && k != "") || (k == kind.First && k != "") {
			continue
		}
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, ",")
}

// SortedKeys are m's keys, sorted.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
