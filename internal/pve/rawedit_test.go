package pve

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEditConfRawInPlace: a changed key's lines take its first line's
// place, its later lines go, a new key goes before the snapshot sections;
// comments (the description), pct keys and others' raw lines stay as
// written.
func TestEditConfRawInPlace(t *testing.T) {
	conf := "#phoenix%3A created from t\n" +
		"hostname: a\n" +
		"lxc.idmap: u 0 100000 65536\n" +
		"lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n" +
		"lxc.idmap: g 0 100000 65536\n" +
		"lxc.apparmor.profile: generated\n" +
		"\n[base]\nhostname: a\nlxc.idmap: u 0 100000 65536\n"
	e := RawEdit{Changes: []RawChange{
		{Key: "lxc.apparmor.profile", Old: []string{"generated"}},
		{Key: "lxc.cap.drop", New: []string{"sys_time"}},
		{Key: "lxc.idmap", New: []string{"u 0 100000 65536", "g 0 100000 33", "g 33 33 1", "g 34 100034 65502"}},
	}}
	assert.Equal(t, "#phoenix%3A created from t\n"+
		"hostname: a\n"+
		"lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 33\nlxc.idmap: g 33 33 1\nlxc.idmap: g 34 100034 65502\n"+
		"lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n"+
		"lxc.cap.drop: sys_time\n"+
		"\n[base]\nhostname: a\nlxc.idmap: u 0 100000 65536\n", EditConfRaw(conf, e), "the snapshot keeps its own lines")
	assert.Equal(t, "hostname: a\nlxc.cap.drop: sys_time\n", EditConfRaw("hostname: a", RawEdit{Changes: []RawChange{{Key: "lxc.cap.drop", New: []string{"sys_time"}}}}))
}

// TestMergeRawSharedKeys: of a shared key Phoenix adds its lines and
// removes only the ones its record names; blanks do not make a line new.
func TestMergeRawSharedKeys(t *testing.T) {
	have := map[string]string{
		"lxc.mount.entry": "/a a none bind 0 0\n/old  old none bind 0 0\n/admin admin none bind 0 0",
		"description":     `phoenix: raw lines ["lxc.mount.entry: /a a none bind 0 0","lxc.mount.entry: /old old none bind 0 0"]`,
	}
	e := MergeRaw(have, []RawLine{{Key: "lxc.mount.entry", Value: "/a  a none bind 0 0"}, {Key: "lxc.mount.entry", Value: "/new new none bind 0 0"}})
	require.Len(t, e.Changes, 1)
	assert.Equal(t, []string{"/a a none bind 0 0", "/admin admin none bind 0 0", "/new new none bind 0 0"}, e.Changes[0].New)
	assert.Equal(t, []string{"# edit /etc/pve/lxc/9.conf:", "- lxc.mount.entry: /old  old none bind 0 0", "+ lxc.mount.entry: /new new none bind 0 0",
		`description: phoenix: raw lines ["lxc.mount.entry: /a a none bind 0 0","lxc.mount.entry: /new new none bind 0 0"]`}, EditRawArgv(9, e))
	ApplyRawEdit(have, e)
	assert.True(t, MergeRaw(have, []RawLine{{Key: "lxc.mount.entry", Value: "/a a none bind 0 0"}, {Key: "lxc.mount.entry", Value: "/new new none bind 0 0"}}).Empty())
}

// TestMergeRawWithoutRecord: with no record (lines written before it
// existed, notes edited by hand) owned keys are still replaced, nothing
// else is removed, and the record is added.
func TestMergeRawWithoutRecord(t *testing.T) {
	have := map[string]string{"lxc.apparmor.profile": "generated", "lxc.prlimit.nofile": "1024", "description": "notes\n\nmore"}
	e := MergeRaw(have, []RawLine{{Key: "lxc.apparmor.profile", Value: "unconfined"}})
	assert.Equal(t, []RawChange{{Key: "lxc.apparmor.profile", Old: []string{"generated"}, New: []string{"unconfined"}}}, e.Changes)
	assert.Equal(t, "notes\n\nmore\n"+`phoenix: raw lines ["lxc.apparmor.profile"]`, e.Description, "the admin's notes kept as written")
}

func TestDescriptionTextAsProxmoxKeepsIt(t *testing.T) {
	s := "phoenix: created from local:vztmpl/x.tar.zst\n100% ü"
	assert.Equal(t, "phoenix%3A created from local%3Avztmpl/x.tar.zst%0A100% %C3%BC", EncodeText(s))
	f, err := ParseConf("#phoenix%3A created from local%3Avztmpl/x.tar.zst\n#100% %C3%BC\nhostname: a\n")
	require.NoError(t, err)
	assert.Equal(t, "phoenix: created from local:vztmpl/x.tar.zst\n100% ü", f.Current.Config()["description"], "comment lines are the description")
}

// "lxc.cap.drop: " (an empty value: the list cleared) that the container
// holds is the line the config asks for: nothing to change.
func TestMergeRawAnEmptyValueIsALine(t *testing.T) {
	e := MergeRaw(map[string]string{
		"lxc.cap.drop": "",
		"description":  `phoenix: raw lines ["lxc.cap.drop: "]`,
	}, []RawLine{{Key: "lxc.cap.drop", Value: ""}})
	assert.True(t, e.Empty(), "%+v", e)
}
