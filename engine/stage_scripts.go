package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Feature hooks and the application script: files of the hooks dir run
// for a container after the built-in stages, in this order: the feature
// hooks (phoenix_hypervisor_feature_install_<feature>.lua|.sh, for each
// feature without a built-in stage, in the order listed), then the
// application script (application_script), then the per-CTID hook. Each
// has its own marker in the container (/etc/phoenix/<name>.sha256 of the
// file and the container's entry) and runs again only when one of them
// changed, or with --force. A Lua file runs in the sandbox bound to the
// container; a shell file is pushed into the container with the two
// config files under /tmp/phoenix_run/ and run there with `pct exec`, as
// the original did.

// FileHooks is a HookRunner that also finds and runs other files of the
// hooks dir (the hooks package implements it).
type FileHooks interface {
	// DescribeFile finds name in the hooks dir: Kind HookLua or
	// HookShell from its extension, "" when there is no such file.
	DescribeFile(name string) HookInfo
	// RunLuaFile runs the Lua file at path for req.Container, as a hook.
	RunLuaFile(ctx context.Context, req HookRequest, path string) error
}

// Stage names.
const (
	StageFeatures = "features"
	StageApp      = "app"
)

// RunDir is where shell feature hooks and the application script are
// pushed, with the two config files, inside the container.
const RunDir = "/tmp/phoenix_run"

// FeatureHookName is the file of a feature's hook, without extension.
func FeatureHookName(feature string) string { return "phoenix_hypervisor_feature_install_" + feature }

var (
	featuresStage = Stage{Key: StageFeatures, Name: named(StageFeatures), Applies: hasOtherFeatures, When: hasFeatureHook, Run: (*ctRun).stageFeatures}
	appStage      = Stage{Key: StageApp, Name: named(StageApp), Applies: hasApp, Run: (*ctRun).stageApp}
)

func hasOtherFeatures(ct *Container) bool { return len(OtherFeatures(ct)) > 0 }

// hasFeatureHook: some feature of the container has a feature hook (the
// others are a note, see checkFeatures).
func hasFeatureHook(c *ctRun, _ context.Context) bool {
	for _, f := range OtherFeatures(c.ct) {
		if info, err := featureHook(c.hooks, f); err != nil || info.Kind != "" {
			return true
		}
	}
	return false
}
func hasApp(ct *Container) bool { return ct.Later.ApplicationScript != "" }

// OtherFeatures are the named features without a built-in stage, in
// order: each is run by its feature hook.
func OtherFeatures(ct *Container) []string {
	var out []string
	for _, f := range ct.Named {
		if !handledFeatures[f] {
			out = append(out, f)
		}
	}
	return out
}

// featureHook finds a feature's hook: one of .lua and .sh, never both.
func featureHook(hr HookRunner, feature string) (HookInfo, error) {
	fh, ok := hr.(FileHooks)
	if !ok {
		return HookInfo{}, nil
	}
	base := FeatureHookName(feature)
	lua, sh := fh.DescribeFile(base+".lua"), fh.DescribeFile(base+".sh")
	switch {
	case lua.Kind != "" && sh.Kind != "":
		return HookInfo{}, fmt.Errorf("feature %s: both %s.lua and %s.sh in the hooks dir: keep one", feature, base, base)
	case lua.Kind != "":
		return lua, nil
	}
	return sh, nil
}

// MissingFeatureHooks are ct's features that nothing applies: no
// built-in stage and no feature hook in the hooks dir. A feature with two
// hooks is not missing (the run fails it, see checkFeatures).
func MissingFeatureHooks(hr HookRunner, ct *Container) []string {
	var out []string
	for _, f := range OtherFeatures(ct) {
		if info, err := featureHook(hr, f); err == nil && info.Kind == "" {
			out = append(out, f)
		}
	}
	return out
}

// NoFeatureHook is what validate, plan and run say of a feature that
// nothing applies: a note and warning, or with strict (--strict,
// PHOENIX_STRICT=1) an error that says what to add. One rule for the
// three commands: with strict, none of them goes on.
func NoFeatureHook(feature string, strict bool) string {
	msg := "feature " + feature + ": no built-in stage and no feature hook"
	if strict {
		msg += " (--strict): add " + FeatureHookName(feature) + ".lua or .sh to the hooks dir"
	}
	return msg
}

func (c *ctRun) stageFeatures(ctx context.Context) (outcome, error) {
	var ran, conv, missing []string
	for _, f := range OtherFeatures(c.ct) {
		info, err := featureHook(c.hooks, f)
		if err != nil {
			return outcome{}, err
		}
		if info.Kind == "" {
			missing = append(missing, f)
			continue
		}
		did, err := c.runFile(ctx, info)
		if err != nil {
			return outcome{}, fmt.Errorf("feature %s: %w", f, err)
		}
		if did {
			ran = append(ran, f)
		} else {
			conv = append(conv, f)
		}
	}
	var parts []string
	if len(ran) > 0 {
		parts = append(parts, strings.Join(ran, ", ")+" ran")
	}
	if len(conv) > 0 {
		parts = append(parts, strings.Join(conv, ", ")+" converged")
	}
	if len(missing) > 0 {
		parts = append(parts, "no feature hook: "+strings.Join(missing, ", "))
	}
	switch {
	case len(ran) > 0:
		return done("%s", strings.Join(parts, "; ")), nil
	case len(conv) > 0:
		return already("%s", strings.Join(parts, "; ")), nil
	}
	return skipped("%s", strings.Join(parts, "; ")), nil
}

