package pve

import "regexp"

// Verb is one pct subcommand: whether it changes the host, and the
// options it accepts.
type Verb struct {
	Name    string
	Mutates bool
	keys    map[string]bool
	indexed bool // devN, netN, mpN, unusedN
}

// Allows reports whether the verb takes --key.
func (v Verb) Allows(key string) bool {
	return v.keys[key] || (v.indexed && indexedKey.MatchString(key))
}

var (
	indexedKey = regexp.MustCompile(`^(dev|net|mp|unused)[0-9]+$`)

	// booleans may be given without a value (`--full`): they mean 1.
	booleans = keySet("console", "debug", "force", "ignore-unpack-errors", "onboot", "protection",
		"restore", "start", "template", "unique", "unprivileged", "full", "forceStop", "skiplock",
		"purge", "destroy-unreferenced-disks", "keep-env", "current", "verbose", "overrule-shutdown")

	// containerKeys are the configuration options of create and set.
	containerKeys = []string{"arch", "cmode", "console", "cores", "cpulimit", "cpuunits", "debug",
		"description", "features", "hookscript", "hostname", "lock", "memory", "nameserver", "onboot",
		"ostype", "protection", "rootfs", "searchdomain", "startup", "swap", "tags", "template",
		"timezone", "tty", "unprivileged"}
	// createOnly are create options that are not stored in the config.
	createOnly = []string{"force", "ignore-unpack-errors", "password", "pool", "restore",
		"ssh-public-keys", "start", "storage", "unique"}
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Verbs are the pct subcommands phoenix, its hooks and its fakes use.
var Verbs = map[string]Verb{
	"create":       {Mutates: true, keys: keySet(concat(containerKeys, createOnly)...), indexed: true},
	"set":          {Mutates: true, keys: keySet(concat([]string{"delete", "digest", "revert"}, containerKeys)...), indexed: true},
	"clone":        {Mutates: true, keys: keySet("bwlimit", "description", "full", "hostname", "pool", "snapname", "storage", "target")},
	"start":        {Mutates: true, keys: keySet("skiplock", "debug")},
	"stop":         {Mutates: true, keys: keySet("skiplock", "overrule-shutdown")},
	"shutdown":     {Mutates: true, keys: keySet("timeout", "forceStop")},
	"snapshot":     {Mutates: true, keys: keySet("description")},
	"delsnapshot":  {Mutates: true, keys: keySet("force")},
	"rollback":     {Mutates: true, keys: keySet("start")},
	"destroy":      {Mutates: true, keys: keySet("purge", "force", "destroy-unreferenced-disks")},
	"push":         {Mutates: true, keys: keySet("user", "group", "perms")},
	"template":     {Mutates: true},
	"unlock":       {Mutates: true},
	"resize":       {Mutates: true, keys: keySet("digest")},
	"status":       {keys: keySet("verbose")},
	"config":       {keys: keySet("current", "snapshot")},
	"list":         {},
	"listsnapshot": {},
	"pull":         {keys: keySet("user", "group", "perms")},
	// exec runs a command: it mutates whatever the command does.
	"exec": {keys: keySet("keep-env")},
}

func init() {
	for name, v := range Verbs {
		v.Name = name
		Verbs[name] = v
	}
}

// Mutates reports whether verb changes the host. exec is not counted: what
// it changes is the command's business (the dry-run records it anyway).
func Mutates(verb string) bool { return Verbs[verb].Mutates }

// IsBoolean reports whether --key may go without a value.
func IsBoolean(key string) bool { return booleans[key] }
