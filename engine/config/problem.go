package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// ValidationError is what Load returns for invalid input: every problem
// found, errors and warnings, sorted by file then path. Its exit code is
// engine.ExitUsage (see ExitError).
type ValidationError struct{ Problems []engine.Problem }

// Error lists all problems, one per line, via Format.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = Format(p)
	}
	return strings.Join(lines, "\n")
}

// Errors returns the problems that are not warnings.
func (e *ValidationError) Errors() []engine.Problem {
	var out []engine.Problem
	for _, p := range e.Problems {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// ExitError wraps e for the command line: invalid configuration exits
// with engine.ExitUsage (2), nothing having been changed.
func (e *ValidationError) ExitError() *engine.ExitError {
	return &engine.ExitError{Code: engine.ExitUsage, Err: e}
}

// Format renders p as "FILE: PATH: expected X, found Y", with a
// "warning: " prefix for warnings. Empty parts are left out, so problems
// built elsewhere with only Found (a free-form message) print cleanly.
func Format(p engine.Problem) string {
	var b strings.Builder
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	switch {
	case p.Expected != "" && p.Found != "":
		fmt.Fprintf(&b, "expected %s, found %s", p.Expected, p.Found)
	case p.Expected != "":
		fmt.Fprintf(&b, "expected %s", p.Expected)
	default:
		b.WriteString(p.Found)
	}
	return b.String()
}

// sortProblems orders problems by file, then path (JSON pointer segments
// compared numerically where both are numbers, so /lxc_configs/950 comes
// before /lxc_configs/1002), then errors before warnings, then text.
func sortProblems(ps []engine.Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if c := comparePaths(a.Path, b.Path); c != 0 {
			return c < 0
		}
		if a.Warning != b.Warning {
			return !a.Warning
		}
		return Format(a) < Format(b)
	})
}

func comparePaths(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if c := compareSegment(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return len(as) - len(bs)
}

func compareSegment(a, b string) int {
	if isDigits(a) && isDigits(b) && len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// problems collects findings for one file.
type problems struct {
	file string
	list *[]engine.Problem
	// skip holds the paths with an error already: errors at them are
	// dropped (the schema's words come first, the Go checks' after).
	skip map[string]bool
}

func (p problems) errorf(path, expected, found string, args ...any) {
	p.add(false, path, expected, found, args...)
}

func (p problems) warnf(path, expected, found string, args ...any) {
	p.add(true, path, expected, found, args...)
}

func (p problems) add(warning bool, path, expected, found string, args ...any) {
	if !warning && p.skip[path] {
		return
	}
	if len(args) > 0 {
		found = fmt.Sprintf(found, args...)
	}
	*p.list = append(*p.list, engine.Problem{
		File: p.file, Path: path, Expected: expected, Found: found, Warning: warning,
	})
}

// describe renders a decoded JSON value for "found ...": its JSON type and,
// for scalars, the value (`string "64"`, `number 1.5`, `object`).
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("integer %d", int64(x))
		}
		return fmt.Sprintf("number %v", x)
	case string:
		return fmt.Sprintf("string %s", quoteShort(x))
	case []any:
		return fmt.Sprintf("array of %d", len(x))
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// quoteShort quotes s, cutting very long values so one message stays one
// readable line.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
