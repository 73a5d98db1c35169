package fakepct

import (
	"errors"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// option is one `--key value` of a pct invocation, in order.
type option struct{ key, value string }

// parsed is an invocation split the way pct's option parser splits it
// (internal/pve.Parse).
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

// createOnly are create options that are not stored in the config.
var createOnly = []string{"force", "ignore-unpack-errors", "password", "pool", "restore",
	"ssh-public-keys", "start", "storage", "unique"}

// parseArgs splits args of op with pct's own parser; its refusals are pct's.
func parseArgs(op string, args []string) (parsed, error) {
	c, err := pve.Parse(append([]string{op}, args...))
	if err != nil {
		return parsed{}, asRefusal(err)
	}
	p := parsed{pos: c.Pos}
	for _, o := range c.Opts {
		if op == "create" || op == "set" {
			if err := checkProps(o.Key, o.Value); err != nil {
				return parsed{}, err
			}
		}
		p.opts = append(p.opts, option{o.Key, o.Value})
	}
	return p, nil
}

// asRefusal prints pve's usage errors as pct does (exit 255).
func asRefusal(err error) error {
	var u *pve.UsageError
	if errors.As(err, &u) {
		return pve.Refuse(u.Msg)
	}
	return err
}

// positional checks the number of positional arguments.
func positional(op string, p parsed, names ...string) error {
	return asRefusal(pve.Call{Verb: op, Pos: p.pos}.Positional(names...))
}
