package dryrun

import (
	"context"
	"errors"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/hostsim"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// probeBatch answers a probe batch on a planned container: each probe from
// the model, and those it cannot know in one batch on the host's base
// container.
func (b *Backend) probeBatch(ctx context.Context, ctid int, l layered, gpus []int, probes [][]string) (engine.ExecResult, error) {
	answers := make([]pve.ProbeAnswer, len(probes))
	var unknown []int
	for i, probe := range probes {
		a, err := hostsim.AnswerOne(l, gpus, probe)
		switch {
		case errors.Is(err, hostsim.ErrUnknown):
			unknown = append(unknown, i)
		case err != nil:
			return engine.ExecResult{}, err
		default:
			answers[i] = a
		}
	}
	if len(unknown) > 0 {
		ask := make([][]string, len(unknown))
		for j, i := range unknown {
			ask[j] = probes[i]
		}
		got := b.askHostBatch(ctx, ctid, l.base, ask)
		if err := ctx.Err(); err != nil {
			return engine.ExecResult{}, err
		}
		for j, i := range unknown {
			answers[i] = got[j]
		}
	}
	return engine.ExecResult{Stdout: pve.FormatProbeOutput(answers)}, nil
}

// askHostBatch asks the host's base container the probes in one batch; a
// host that cannot answer leaves nothing known to be installed.
func (b *Backend) askHostBatch(ctx context.Context, ctid, base int, probes [][]string) []pve.ProbeAnswer {
	r, err := b.reads.Exec(ctx, base, []string{"sh", "-c", pve.ProbeScript(probes)}, engine.ExecOptions{Probe: true})
	if err == nil {
		if answers, perr := pve.ParseProbeOutput(r.Stdout, len(probes)); perr == nil {
			return answers
		}
		// A host that does not batch: one probe at a time.
		out := make([]pve.ProbeAnswer, len(probes))
		for i, probe := range probes {
			r := b.askHost(ctx, ctid, base, probe, engine.ExecOptions{Probe: true})
			out[i] = pve.ProbeAnswer{Code: r.Code, Output: r.Stdout + r.Stderr}
		}
		return out
	}
	b.mu.Lock()
	b.blind[ctid] = true
	b.mu.Unlock()
	out := make([]pve.ProbeAnswer, len(probes))
	for i, probe := range probes {
		r := plannedProbe(probe)
		out[i] = pve.ProbeAnswer{Code: r.Code, Output: r.Stderr}
	}
	return out
}
