package pve_test

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

const seed = 20261201

func word(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, 1+r.Intn(n))
	for i := range b {
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	return string(b)
}

const (
	lower = "abcdefghijklmnopqrstuvwxyz"
	value = "abcdefghijklmnopqrstuvwxyzABC0123456789./:;=-_"
)

func TestPropsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	kinds := []pve.PropKind{pve.KindNet, pve.KindFlags, pve.KindVolume, pve.KindDev}
	for i := 0; i < 500; i++ {
		kind := kinds[r.Intn(len(kinds))]
		m := map[string]string{}
		for j := r.Intn(6); j >= 0; j-- {
			m[word(r, lower, 8)] = word(r, value, 12)
		}
		if kind.DefaultKey != "" && r.Intn(2) == 0 {
			m[kind.DefaultKey] = "local-lvm:" + word(r, "0123456789", 3)
		}
		s := pve.FormatProps(kind, m)
		got, err := pve.ParseProps(kind, s)
		require.NoError(t, err, s)
		require.Equal(t, m, got, "ParseProps(FormatProps(x)) == x for %q", s)
		require.Equal(t, s, pve.FormatProps(kind, got), "the spelling is canonical")
	}
}

func TestPropsSpelling(t *testing.T) {
	net, err := pve.ParseProps(pve.KindNet, " name=eth0 , IP=dhcp ,type=veth,bridge=vmbr0")
	require.NoError(t, err)
	assert.Equal(t, "name=eth0,bridge=vmbr0,ip=dhcp,type=veth", pve.FormatProps(pve.KindNet, net))
	root, err := pve.ParseProps(pve.KindVolume, "local-lvm:vm-901-disk-0,size=8G")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"volume": "local-lvm:vm-901-disk-0", "size": "8G"}, root)
	dev, err := pve.ParseProps(pve.KindDev, "/dev/nvidia0,mode=0666")
	require.NoError(t, err)
	assert.Equal(t, "/dev/nvidia0", dev["path"])

	// A bare key is refused where pct refuses it: "nesting" is not "nesting=1".
	got, err := pve.ParseProps(pve.KindFlags, "keyctl=1,nesting")
	require.ErrorContains(t, err, "value without key")
	assert.Equal(t, map[string]string{"keyctl": "1"}, got, "what parsed is kept")
	_, err = pve.ParseProps(pve.KindVolume, "size=8G,local:8")
	require.Error(t, err, "the default key's value comes first")
}

func TestKindOf(t *testing.T) {
	for key, want := range map[string]pve.PropKind{"net0": pve.KindNet, "net12": pve.KindNet, "features": pve.KindFlags,
		"startup": pve.KindFlags, "rootfs": pve.KindVolume, "mp3": pve.KindVolume, "dev0": pve.KindDev} {
		got, ok := pve.KindOf(key)
		assert.True(t, ok, key)
		assert.Equal(t, want, got, key)
	}
	_, ok := pve.KindOf("hostname")
	assert.False(t, ok)
}

// randomCall is a call of a random verb with options that verb takes.
func randomCall(r *rand.Rand) pve.Call {
	verbs := []string{"create", "set", "clone", "start", "stop", "shutdown", "snapshot", "destroy", "push", "status", "config", "exec", "resize"}
	keys := map[string][]string{
		"create":   {"hostname", "memory", "cores", "net0", "features", "rootfs", "unprivileged", "dev0", "mp1"},
		"set":      {"memory", "cores", "delete", "dev2", "onboot", "startup", "tags"},
		"clone":    {"snapname", "hostname", "full", "storage"},
		"shutdown": {"timeout", "forceStop"}, "push": {"user", "group", "perms"}, "exec": {"keep-env"},
		"destroy": {"purge", "force"}, "config": {"snapshot", "current"}, "status": {"verbose"},
	}
	c := pve.Call{Verb: verbs[r.Intn(len(verbs))]}
	for i := 1 + r.Intn(3); i > 0; i-- {
		c.Pos = append(c.Pos, fmt.Sprint(100+r.Intn(900)))
	}
	for _, k := range keys[c.Verb] {
		if r.Intn(2) == 0 {
			v := word(r, value, 10)
			if pve.IsBoolean(k) {
				v = []string{"0", "1"}[r.Intn(2)]
			}
			c.Opts = append(c.Opts, pve.Option{Key: k, Value: v})
		}
	}
	if c.Verb == "exec" {
		c.HasCmd = true
		for i := r.Intn(4); i >= 0; i-- {
			c.Cmd = append(c.Cmd, []string{"--", "-x", "sh", "-c", "echo a,b", "--flag=1"}[r.Intn(6)])
		}
	}
	return c
}

func TestArgvRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(seed))
	for i := 0; i < 1000; i++ {
		c := randomCall(r)
		got, err := pve.Parse(c.Argv())
		require.NoError(t, err, "%q", c.Argv())
		require.Equal(t, c, got, "Parse(Argv(c)) == c for %q", c.Argv())
	}
}

