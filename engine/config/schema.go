package config

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed schema/*.schema.json
var schemaFS embed.FS

const (
	lxcSchemaFile        = "schema/lxc_configs.schema.json"
	hypervisorSchemaFile = "schema/hypervisor_config.schema.json"
)

type schemas struct{ lxc, hypervisor *jsonschema.Schema }

// compiledSchemas compiles the embedded schemas once. They are part of the
// binary, so a failure is a programming error caught by the tests.
var compiledSchemas = sync.OnceValues(func() (schemas, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	var s schemas
	var err error
	if s.lxc, err = compileEmbedded(c, lxcSchemaFile); err != nil {
		return s, err
	}
	s.hypervisor, err = compileEmbedded(c, hypervisorSchemaFile)
	return s, err
})

func compileEmbedded(c *jsonschema.Compiler, name string) (*jsonschema.Schema, error) {
	raw, err := schemaFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read embedded schema %s: %w", name, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decode embedded schema %s: %w", name, err)
	}
	url := "embed:///" + name
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("add embedded schema %s: %w", name, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile embedded schema %s: %w", name, err)
	}
	return sch, nil
}

// validateSchema checks doc against sch and reports every failing leaf of
// the validator's error tree as a problem. Paths listed in skip (and
// everything under them) were already reported by an earlier pass. It
// returns the paths it reported.
func validateSchema(p problems, sch *jsonschema.Schema, doc map[string]any, skip map[string]bool) map[string]bool {
	reported := map[string]bool{}
	err := sch.Validate(doc)
	if err == nil {
		return reported
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		p.errorf("/", "a document the schema can check", "%v", err)
		return reported
	}
	seen := map[string]bool{}
	for _, leaf := range leaves(ve, nil) {
		path, expected, found := explain(doc, leaf)
		if skipped(skip, path) {
			continue
		}
		key := path + "\x00" + expected + "\x00" + found
		if seen[key] {
			continue
		}
		seen[key] = true
		p.errorf(path, expected, "%s", found)
		reported[path] = true
	}
	return reported
}

func skipped(skip map[string]bool, path string) bool {
	for s := range skip {
		if path == s || strings.HasPrefix(path, s+"/") {
			return true
		}
	}
	return false
}

// leaves walks the error tree down to the errors that have no causes:
// those name the keyword that failed at the deepest location.
func leaves(e *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return append(out, e)
	}
	for _, c := range e.Causes {
		out = leaves(c, out)
	}
	return out
}

// explain turns one schema failure into a JSON pointer, what was expected
// and what was found, in words a person reads.
func explain(doc map[string]any, e *jsonschema.ValidationError) (path, expected, found string) {
	path = pointer(e.InstanceLocation)
	value, _ := lookup(doc, e.InstanceLocation)
	found = describe(value)
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		expected = strings.Join(k.Want, " or ")
	case *kind.Required:
		// Point at the missing property itself.
		path = pointer(append(append([]string(nil), e.InstanceLocation...), k.Missing[0]))
		expected = fmt.Sprintf("property %q (required)", k.Missing[0])
		found = "none"
		if len(k.Missing) > 1 {
			path = pointer(e.InstanceLocation)
			expected = fmt.Sprintf("properties %s (required)", quoteAll(k.Missing))
		}
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprintf("%q", w)
		}
		expected = "one of " + strings.Join(want, ", ")
	case *kind.Pattern:
		expected = patternMeaning(k.Want)
	case *kind.MinLength:
		expected = "a non-empty string"
		if k.Want > 1 {
			expected = fmt.Sprintf("a string of at least %d characters", k.Want)
		}
	case *kind.MaxLength:
		expected = fmt.Sprintf("a string of at most %d characters", k.Want)
	case *kind.Minimum:
		expected = fmt.Sprintf("a number >= %s", k.Want.RatString())
	case *kind.Maximum:
		expected = fmt.Sprintf("a number <= %s", k.Want.RatString())
	case *kind.ExclusiveMinimum:
		expected = fmt.Sprintf("a number > %s", k.Want.RatString())
	case *kind.ExclusiveMaximum:
		expected = fmt.Sprintf("a number < %s", k.Want.RatString())
	default:
		msg := k.LocalizedString(message.NewPrinter(language.English))
		expected = "a value for which this holds: " + strings.TrimSpace(msg)
		if _, isFalse := k.(*kind.FalseSchema); isFalse {
			expected = "no value here"
		}
	}
	return path, expected, found
}

// patternMeaning says in words what the schema's patterns stand for.
func patternMeaning(re string) string {
	if m, ok := patternMeanings[re]; ok {
		return m
	}
	return "a string matching " + re
}

// patternMeanings are the words for each pattern of the embedded schemas
// (TestEveryPatternHasMeaning keeps the two in step).
var patternMeanings = map[string]string{
	`^[1-9][0-9]{2,8}$`:                                      "a container id 100–999999999",
	`^(none|[0-9]+( *, *[0-9]+)*)$`:                          `"none" or GPU indices like "0" or "0,1"`,
	`^[a-zA-Z][a-zA-Z0-9_-]+$`:                               "a snapshot name: a letter, then letters, digits, '_' or '-'",
	`^[0-9]+(\.[0-9]+){1,2}$`:                                `a driver version like "580.76.06" (digits and dots only)`,
	`^https?://[^\s"'` + "`" + `\\]+$`:                       "an http:// or https:// URL without spaces, quotes or backslashes",
	`^[^\x00-\x1f\x7f]*$`:                                    "one line of text (no newline or other control character)",
	`^[^\x00-\x1f\x7f]+$`:                                    "a file path (no newline or other control character)",
	hostnamePattern:                                          hostnameMeaning,
	`^[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]$`:                   "a Proxmox storage id: a letter, then letters, digits, '-', '_' or '.', ending in a letter or digit",
	`^[A-Za-z][A-Za-z0-9_.-]{0,14}$`:                         "an interface name: a letter, then at most 14 letters, digits, '_', '.' or '-'",
	`^(dhcp|manual|[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2})$`: ipMeaning,
	`^([0-9]{1,3}(\.[0-9]{1,3}){3})?$`:                       gwMeaning,
	`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$`:                   macMeaning,
	`^[0-9A-Fa-f:., ]*$`:                                     `IP addresses of DNS servers like "10.0.0.13" or "10.0.0.13 8.8.8.8"`,
	`^[A-Za-z0-9_./][A-Za-z0-9_./:+@%~-]*$`:                  "an OS template path or volume id: letters, digits and _ . / : + @ % ~ - (not starting with '-')",
	`^[A-Za-z0-9_.=;, -]*$`:                                  `pct features ("nesting=1,keyctl=1") or feature names: letters, digits and _ . = ; , -`,
	`^[A-Za-z0-9_.=; -]*$`:                                   `a pct feature ("nesting=1") or a feature name: letters, digits and _ . = ; -`,
	`^[A-Za-z0-9_-]*$`:                                       "a name of letters, digits, '_' or '-'",
	`^lxc\.[A-Za-z0-9_.]+ *[:=][^\x00-\x1f\x7f]*$`:           `a raw LXC line like "lxc.apparmor.profile: unconfined" (one line)`,
	`^[0-9]{1,5}(:[0-9]{1,5})?(/(tcp|udp))?$`:                `a port mapping like "8000:8000"`,
	`^[A-Za-z]+$`:                                            "a word (ACCEPT, DROP, REJECT)",
	`^[A-Za-z0-9]+$`:                                         "a protocol name like tcp",
	`^[0-9:,]+$`:                                             `ports like "22", "8000:8010" or "80,443"`,
	`^[0-9A-Fa-f:./,]+$`:                                     `an address or network like "10.0.0.0/24"`,
	`^[A-Za-z0-9_./-]+$`:                                     "a profile name of letters, digits and _ . / -",
	`^(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))?$`: `an IPv4 address like "10.0.0.99"`,
	`^[A-Za-z0-9][A-Za-z0-9._/:@-]*$`: `a Docker image like "portainer/agent:latest" (no spaces, not starting with '-')`,
}

// The words of the checks the schema and the Go checks share.
const (
	hostnamePattern = `^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`
	hostnameMeaning = "a hostname: labels of letters, digits and '-' (not at either end), 1–63 characters each, separated by single dots"
	ipMeaning       = `an IPv4 address with prefix length like "10.0.0.110/24", "dhcp" or "manual"`
	gwMeaning       = `an IPv4 address like "10.0.0.1"`
	macMeaning      = `a MAC address like "52:54:00:12:34:56"`
)

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// pointer renders path segments as a JSON pointer (RFC 6901).
func pointer(segs []string) string {
	if len(segs) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		s = strings.ReplaceAll(s, "~", "~0")
		b.WriteString(strings.ReplaceAll(s, "/", "~1"))
	}
	return b.String()
}

// lookup finds the value at path segments in a decoded document.
func lookup(doc any, segs []string) (any, bool) {
	cur := doc
	for _, s := range segs {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			var i int
			if _, err := fmt.Sscanf(s, "%d", &i); err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
