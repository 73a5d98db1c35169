package hostsim

import (
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// batch answers a probe batch (pve.ProbeScript) as sh would run it.
func (c *ct) batch(script string) (bool, error) {
	probes, ok := pve.ProbesOf(script)
	if !ok {
		return false, nil
	}
	answers, err := Answer(c.fs, c.gpus, probes)
	if err != nil {
		return true, err
	}
	c.res.Stdout.WriteString(pve.FormatProbeOutput(answers))
	return true, nil
}

// Answer runs each probe; err is the first ErrUnknown (or write failure).
func Answer(fsys FS, gpus []int, probes [][]string) ([]pve.ProbeAnswer, error) {
	answers := make([]pve.ProbeAnswer, len(probes))
	for i, p := range probes {
		a, err := AnswerOne(fsys, gpus, p)
		if err != nil {
			return nil, err
		}
		answers[i] = a
	}
	return answers, nil
}

// AnswerOne is one probe's answer as a batch frames it.
func AnswerOne(fsys FS, gpus []int, probe []string) (pve.ProbeAnswer, error) {
	r, err := Exec(fsys, gpus, StripEnv(probe), nil)
	if err != nil {
		return pve.ProbeAnswer{}, err
	}
	return pve.ProbeAnswer{Code: r.Code, Output: strings.TrimRight(r.Stdout.String()+r.Stderr.String(), "\n")}, nil
}