func TestBuildersParse(t *testing.T) {
	for _, argv := range [][]string{
		pve.CreateArgv(pve.CreateSpec{CTID: 901, Template: "local:vztmpl/debian.tar.zst", Options: []pve.Option{{Key: "memory", Value: "2048"}, {Key: "net0", Value: "name=eth0,ip=dhcp"}}}),
		pve.CloneArgv(pve.CloneSpec{Source: 900, CTID: 902, Snapshot: "base", Hostname: "b", Full: true}),
		pve.CloneArgv(pve.CloneSpec{Source: 900, CTID: 903, Hostname: "c", Full: true, Storage: "tank", Description: "d"}),
		pve.SetArgv(901, []pve.Option{{Key: "cores", Value: "2"}}, []string{"swap", "dev0"}),
		pve.StartArgv(901), pve.StopArgv(901), pve.ShutdownArgv(901, time.Minute),
		pve.SnapshotArgv(901, "base"), pve.DestroyArgv(901), pve.ResizeArgv(901, "rootfs", "64G"),
		pve.PushArgv(901, "/tmp/x", "/etc/motd", pve.PushOptions{User: "root", Perms: "0644"}),
		pve.ExecArgv(901, []string{"sh", "-c", "true"}, map[string]string{"B": "2", "A": "1"}),
		pve.StatusArgv(901), pve.ConfigArgv(901), pve.ListSnapshotsArgv(901), pve.ListArgv(),
	} {
		c, err := pve.Parse(argv)
		require.NoError(t, err, "%q", argv)
		assert.Equal(t, argv, c.Argv(), "every argv phoenix builds parses back to itself")
	}
	c, err := pve.Parse(pve.ExecArgv(901, []string{"ls", "-l"}, map[string]string{"A": "1"}))
	require.NoError(t, err)
	env, cmd := pve.SplitEnv(c.Cmd)
	assert.Equal(t, map[string]string{"A": "1"}, env)
	assert.Equal(t, []string{"ls", "-l"}, cmd)
	assert.True(t, pve.Mutates("set"))
	assert.False(t, pve.Mutates("config"))
}

func TestParseRefusesAsPct(t *testing.T) {
	for argv, msg := range map[string][]string{
		"Unknown option: bogus":            {"set", "901", "--bogus", "1"},
		"unknown command 'pct frobnicate'": {"frobnicate"},
		"missing value for option":         {"set", "901", "--memory"},
		"no command specified":             {},
	} {
		_, err := pve.Parse(msg)
		var u *pve.UsageError
		require.ErrorAs(t, err, &u, argv)
		assert.Contains(t, err.Error(), argv)
	}
	c, err := pve.Parse([]string{"clone", "900", "902", "--full"})
	require.NoError(t, err)
	v, _ := c.Get("full")
	assert.Equal(t, "1", v, "a bare boolean means 1")
	_, err = pve.ParseCTID("99")
	assert.Error(t, err)
}

func TestClassify(t *testing.T) {
	var l *pve.ErrLocked
	require.ErrorAs(t, pve.Classify(pve.MsgLocked("disk")), &l)
	assert.Equal(t, "disk", l.Lock)
	assert.True(t, pve.IsTransient(pve.Classify(pve.MsgLocked("backup"))))
	assert.True(t, pve.IsTransient(pve.Classify(pve.MsgLockTimeout(901))))
	for msg, want := range map[string]error{
		pve.MsgNoConfig("n", 901):                    pve.ErrNotExist,
		pve.MsgExists("n", 901):                      pve.ErrExists,
		pve.MsgNotRunning(901):                       pve.ErrNotRunning,
		pve.MsgExecNotRunning(901):                   pve.ErrNotRunning,
		pve.MsgAlreadyRunning(901):                   pve.ErrRunning,
		pve.MsgRunningDestroy(901):                   pve.ErrRunning,
		pve.MsgLinkedClones("local:base-900-disk-0"): pve.ErrLinkedClones,
		pve.MsgLockTimeout(901):                      pve.ErrLockTimeout,
	} {
		assert.True(t, errors.Is(pve.Classify("some prefix\n"+msg), want), msg)
		assert.False(t, pve.IsTransient(pve.Classify(msg)) && want != pve.ErrLockTimeout, msg)
	}
	assert.Nil(t, pve.Classify("exit status 1"))
}

const sampleConf = `#web frontend
arch: amd64
cores: 2
features: keyctl=1,nesting=1
hostname: web
memory: 2048
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
parent: base
rootfs: local-lvm:vm-901-disk-0,size=8G
lxc.cgroup2.devices.allow: c 195:* rwm
lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file
lxc.cgroup2.devices.allow: c 511:* rwm

[base]
cores: 1
hostname: web
memory: 1024
snaptime: 1700000000
lxc.cgroup2.devices.allow: c 195:* rwm
`

func TestConfRoundTrip(t *testing.T) {
	f, err := pve.ParseConf(sampleConf)
	require.NoError(t, err)
	assert.Equal(t, sampleConf, f.Format(), "Format(ParseConf(x)) == x for a file Proxmox wrote")
	assert.Equal(t, []string{"base"}, f.SnapshotNames())
	assert.Equal(t, "base", f.Current.Keys["parent"])
	assert.Equal(t, "c 195:* rwm\nc 511:* rwm", f.Current.Config()["lxc.cgroup2.devices.allow"])
	assert.Equal(t, "1024", f.Snapshot("base").Keys["memory"])

	again, err := pve.ParseConf(f.Format())
	require.NoError(t, err)
	assert.Equal(t, f, again, "ParseConf(Format(x)) == x")

	var s pve.Section
	s.SetConfig(f.Current.Config())
	assert.Equal(t, f.Current.Config(), s.Config(), "SetConfig is Config's inverse")

	_, err = pve.ParseConf("memory 2048\n")
	assert.ErrorContains(t, err, "line 1")
}

func TestOnStorage(t *testing.T) {
	for in, want := range map[string]string{
		"local-lvm:vm-900-disk-0,size=16G":         "tank:vm-900-disk-0,size=16G",
		"local-lvm:16":                             "tank:16",
		"local-zfs:subvol-900-disk-1,mp=/data":     "tank:subvol-900-disk-1,mp=/data",
		"/srv/shared,mp=/shared":                   "/srv/shared,mp=/shared",
		"local:900/vm-900-disk-0.raw,size=8G,ro=1": "tank:900/vm-900-disk-0.raw,size=8G,ro=1",
	} {
		assert.Equal(t, want, pve.OnStorage(in, "tank"), in)
	}
}
