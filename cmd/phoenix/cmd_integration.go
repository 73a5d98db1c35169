package main

import (
	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// testCmd is `phoenix test [--ctid N]...`: the config's integration tests
// (tests.integration_tests[]) against a built deployment, each reported
// (engine.WriteTests, as run --with-tests does); exit 1 when one fails.
func testCmd(c *cli.Context, env Env) error {
	if c.NArg() > 0 {
		return usageError("test takes no arguments, got %q: use --ctid N to pick containers", c.Args().First())
	}
	ctids := c.IntSlice("ctid")
	s, err := openSession(c, env, modeRun, ctids) // a test runs commands in the container: the real backend, the lock
	if err != nil {
		return err
	}
	defer s.close()
	outcomes := engine.RunIntegrationTests(c.Context, s.backend, s.cfg, ctids, s.g.HooksDir)
	engine.WriteTests(env.Stdout, outcomes)
	if engine.TestsFailed(outcomes) {
		return exitError(engine.ExitFailed, errQuiet)
	}
	return nil
}