// checkFeatures is the run's word, before the container's first stage, on
// the features nothing applies (a note and a warning each; with --strict
// the run stopped before any change, see checkHooks), on a feature with
// two hooks and on a missing application script (errors).
func (c *ctRun) checkFeatures() error {
	var errs []error
	if name := c.ct.Later.ApplicationScript; name != "" {
		if _, err := appScript(c.hooks, name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range OtherFeatures(c.ct) {
		if _, err := featureHook(c.hooks, f); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range MissingFeatureHooks(c.hooks, c.ct) {
		c.res.Notes = append(c.res.Notes, NoFeatureHook(f, false))
		c.log("WARN", NoFeatureHook(f, false))
	}
	return errors.Join(errs...)
}

// appScript finds the application script; missing is an error.
func appScript(hr HookRunner, name string) (HookInfo, error) {
	if fh, ok := hr.(FileHooks); ok {
		if info := fh.DescribeFile(name); info.Kind != "" {
			return info, nil
		}
	}
	return HookInfo{}, fmt.Errorf("application_script %s: not found in the hooks dir: add it there, or remove application_script", name)
}

func (c *ctRun) stageApp(ctx context.Context) (outcome, error) {
	info, err := appScript(c.hooks, c.ct.Later.ApplicationScript)
	if err != nil {
		return outcome{}, err
	}
	did, err := c.runFile(ctx, info)
	if err != nil {
		return outcome{}, fmt.Errorf("application script %s: %w", path.Base(info.Path), err)
	}
	if !did {
		return already("%s: converged", path.Base(info.Path)), nil
	}
	return done("%s ran", path.Base(info.Path)), nil
}

// FileMarker is where a container remembers which version of a feature
// hook or application script (at path, in the hooks dir) it ran; it holds
// HookFingerprint, as HookMarker does.
func FileMarker(path string) string { return "/etc/phoenix/" + filepath.Base(path) + ".sha256" }

// runFile runs a feature hook or the application script unless its
// marker says it is converged; it reports whether it ran.
func (c *ctRun) runFile(ctx context.Context, info HookInfo) (bool, error) {
	if info.State != "" && info.State != HookReady {
		return false, errors.New(info.Problem)
	}
	marker := FileMarker(info.Path)
	want := HookFingerprint(c.cfg, c.ct, info.Digest)
	if !c.o.Force {
		r, err := c.probe(ctx, "cat", marker)
		if err != nil {
			return false, err
		}
		if r.Code == 0 && strings.TrimSpace(r.Stdout) == want {
			return false, nil
		}
	}
	var err error
	if info.Kind == HookLua {
		err = c.runLuaFile(ctx, info.Path)
	} else {
		err = c.runInContainer(ctx, info.Path)
	}
	if err != nil {
		return false, err
	}
	return true, c.writeMarker(ctx, marker, want)
}

func (c *ctRun) runLuaFile(ctx context.Context, file string) error {
	timeout := c.ct.HookTimeout
	if timeout <= 0 {
		timeout = c.o.HookTimeout
	}
	req := HookRequest{Container: c.ct, Config: c.cfg, Backend: c.b, DryRun: c.o.DryRun, Verbose: c.o.Verbose,
		Timeout: timeout, LogFile: c.o.LogFile, Events: ctSink{ctid: c.ct.CTID, next: c.sink}, Stage: StageFeatures}
	return c.hooks.(FileHooks).RunLuaFile(ctx, req, file)
}

// runInContainer pushes the shell file and the two config files to
// RunDir and runs it there.
func (c *ctRun) runInContainer(ctx context.Context, file string) error {
	ctid := c.ct.CTID
	script, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	if r, err := c.b.Exec(ctx, ctid, []string{"mkdir", "-p", RunDir}, ExecOptions{}); err != nil || r.Code != 0 {
		return fmt.Errorf("pct exec %d -- mkdir -p %s: %v (exit %d)", ctid, RunDir, err, r.Code)
	}
	for _, f := range []string{c.cfg.HypervisorFile, c.cfg.LXCFile} {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		if err := c.pushChanged(ctx, RunDir+"/"+filepath.Base(f), data, PushOptions{Perms: "0600"}); err != nil {
			return fmt.Errorf("pct push %d %s: %w", ctid, f, err)
		}
	}
	dest := RunDir + "/" + filepath.Base(file)
	if err := c.pushChanged(ctx, dest, script, PushOptions{Perms: "0755"}); err != nil {
		return fmt.Errorf("pct push %d %s: %w", ctid, dest, err)
	}
	timeout := c.ct.HookTimeout
	if timeout <= 0 {
		timeout = c.o.HookTimeout
	}
	// Its output streams as the stage's, as a shell hook's does.
	r, last, err := c.execStreamed(ctx, []string{"bash", dest}, ExecOptions{Timeout: timeout,
		Env: map[string]string{"PHOENIX_CTID": strconv.Itoa(ctid)}})
	if err != nil {
		return fmt.Errorf("pct exec %d -- bash %s: %w", ctid, dest, err)
	}
	if r.Code != 0 {
		return fmt.Errorf("exit %d: %s", r.Code, last)
	}
	return nil
}

// pushChanged pushes content to dest in the container unless dest holds
// it already (a probe cat): a file that stays as it is is no change, in
// the plan as in the run (the config files each script run copies to
// RunDir, a script that did not change). A dest that cannot be read is
// pushed.
func (c *ctRun) pushChanged(ctx context.Context, dest string, content []byte, opts PushOptions) error {
	if old, st := readInside(ctx, c.cache.Unwrap(), c.ct.CTID, dest); st == fileRead && bytes.Equal(old, content) {
		return nil
	}
	return c.b.Push(ctx, c.ct.CTID, dest, content, opts)
}
