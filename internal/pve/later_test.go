package pve

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLXCOption(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		changed  bool
	}{
		{"lxc.apparmor.profile: unconfined", "lxc.apparmor.profile: unconfined", false},
		{"lxc.apparmor.profile=unconfined", "lxc.apparmor.profile: unconfined", true},
		{"lxc.apparmor.profile = unconfined", "lxc.apparmor.profile: unconfined", true},
		{"lxc.mount.auto:sys:rw", "lxc.mount.auto: sys:rw", true},
		{"lxc.mount.auto: sys:rw", "lxc.mount.auto: sys:rw", false},
		{"lxc.cgroup2.devices.allow: c 195:* rwm", "lxc.cgroup2.devices.allow: c 195:* rwm", false},
		{"  lxc.cap.keep=sys_admin ", "lxc.cap.keep: sys_admin", true},
		{"lxc.mount.entry = /a b none bind=x 0 0", "lxc.mount.entry: /a b none bind=x 0 0", true},
		// An empty value clears a list key: Proxmox writes it "key: ".
		{"lxc.cap.drop:", "lxc.cap.drop: ", false},
		{"lxc.cap.drop: ", "lxc.cap.drop: ", false},
		{"lxc.cap.drop =", "lxc.cap.drop: ", true},
		{"lxc.cgroup2.devices.allow:", "lxc.cgroup2.devices.allow: ", false},
	} {
		got, changed, err := ParseLXCOption(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got.String(), tc.in)
		assert.Equal(t, tc.changed, changed, tc.in)
		again, changed, err := ParseLXCOption(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, again, "Proxmox's form reads back the same")
		assert.False(t, changed)
	}
}

func TestParseLXCOptionRefusesWhatIsNotOneKeyAndValue(t *testing.T) {
	for _, in := range []string{"", "nesting=1", "apparmor.profile: x", "lxc.apparmor.profile", "lxc.apparmor.profile unconfined",
		"lxc.apparmor.profile:", "lxc.apparmor.profile=  ", "lxc.cap:", "lxc.cap.dropx:", "lxc.a: b\nlxc.c: d", "LXC.A: b", "lxc.: x"} {
		_, _, err := ParseLXCOption(in)
		assert.Error(t, err, "%q", in)
	}
}

// TestCompleteIDMapsKeepsTheDefaultMapWhole: one mapped gid (www-data
// 33 to the host's 33, as the v09 gateway asks) leaves 0–32 and 34–65535
// on the default offset; uids keep the whole default map.
func TestCompleteIDMapsKeepsTheDefaultMapWhole(t *testing.T) {
	got, err := CompleteIDMaps([]IDMap{{Kind: "g", CT: 33, Host: 33, Size: 1}})
	require.NoError(t, err)
	var lines []string
	for _, m := range got {
		lines = append(lines, m.Line().String())
	}
	assert.Equal(t, []string{
		"lxc.idmap: u 0 100000 65536",
		"lxc.idmap: g 0 100000 33",
		"lxc.idmap: g 33 33 1",
		"lxc.idmap: g 34 100034 65502",
	}, lines)
	for _, kind := range []string{"u", "g"} {
		covered := 0
		for _, m := range got {
			if m.Kind == kind {
				assert.Equal(t, covered, m.CT, "no gap, no overlap")
				covered += m.Size
			}
		}
		assert.Equal(t, DefaultIDCount, covered)
	}
	assert.Equal(t, 33, HostID(got, "g", 33, true))
	assert.Equal(t, 100034, HostID(got, "g", 34, true))
	assert.Equal(t, 100033, HostID(got, "u", 33, true))
	assert.Equal(t, 33, HostID(nil, "u", 33, false))
}

func TestCompleteIDMapsEdgesAndErrors(t *testing.T) {
	got, err := CompleteIDMaps([]IDMap{{Kind: "u", CT: 1000, Host: 1000, Size: 64536}, {Kind: "u", CT: 0, Host: 500000, Size: 1000}})
	require.NoError(t, err)
	assert.Equal(t, []IDMap{{"u", 0, 500000, 1000}, {"u", 1000, 1000, 64536}, {"g", 0, 100000, 65536}}, got)
	got, err = CompleteIDMaps(nil)
	require.NoError(t, err)
	assert.Equal(t, []IDMap{{"u", 0, 100000, 65536}, {"g", 0, 100000, 65536}}, got)

	_, err = CompleteIDMaps([]IDMap{{Kind: "g", CT: 10, Host: 10, Size: 5}, {Kind: "g", CT: 12, Host: 50, Size: 1}})
	assert.ErrorContains(t, err, "overlaps")
	_, err = CompleteIDMaps([]IDMap{{Kind: "u", CT: 65535, Host: 1, Size: 2}})
	assert.ErrorContains(t, err, "0–65535")
	_, err = CompleteIDMaps([]IDMap{{Kind: "u", CT: 1, Host: 1, Size: 0}})
	assert.ErrorContains(t, err, "at least 1")

	m, err := ParseIDMap("g 33 33 1")
	require.NoError(t, err)
	assert.Equal(t, IDMap{"g", 33, 33, 1}, m)
	_, err = ParseIDMap("x 1 2 3")
	assert.Error(t, err)
}

