package lxc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// metaPrefix marks the comment lines that keep pct options LXC has no key
// for. LXC keeps comment lines through lxc-snapshot and lxc-copy, so clones
// inherit them as Proxmox clones inherit their config.
const metaPrefix = "#phoenix:"

// confLine is one line of an LXC config file: a key = value pair, a
// Phoenix meta line (meta true) or anything else kept verbatim (raw).
type confLine struct {
	key, value string
	meta       bool
	raw        string
}

// lxcConf is an LXC container config file, edited in place so that lines
// Phoenix does not manage (and their order) survive.
type lxcConf struct {
	lines []confLine
}

func parseConf(text string) *lxcConf {
	c := &lxcConf{}
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		c.lines = append(c.lines, parseConfLine(l))
	}
	if len(c.lines) == 1 && c.lines[0].raw == "" && c.lines[0].key == "" {
		c.lines = nil
	}
	return c
}

func parseConfLine(l string) confLine {
	t := strings.TrimSpace(l)
	if rest, ok := strings.CutPrefix(t, metaPrefix); ok {
		k, v, _ := strings.Cut(rest, ":")
		return confLine{key: strings.TrimSpace(k), value: metaUnescape(strings.TrimSpace(v)), meta: true}
	}
	if t == "" || strings.HasPrefix(t, "#") {
		return confLine{raw: l}
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok {
		return confLine{raw: l}
	}
	return confLine{key: strings.TrimSpace(k), value: strings.TrimSpace(v)}
}

// A meta value is one line: its line breaks (a description of several
// lines) are written as \n, a backslash as \\.
var (
	metaEscaper   = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	metaUnescaper = strings.NewReplacer(`\\`, `\`, `\n`, "\n")
)

func metaEscape(v string) string   { return metaEscaper.Replace(v) }
func metaUnescape(v string) string { return metaUnescaper.Replace(v) }

func readConf(path string) (*lxcConf, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseConf(string(data)), nil
}

// String renders the file.
func (c *lxcConf) String() string {
	var b strings.Builder
	for _, l := range c.lines {
		switch {
		case l.meta:
			fmt.Fprintf(&b, "%s %s: %s\n", metaPrefix, l.key, metaEscape(l.value))
		case l.key != "":
			fmt.Fprintf(&b, "%s = %s\n", l.key, l.value)
		default:
			b.WriteString(l.raw + "\n")
		}
	}
	return b.String()
}

// write replaces path atomically, so a crash never leaves half a config.
func (c *lxcConf) write(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(c.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Get returns the values of key, in file order.
func (c *lxcConf) Get(key string) []string {
	var out []string
	for _, l := range c.lines {
		if !l.meta && l.key == key {
			out = append(out, l.value)
		}
	}
	return out
}

// First returns the first value of key, or "".
func (c *lxcConf) First(key string) string {
	if v := c.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set makes value the only value of key: the first line is replaced in
// place, later ones removed; a missing key is appended.
func (c *lxcConf) Set(key, value string) { c.set(key, value, false) }

// Meta returns a Phoenix meta value and whether it is there.
func (c *lxcConf) Meta(key string) (string, bool) {
	for _, l := range c.lines {
		if l.meta && l.key == key {
			return l.value, true
		}
	}
	return "", false
}

// MetaKeys returns the meta keys in file order.
func (c *lxcConf) MetaKeys() []string {
	var out []string
	for _, l := range c.lines {
		if l.meta {
			out = append(out, l.key)
		}
	}
	return out
}

// SetMeta records a pct option as a meta line.
func (c *lxcConf) SetMeta(key, value string) { c.set(key, value, true) }

func (c *lxcConf) set(key, value string, meta bool) {
	out := c.lines[:0]
	done := false
	for _, l := range c.lines {
		if l.meta == meta && l.key == key && l.raw == "" {
			if done {
				continue
			}
			l.value, done = value, true
		}
		out = append(out, l)
	}
	c.lines = out
	if !done {
		c.lines = append(c.lines, confLine{key: key, value: value, meta: meta})
	}
}

// Add appends one more value for a repeatable key, unless it is there.
func (c *lxcConf) Add(key, value string) {
	for _, v := range c.Get(key) {
		if v == value {
			return
		}
	}
	c.lines = append(c.lines, confLine{key: key, value: value})
}

// Replace makes values the lines of key: they take the place of its first
// line, its other lines go; a missing key's lines are appended.
func (c *lxcConf) Replace(key string, values []string) {
	var out []confLine
	done := false
	for _, l := range c.lines {
		if l.meta || l.key != key {
			out = append(out, l)
			continue
		}
		if !done {
			done = true
			for _, v := range values {
				out = append(out, confLine{key: key, value: v})
			}
		}
	}
	if !done {
		for _, v := range values {
			out = append(out, confLine{key: key, value: v})
		}
	}
	c.lines = out
}

// Del removes every line of key.
func (c *lxcConf) Del(key string) { c.del(func(l confLine) bool { return !l.meta && l.key == key }) }

// DelValue removes the lines of key that hold value.
func (c *lxcConf) DelValue(key, value string) {
	c.del(func(l confLine) bool { return !l.meta && l.key == key && l.value == value })
}

// DelPrefix removes every line whose key starts with prefix.
func (c *lxcConf) DelPrefix(prefix string) {
	c.del(func(l confLine) bool { return !l.meta && l.key != "" && strings.HasPrefix(l.key, prefix) })
}

// DelMeta removes a meta line.
func (c *lxcConf) DelMeta(key string) { c.del(func(l confLine) bool { return l.meta && l.key == key }) }

func (c *lxcConf) del(match func(confLine) bool) {
	out := c.lines[:0]
	for _, l := range c.lines {
		if !match(l) {
			out = append(out, l)
		}
	}
	c.lines = out
}

// Keys returns the distinct LXC keys in file order.
func (c *lxcConf) Keys() []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range c.lines {
		if !l.meta && l.key != "" && !seen[l.key] {
			seen[l.key] = true
			out = append(out, l.key)
		}
	}
	return out
}
