package fakepct

import (
	"regexp"
	"strings"
)

// option is one `--key value` of a pct invocation, in order.
type option struct{ key, value string }

// parsed is an invocation split the way pct's option parser splits it.
type parsed struct {
	pos  []string
	opts []option
}

func (p parsed) get(key string) (string, bool) {
	v, ok := "", false
	for _, o := range p.opts {
		if o.key == key {
			v, ok = o.value, true
		}
	}
	return v, ok
}

// optionSpec says which options a command takes.
type optionSpec struct {
	keys    map[string]bool
	indexed *regexp.Regexp // devN, netN, mpN, unusedN
	boolean map[string]bool
}

func (s optionSpec) allows(key string) bool {
	return s.keys[key] || (s.indexed != nil && s.indexed.MatchString(key))
}

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

var (
	indexedKeys = regexp.MustCompile(`^(dev|net|mp|unused)[0-9]+$`)
	booleans    = keySet("console", "debug", "force", "ignore-unpack-errors", "onboot", "protection",
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

	specs = map[string]optionSpec{
		"create":       {keys: keySet(append(append([]string{}, containerKeys...), createOnly...)...), indexed: indexedKeys},
		"set":          {keys: keySet(append([]string{"delete", "digest", "revert"}, containerKeys...)...), indexed: indexedKeys},
		"clone":        {keys: keySet("bwlimit", "description", "full", "hostname", "pool", "snapname", "storage", "target")},
		"start":        {keys: keySet("skiplock", "debug")},
		"stop":         {keys: keySet("skiplock", "overrule-shutdown")},
		"shutdown":     {keys: keySet("timeout", "forceStop")},
		"status":       {keys: keySet("verbose")},
		"config":       {keys: keySet("current", "snapshot")},
		"list":         {},
		"snapshot":     {keys: keySet("description")},
		"listsnapshot": {},
		"delsnapshot":  {keys: keySet("force")},
		"rollback":     {keys: keySet("start")},
		"destroy":      {keys: keySet("purge", "force", "destroy-unreferenced-disks")},
		"push":         {keys: keySet("user", "group", "perms")},
		"template":     {},
		"unlock":       {},
		"exec":         {keys: keySet("keep-env")},
	}
)

// parseArgs splits args into positionals and options. Booleans may go
// without a value; other options take the next argument. `--key=value`
// is accepted too.
func parseArgs(op string, args []string) (parsed, error) {
	spec := specs[op]
	var p parsed
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.pos = append(p.pos, a)
			continue
		}
		key, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !spec.allows(key) {
			return p, refuse("Unknown option: %s\n400 unable to parse option\nUSAGE: pct %s", key, op)
		}
		if !hasValue {
			switch {
			case booleans[key] && (i+1 >= len(args) || !isBool(args[i+1])):
				value = "1"
			case i+1 >= len(args):
				return p, refuse("400 Parameter verification failed.\n%s: missing value for option", key)
			default:
				i++
				value = args[i]
			}
		}
		p.opts = append(p.opts, option{key, value})
	}
	return p, nil
}

func isBool(s string) bool {
	switch s {
	case "0", "1", "true", "false", "yes", "no", "on", "off":
		return true
	}
	return false
}

// positional checks the number of positional arguments.
func positional(op string, p parsed, names ...string) error {
	if len(p.pos) < len(names) {
		return refuse("400 not enough arguments\npct %s <%s>", op, strings.Join(names, "> <"))
	}
	if len(p.pos) > len(names) {
		return refuse("400 too many arguments\npct %s <%s>", op, strings.Join(names, "> <"))
	}
	return nil
}
