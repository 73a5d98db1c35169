package pct

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// parseStatus reads "status: running|stopped".
func parseStatus(out string) (running bool, err error) {
	for _, line := range strings.Split(out, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "status:")
		if !ok {
			continue
		}
		switch strings.TrimSpace(v) {
		case "running":
			return true, nil
		case "stopped":
			return false, nil
		default:
			return false, fmt.Errorf("unexpected status %q", strings.TrimSpace(v))
		}
	}
	return false, fmt.Errorf("no status line in %q", strings.TrimSpace(out))
}

// parseConfig reads `pct config`: the current section of the conf format
// (internal/pve), a raw lxc.* key's repeated lines joined with "\n".
// Snapshot sections, if any, are not part of it.
func parseConfig(out string) (map[string]string, error) {
	f, err := pve.ParseConf(out)
	if err != nil {
		return nil, fmt.Errorf("read pct config: %w", err)
	}
	return f.Current.Config(), nil
}

// parseSnapshots reads the tree of `pct listsnapshot`, lines like
// "  `-> name  2025-09-01 10:00:00  description", without "current".
func parseSnapshots(out string) []string {
	names := []string{}
	for _, line := range strings.Split(out, "\n") {
		rest := strings.TrimLeft(line, " |")
		rest, ok := strings.CutPrefix(rest, "`->")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || fields[0] == "current" {
			continue
		}
		names = append(names, fields[0])
	}
	return names
}

// parseList reads `pct list`: a header "VMID Status Lock Name" and one row
// per container (nothing at all when there is none). The Lock column may
// be empty, so a row of three fields is told apart by where its third
// field starts.
func parseList(out string) ([]engine.ListEntry, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) == "" {
		return []engine.ListEntry{}, nil
	}
	header := lines[0]
	nameCol := strings.Index(header, "Name")
	if !strings.HasPrefix(strings.TrimSpace(header), "VMID") || nameCol < 0 {
		return nil, fmt.Errorf("unexpected header %q", header)
	}
	entries := []engine.ListEntry{}
	for _, line := range lines[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseListRow(line, nameCol)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].CTID < entries[j].CTID })
	return entries, nil
}

func parseListRow(line string, nameCol int) (engine.ListEntry, error) {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return engine.ListEntry{}, fmt.Errorf("unexpected row %q", line)
	}
	id, err := strconv.Atoi(fields[0])
	if err != nil {
		return engine.ListEntry{}, fmt.Errorf("unexpected row %q: %w", line, err)
	}
	e := engine.ListEntry{CTID: id, Status: fields[1]}
	switch {
	case len(fields) >= 4:
		e.Lock, e.Name = fields[2], strings.Join(fields[3:], " ")
	case len(fields) == 3:
		if fieldStart(line, 2) >= nameCol {
			e.Name = fields[2]
		} else {
			e.Lock = fields[2]
		}
	}
	return e, nil
}

// fieldStart is the byte offset of the n-th (0-based) blank-separated
// field of line.
func fieldStart(line string, n int) int {
	i := 0
	for f := 0; ; f++ {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if f == n || i == len(line) {
			return i
		}
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
	}
}
