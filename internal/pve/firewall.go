package pve

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The Proxmox firewall file of a container, /etc/pve/firewall/<CTID>.fw:
// sections "[OPTIONS]" ("enable: 1"), "[RULES]" (one rule a line,
// `IN ACCEPT -source 10.0.0.12 -p tcp -dport 8000 # comment`), and others
// ([IPSET name], [ALIASES], ...) that Phoenix keeps as they are.

// FirewallRel is the container's firewall file, relative to the Proxmox
// config root (/etc/pve).
func FirewallRel(ctid int) string { return "firewall/" + strconv.Itoa(ctid) + ".fw" }

// FirewallRule is one line of [RULES].
type FirewallRule struct {
	Dir     string // IN or OUT
	Action  string // ACCEPT, DROP, REJECT
	Source  string // -source
	Dest    string // -dest
	Proto   string // -p
	DPort   string // -dport ("80,443", "8000:8010")
	Comment string
}

var (
	fwAddr    = regexp.MustCompile(`^[A-Za-z0-9.:/,+_-]+$`)
	fwProto   = regexp.MustCompile(`^[a-z0-9-]+$`)
	fwPort    = regexp.MustCompile(`^[0-9]+([:,][0-9]+)*$`)
	fwActions = map[string]bool{"ACCEPT": true, "DROP": true, "REJECT": true}
)

// Check reports the first value that cannot be written into a rule line
// as it is: Phoenix never lets a config value change the line's meaning.
func (r FirewallRule) Check() error {
	switch {
	case r.Dir != "IN" && r.Dir != "OUT":
		return fmt.Errorf(`type: expected "in" or "out", found %q`, r.Dir)
	case !fwActions[r.Action]:
		return fmt.Errorf(`action: expected ACCEPT, DROP or REJECT, found %q`, r.Action)
	case r.Source != "" && !fwAddr.MatchString(r.Source):
		return fmt.Errorf("source: expected an address, CIDR, range or alias, found %q", r.Source)
	case r.Dest != "" && !fwAddr.MatchString(r.Dest):
		return fmt.Errorf("dest: expected an address, CIDR, range or alias, found %q", r.Dest)
	case r.Proto != "" && !fwProto.MatchString(r.Proto):
		return fmt.Errorf("proto: expected a protocol name like tcp, udp or icmp, found %q", r.Proto)
	case r.DPort != "" && !fwPort.MatchString(r.DPort):
		return fmt.Errorf(`port: expected a port, "80,443" or "8000:8010", found %q`, r.DPort)
	case r.DPort != "" && r.Proto != "tcp" && r.Proto != "udp":
		return fmt.Errorf("port: only tcp and udp rules have a port, found proto %q", r.Proto)
	case strings.ContainsAny(r.Comment, "\n\r"):
		return fmt.Errorf("comment: expected one line, found a line break")
	}
	return nil
}

// Line is the rule as Proxmox writes it.
func (r FirewallRule) Line() string {
	parts := []string{r.Dir, r.Action}
	if r.Source != "" {
		parts = append(parts, "-source", r.Source)
	}
	if r.Dest != "" {
		parts = append(parts, "-dest", r.Dest)
	}
	if r.Proto != "" {
		parts = append(parts, "-p", r.Proto)
	}
	if r.DPort != "" {
		parts = append(parts, "-dport", r.DPort)
	}
	line := strings.Join(parts, " ")
	if c := strings.TrimSpace(r.Comment); c != "" {
		line += " # " + c
	}
	return line
}

// FirewallSection is one "[NAME]" block and its lines, blank lines left out.
type FirewallSection struct {
	Name  string
	Lines []string
}

// FirewallFile is the whole file, sections in file order.
type FirewallFile struct{ Sections []FirewallSection }

// ParseFirewall reads a firewall file. Lines before the first section
// header are kept in a section named "".
func ParseFirewall(data string) FirewallFile {
	var f FirewallFile
	cur := -1
	for _, l := range strings.Split(data, "\n") {
		l = strings.TrimRight(l, " \t\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			f.Sections = append(f.Sections, FirewallSection{Name: strings.TrimSpace(l[1 : len(l)-1])})
			cur = len(f.Sections) - 1
			continue
		}
		if cur < 0 {
			f.Sections = append(f.Sections, FirewallSection{})
			cur = 0
		}
		f.Sections[cur].Lines = append(f.Sections[cur].Lines, l)
	}
	return f
}

// Format writes the file: each section's header, its lines, a blank line.
func (f FirewallFile) Format() string {
	var b strings.Builder
	for i, s := range f.Sections {
		if i > 0 {
			b.WriteByte('\n')
		}
		if s.Name != "" {
			b.WriteString("[" + s.Name + "]\n")
		}
		for _, l := range s.Lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func (f *FirewallFile) section(name string) *FirewallSection {
	for i := range f.Sections {
		if strings.EqualFold(f.Sections[i].Name, name) {
			return &f.Sections[i]
		}
	}
	f.Sections = append(f.Sections, FirewallSection{Name: name})
	return &f.Sections[len(f.Sections)-1]
}

// WithRules returns f with "enable: 0|1" in [OPTIONS] (its other options
// kept) and [RULES] holding exactly rules; other sections are kept as
// they are. Applied to its own result it changes nothing.
func (f FirewallFile) WithRules(enable bool, rules []FirewallRule) FirewallFile {
	out := FirewallFile{Sections: make([]FirewallSection, len(f.Sections))}
	for i, s := range f.Sections {
		out.Sections[i] = FirewallSection{Name: s.Name, Lines: append([]string(nil), s.Lines...)}
	}
	opts := out.section("OPTIONS")
	want := "enable: 0"
	if enable {
		want = "enable: 1"
	}
	kept := []string{want}
	for _, l := range opts.Lines {
		if k, _, _ := strings.Cut(l, ":"); strings.TrimSpace(k) != "enable" {
			kept = append(kept, l)
		}
	}
	opts.Lines = kept
	rs := out.section("RULES")
	rs.Lines = nil
	for _, r := range rules {
		rs.Lines = append(rs.Lines, r.Line())
	}
	return out
}