func TestFirewallRuleLine(t *testing.T) {
	r := FirewallRule{Dir: "IN", Action: "ACCEPT", Source: "10.0.0.12", Proto: "tcp", DPort: "8000", Comment: "Allow Traefik"}
	require.NoError(t, r.Check())
	assert.Equal(t, "IN ACCEPT -source 10.0.0.12 -p tcp -dport 8000 # Allow Traefik", r.Line())
	out := FirewallRule{Dir: "OUT", Action: "ACCEPT", Dest: "10.0.0.13", Proto: "udp", DPort: "53"}
	assert.Equal(t, "OUT ACCEPT -dest 10.0.0.13 -p udp -dport 53", out.Line())
	icmp := FirewallRule{Dir: "IN", Action: "ACCEPT", Source: "10.0.0.0/24", Proto: "icmp"}
	assert.Equal(t, "IN ACCEPT -source 10.0.0.0/24 -p icmp", icmp.Line())

	for _, bad := range []FirewallRule{
		{Dir: "SIDEWAYS", Action: "ACCEPT"},
		{Dir: "IN", Action: "ALLOW"},
		{Dir: "IN", Action: "ACCEPT", Source: "10.0.0.1 -p tcp"},
		{Dir: "IN", Action: "ACCEPT", Proto: "tcp", DPort: "80; rm"},
		{Dir: "IN", Action: "ACCEPT", Proto: "icmp", DPort: "80"},
		{Dir: "IN", Action: "ACCEPT", Comment: "a\n[OPTIONS]"},
	} {
		assert.Error(t, bad.Check(), "%+v", bad)
	}
}

// TestFirewallFileWithRules: the rules and enable are Phoenix's, other
// options and sections stay, and a second application changes nothing.
func TestFirewallFileWithRules(t *testing.T) {
	rules := []FirewallRule{{Dir: "IN", Action: "ACCEPT", Source: "10.0.0.12", Proto: "tcp", DPort: "8000", Comment: "web"}}
	fresh := FirewallFile{}.WithRules(true, rules).Format()
	assert.Equal(t, "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -source 10.0.0.12 -p tcp -dport 8000 # web\n", fresh)
	assert.Equal(t, fresh, ParseFirewall(fresh).WithRules(true, rules).Format())

	existing := "[OPTIONS]\npolicy_in: DROP\nenable: 0\n\n[IPSET trusted]\n10.0.0.0/24\n\n[RULES]\nIN DROP -p tcp -dport 23\n"
	got := ParseFirewall(existing).WithRules(true, rules).Format()
	assert.Equal(t, "[OPTIONS]\nenable: 1\npolicy_in: DROP\n\n[IPSET trusted]\n10.0.0.0/24\n\n[RULES]\nIN ACCEPT -source 10.0.0.12 -p tcp -dport 8000 # web\n", got)
	assert.Equal(t, got, ParseFirewall(got).WithRules(true, rules).Format())
	assert.Equal(t, "firewall/960.fw", FirewallRel(960))
}

// TestCutPseudoReadsEveryPseudoCommand: each pseudo-command reads back as
// its kind, operation and path; a pct argv is none.
func TestCutPseudoReadsEveryPseudoCommand(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want Pseudo
	}{
		{AppendRawArgv(900, []string{"lxc.a: 1"}), Pseudo{PseudoFile, "append", "/etc/pve/lxc/900.conf", []string{"lxc.a: 1"}}},
		{EditRawArgv(900, RawEdit{Changes: []RawChange{{Key: "lxc.a", New: []string{"1"}}}}), Pseudo{PseudoFile, "edit", "/etc/pve/lxc/900.conf", []string{"+ lxc.a: 1"}}},
		{WriteFileArgv("firewall/900.fw", []byte("[OPTIONS]\nenable: 1\n")), Pseudo{PseudoFile, "write", "/etc/pve/firewall/900.fw", []string{"[OPTIONS]", "enable: 1"}}},
		{HostDirArgv("/srv/x", 33, -1), Pseudo{PseudoHost, "run", "", []string{"mkdir -p /srv/x && chown 33: /srv/x"}}},
		{RemoveFileArgv("firewall/900.fw"), Pseudo{PseudoHost, "run", "", []string{"rm -f /etc/pve/firewall/900.fw"}}},
	} {
		got, ok := CutPseudo(c.argv)
		require.True(t, ok, "%q", c.argv)
		assert.Equal(t, c.want, got)
	}
	_, ok := CutPseudo([]string{"exec", "900", "--", "# a comment:"})
	assert.False(t, ok)
}
