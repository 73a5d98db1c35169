package pve

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A probe batch answers several read-only checks in one `pct exec`: pct
// costs hundreds of milliseconds a call, whatever it does. The script is
// plain sh; each check is also written as a comment line holding its argv
// as JSON, so a simulator can answer it without parsing shell.
//
//	# phoenix:probe-batch
//	# probe 0 ["docker","info"]
//	o=$('docker' 'info' 2>&1); c=$?; printf '@@phoenix-probe 0 %d\n%s\n' "$c" "$o"
//
// The output of each check is framed by "@@phoenix-probe I CODE" lines;
// stdout and stderr come merged (a check's message stays readable) and
// trailing newlines are trimmed, as $(...) does.

// TagProbeBatch is the batch script's first line.
const TagProbeBatch = "# phoenix:probe-batch"

const probeFrame = "@@phoenix-probe "

// ProbeScript is the sh script answering every probe at once.
func ProbeScript(probes [][]string) string {
	var b strings.Builder
	b.WriteString(TagProbeBatch + "\n")
	for i, argv := range probes {
		j, _ := json.Marshal(argv)
		fmt.Fprintf(&b, "# probe %d %s\n", i, j)
		fmt.Fprintf(&b, "o=$(%s 2>&1); c=$?; printf '%s%d %%d\\n%%s\\n' \"$c\" \"$o\"\n", JoinQuotedAlways(argv), probeFrame, i)
	}
	return b.String()
}

// JoinQuotedAlways quotes every word for sh (a probe's argv is data).
func JoinQuotedAlways(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// ProbesOf reads the probes back from a batch script; ok is false when
// script is not one.
func ProbesOf(script string) (probes [][]string, ok bool) {
	lines := strings.Split(script, "\n")
	if len(lines) == 0 || lines[0] != TagProbeBatch {
		return nil, false
	}
	for _, l := range lines[1:] {
		rest, found := strings.CutPrefix(l, "# probe ")
		if !found {
			continue
		}
		_, js, _ := strings.Cut(rest, " ")
		var argv []string
		if json.Unmarshal([]byte(js), &argv) != nil {
			return nil, false
		}
		probes = append(probes, argv)
	}
	return probes, true
}

// ProbeAnswer is one check's outcome in a batch.
type ProbeAnswer struct {
	Code   int
	Output string // stdout and stderr, merged, trailing newlines trimmed
}

// FormatProbeOutput frames answers as the batch script prints them.
func FormatProbeOutput(answers []ProbeAnswer) string {
	var b strings.Builder
	for i, a := range answers {
		fmt.Fprintf(&b, "%s%d %d\n%s\n", probeFrame, i, a.Code, strings.TrimRight(a.Output, "\n"))
	}
	return b.String()
}

// ParseProbeOutput reads n answers from a batch's stdout.
func ParseProbeOutput(out string, n int) ([]ProbeAnswer, error) {
	answers := make([]ProbeAnswer, n)
	seen := make([]bool, n)
	cur := -1
	var body []string
	flush := func() {
		if cur >= 0 {
			answers[cur].Output = strings.TrimRight(strings.Join(body, "\n"), "\n")
		}
		body = nil
	}
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, probeFrame)
		if !ok {
			body = append(body, l)
			continue
		}
		flush()
		f := strings.Fields(rest)
		if len(f) != 2 {
			return nil, fmt.Errorf("probe batch: bad frame %q", l)
		}
		i, err1 := strconv.Atoi(f[0])
		code, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || i < 0 || i >= n {
			return nil, fmt.Errorf("probe batch: bad frame %q", l)
		}
		cur, seen[i], answers[i].Code = i, true, code
	}
	flush()
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("probe batch: no answer for probe %d", i)
		}
	}
	return answers, nil
}
