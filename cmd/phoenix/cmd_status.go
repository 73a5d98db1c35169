package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// statusCmd shows each configured container as the host has it. It only
// reads (no lock; the backend is the dry-run recorder over the host) and
// exits 0 in sync, 1 with drift.
func statusCmd(c *cli.Context, env Env) error {
	if c.NArg() > 0 {
		return usageError("status takes no arguments, got %q: use --ctid N to pick containers", c.Args().First())
	}
	ctids := c.IntSlice("ctid")
	s, err := openSession(c, env, modeRead, ctids)
	if err != nil {
		return err
	}
	defer s.close()
	rep, err := s.inspect(c, ctids)
	if err != nil {
		return err
	}
	if s.json != nil {
		for _, cs := range rep.Containers {
			if err := writeRecord(s.json, "status", cs, s.redactor); err != nil {
				return exitError(engine.ExitFailed, err)
			}
		}
		for _, st := range rep.Strays {
			rec := jsonStray{CTID: st.CTID, Name: st.Name, Status: st.Status, Lock: st.Lock}
			if err := writeRecord(s.json, "stray", rec, s.redactor); err != nil {
				return exitError(engine.ExitFailed, err)
			}
		}
		sum := struct {
			InSync   bool `json:"in_sync"`
			ExitCode int  `json:"exit_code"`
		}{rep.InSync(), statusExit(rep)}
		if err := writeRecord(s.json, "summary", sum, s.redactor); err != nil {
			return exitError(engine.ExitFailed, err)
		}
	} else {
		engine.WriteStatus(env.Stdout, rep, env.IsTTY)
	}
	if code := statusExit(rep); code != engine.ExitOK {
		return exitError(code, errQuiet)
	}
	return nil
}

// jsonStray is a container on the host in the config's range but not in it.
type jsonStray struct {
	CTID   int    `json:"ctid"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Lock   string `json:"lock,omitempty"`
}

func statusExit(rep *engine.StatusReport) int {
	if rep.InSync() {
		return engine.ExitOK
	}
	return engine.ExitFailed
}

// inspect reads the host for status and graph --status, and writes what
// is out of sync to the run log.
func (s *session) inspect(c *cli.Context, ctids []int) (*engine.StatusReport, error) {
	s.logf("INFO", "phoenix %s %s: backend %s, %s, %d container(s)", version, c.Command.Name, s.g.Backend, s.g.LXCConfig, len(s.cfg.Containers))
	rep, err := engine.Inspect(c.Context, engine.StatusOptions{Config: s.cfg, Backend: s.backend, Hooks: s.hookRunner(), CTIDs: ctids})
	if err != nil {
		return nil, exitError(engine.ExitEnvironment, fmt.Errorf("read the host: %w", err))
	}
	for _, cs := range rep.Containers {
		if cs.State == engine.StateBuilt {
			continue
		}
		msg := fmt.Sprintf("%d %s: %s", cs.CTID, cs.Name, cs.State)
		if len(cs.Rebuild)+len(cs.Drift) > 0 {
			msg += " (host → config)"
		}
		for _, d := range cs.Rebuild {
			msg += "; ! " + engine.DriftText(d) + " (cannot change in place)"
		}
		for _, d := range cs.Drift {
			msg += "; " + engine.DriftText(d)
		}
		if cs.Err != nil {
			msg += "; " + cs.Err.Error()
		}
		// INFO: the table shows it; the run log keeps it.
		s.events.Emit(engine.Event{Time: time.Now(), Kind: engine.EventLog, CTID: cs.CTID, Level: "INFO", Message: msg})
	}
	for _, st := range rep.Strays {
		s.logf("INFO", "stray container %d %s on the host, in the config's range but not in the config", st.CTID, st.Name)
	}
	s.logf("INFO", "phoenix %s: in sync: %t", c.Command.Name, rep.InSync())
	return rep, nil
}
