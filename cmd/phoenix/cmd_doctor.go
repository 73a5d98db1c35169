package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/doctor"
	"github.com/phoenix-hypervisor/phoenix/engine/lxc"
)

// doctorCmd prints every check of the backend's needs: exit 0 when all
// pass, 3 (environment problem) when something is missing.
func doctorCmd(c *cli.Context, env Env) error {
	g, err := resolveGlobals(c, env)
	if err != nil {
		return err
	}
	r := checkHost(g.Backend)
	r.Write(env.Stdout)
	if missing := r.Missing(0); len(missing) > 0 {
		return exitError(engine.ExitEnvironment, fmt.Errorf("doctor: %d check(s) failed", len(missing)))
	}
	return nil
}

// checkHost runs the doctor's checks for backend on this host.
func checkHost(backend string) doctor.Report {
	return doctor.Run(doctor.RealHost(), backend, lxc.Tools())
}

// lxcPrecheck stops a command that acts on real LXC containers, before it
// starts, when the host lacks what the lxc backend needs: exit 3 with
// what is missing and how to install it.
func lxcPrecheck() error {
	if err := checkHost("lxc").Err(doctor.NeedRun); err != nil {
		return exitError(engine.ExitEnvironment, err)
	}
	return nil
}

// lxcPlanNote is what the plan says when a real lxc run would stop at
// lxcPrecheck ("" when it would not).
func lxcPlanNote() string {
	missing := checkHost("lxc").Missing(doctor.NeedRun)
	if len(missing) == 0 {
		return ""
	}
	names := make([]string, len(missing))
	for i, c := range missing {
		names[i] = c.Name
	}
	return fmt.Sprintf("a real run would stop: the lxc backend is missing %s here (phoenix doctor --backend lxc says what to install)",
		strings.Join(names, ", "))
}
