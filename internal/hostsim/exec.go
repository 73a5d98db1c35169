package hostsim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Files inside a container that stand for what the install scripts put
// there.
const (
	NvidiaVersionFile = "/.fake/nvidia-version"
	NvidiaCTKFile     = "/.fake/nvidia-ctk"
	DockerBinary      = "/usr/bin/docker"
	dockerMarkerDir   = "/.fake"
)

// DockerMarker is the file standing for a docker container NAME.
func DockerMarker(name string) string { return dockerMarkerDir + "/docker-" + name }

// Script tags: the first line of a `sh -c` script naming the install it
// stands for. The built-in stages write them; keep them exact.
const (
	TagInstallDocker        = "# phoenix:install-docker"
	TagInstallNvidia        = "# phoenix:install-nvidia"
	TagInstallNvidiaToolkit = "# phoenix:install-nvidia-toolkit"
)

// GPUName is what the simulated nvidia-smi calls every GPU.
const GPUName = "NVIDIA Fake GPU"

// ErrUnknown is what an FS answers for a file it cannot know (the dry-run
// overlay, for a container it did not make): the caller asks the host.
var ErrUnknown = errors.New("not known before the run")

// FS is a container's file system as the commands see it.
type FS interface {
	// ReadFile returns fs.ErrNotExist (wrapped) for a missing file.
	ReadFile(p string) ([]byte, error)
	// Stat reports whether p exists, is a directory, and its size.
	Stat(p string) (isDir bool, size int64, err error)
	WriteFile(p string, data []byte, perm fs.FileMode) error
	Mkdir(p string, parents bool) error
}

// Result is what a command printed and its exit code.
type Result struct {
	Stdout, Stderr bytes.Buffer
	Code           int
}

// Exec runs cmd (an `env K=V` prefix already stripped) in a container
// whose file system is fsys and whose passed-through GPUs are gpus. Other
// commands succeed without effect. err is ErrUnknown when the answer
// depends on what fsys cannot know, or a write failure.
func Exec(fsys FS, gpus []int, cmd []string, stdin io.Reader) (*Result, error) {
	c := &ct{fs: fsys, res: &Result{}, gpus: gpus}
	if len(cmd) == 0 {
		return c.res, nil
	}
	var err error
	switch path.Base(cmd[0]) {
	case "true":
	case "false":
		c.res.Code = 1
	case "cat":
		err = c.cat(cmd[1:], stdin)
	case "test":
		err = c.test(cmd[1:])
	case "mkdir":
		err = c.mkdir(cmd[1:])
	case "nvidia-smi":
		err = c.nvidiaSMI(cmd[1:])
	case "nvidia-ctk":
		err = c.needFile(NvidiaCTKFile, "nvidia-ctk", func() { c.res.Stdout.WriteString("NVIDIA Container Toolkit CLI version 1.0.0-fake\n") })
	case "docker":
		err = c.docker(cmd[1:])
	case "sh", "bash":
		err = c.shell(cmd[1:])
	}
	return c.res, err
}

// StripEnv drops a leading `env [K=V...]`.
func StripEnv(cmd []string) []string {
	if len(cmd) == 0 || (cmd[0] != "env" && cmd[0] != "/usr/bin/env") {
		return cmd
	}
	i := 1
	for i < len(cmd) && strings.Contains(cmd[i], "=") && !strings.HasPrefix(cmd[i], "-") {
		i++
	}
	return cmd[i:]
}

var gpuDev = regexp.MustCompile(`(?:^|[=\s])/dev/nvidia([0-9]+)(?:[,\s]|$)`)

// GPUs lists the GPUs passed through by a container's configuration: devN
// entries and legacy lxc.mount.entry lines naming /dev/nvidiaN.
func GPUs(config map[string]string) []int {
	seen := map[int]bool{}
	var out []int
	add := func(s string) {
		if m := gpuDev.FindStringSubmatch(s); m != nil {
			n := 0
			fmt.Sscan(m[1], &n)
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	for k, v := range config {
		switch {
		case strings.HasPrefix(k, "dev"):
			add(v)
		case k == "lxc.mount.entry":
			for _, l := range strings.Split(v, "\n") {
				add(l)
			}
		}
	}
	sort.Ints(out)
	return out
}

type ct struct {
	fs   FS
	res  *Result
	gpus []int
}

func (c *ct) exists(p string) (bool, error) {
	_, _, err := c.fs.Stat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

func (c *ct) notFound(name string) {
	fmt.Fprintf(&c.res.Stderr, "%s: command not found\n", name)
	c.res.Code = 127
}

func (c *ct) cat(files []string, stdin io.Reader) error {
	if len(files) == 0 && stdin != nil {
		_, _ = io.Copy(&c.res.Stdout, stdin)
		return nil
	}
	for _, name := range files {
		data, err := c.fs.ReadFile(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(&c.res.Stderr, "cat: %s: No such file or directory\n", name)
			c.res.Code = 1
		case err != nil:
			return err
		default:
			c.res.Stdout.Write(data)
		}
	}
	return nil
}

// test answers `test -e|-f|-d|-s FILE`; anything else is true.
func (c *ct) test(args []string) error {
	if len(args) != 2 {
		return nil
	}
	isDir, size, err := c.fs.Stat(args[1])
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	ok := err == nil
	switch args[0] {
	case "-f":
		ok = ok && !isDir
	case "-d":
		ok = ok && isDir
	case "-s":
		ok = ok && size > 0
	}
	if !ok {
		c.res.Code = 1
	}
	return nil
}

// mkdir answers `mkdir [-p] [-m MODE] DIR...`.
func (c *ct) mkdir(args []string) error {
	parents := false
	var dirs []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-p" || a == "--parents":
			parents = true
		case a == "-m":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			dirs = append(dirs, a)
		}
	}
	for _, d := range dirs {
		err := c.fs.Mkdir(d, parents)
		switch {
		case errors.Is(err, ErrUnknown):
			return err
		case errors.Is(err, fs.ErrExist):
			fmt.Fprintf(&c.res.Stderr, "mkdir: cannot create directory '%s': File exists\n", d)
			c.res.Code = 1
		case err != nil:
			fmt.Fprintf(&c.res.Stderr, "mkdir: cannot create directory '%s': No such file or directory\n", d)
			c.res.Code = 1
		}
	}
	return nil
}

func (c *ct) needFile(p, name string, then func()) error {
	ok, err := c.exists(p)
	if err != nil {
		return err
	}
	if !ok {
		c.notFound(name)
		return nil
	}
	then()
	return nil
}

// nvidiaSMI answers `nvidia-smi [--query-gpu=F1,F2 --format=csv,noheader]`
// with one line per GPU passed through (at least one).
func (c *ct) nvidiaSMI(args []string) error {
	data, err := c.fs.ReadFile(NvidiaVersionFile)
	if errors.Is(err, fs.ErrNotExist) {
		c.notFound("nvidia-smi")
		return nil
	}
	if err != nil {
		return err
	}
	version := strings.TrimSpace(string(data))
	gpus := c.gpus
	if len(gpus) == 0 {
		gpus = []int{0}
	}
	var fields []string
	for _, a := range args {
		if q, ok := strings.CutPrefix(a, "--query-gpu="); ok {
			fields = strings.Split(q, ",")
		}
	}
	if fields == nil {
		fmt.Fprintf(&c.res.Stdout, "NVIDIA-SMI (fake)  Driver Version: %s  GPUs: %d\n", version, len(gpus))
		return nil
	}
	for i := range gpus {
		vals := make([]string, len(fields))
		for j, f := range fields {
			switch strings.TrimSpace(f) {
			case "index":
				vals[j] = fmt.Sprint(i)
			case "name":
				vals[j] = GPUName
			case "driver_version":
				vals[j] = version
			default:
				vals[j] = "[N/A]"
			}
		}
		c.res.Stdout.WriteString(strings.Join(vals, ", ") + "\n")
	}
	return nil
}

func (c *ct) docker(args []string) error {
	ok, err := c.exists(DockerBinary)
	if err != nil {
		return err
	}
	if !ok {
		c.notFound("docker")
		return nil
	}
	if len(args) == 0 {
		return nil
	}
	switch args[0] {
	case "info":
		c.res.Stdout.WriteString("Server Version: fake\n")
	case "inspect":
		return c.dockerInspect(args[1:])
	case "run":
		if name := dockerName(args[1:]); name != "" {
			if err := c.fs.WriteFile(DockerMarker(name), []byte(name+"\n"), 0o644); err != nil {
				fmt.Fprintf(&c.res.Stderr, "docker: %v\n", err)
				c.res.Code = 125
				return nil
			}
			fmt.Fprintf(&c.res.Stdout, "fake-%s\n", name)
		}
	}
	return nil
}

var goTemplate = regexp.MustCompile(`{{\s*([^}]*?)\s*}}`)

// dockerInspect answers `docker inspect [-f|--format TEMPLATE] NAME...`:
// a docker container exists when its marker does, and runs.
func (c *ct) dockerInspect(args []string) error {
	format := ""
	var names []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-f" || a == "--format" || a == "--type") && i+1 < len(args):
			if a != "--type" {
				format = args[i+1]
			}
			i++
		case strings.HasPrefix(a, "--format="):
			format = strings.TrimPrefix(a, "--format=")
		case strings.HasPrefix(a, "-"):
		default:
			names = append(names, a)
		}
	}
	var found []string
	for _, name := range names {
		ok, err := c.exists(DockerMarker(name))
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(&c.res.Stderr, "Error: No such object: %s\n", name)
			c.res.Code = 1
			continue
		}
		found = append(found, name)
	}
	if format == "" {
		var objs []string
		for _, name := range found {
			objs = append(objs, fmt.Sprintf(`{"Name":"/%s","State":{"Status":"running","Running":true}}`, name))
		}
		fmt.Fprintf(&c.res.Stdout, "[%s]\n", strings.Join(objs, ","))
		return nil
	}
	for _, name := range found {
		out := goTemplate.ReplaceAllStringFunc(format, func(m string) string {
			switch goTemplate.FindStringSubmatch(m)[1] {
			case ".State.Running":
				return "true"
			case ".State.Status":
				return "running"
			case ".Name":
				return "/" + name
			}
			return "<no value>"
		})
		c.res.Stdout.WriteString(out + "\n")
	}
	return nil
}

func dockerName(args []string) string {
	for i, a := range args {
		if a == "--name" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--name="); ok {
			return v
		}
	}
	return ""
}

// shell simulates the tagged install scripts of the built-in stages;
// other scripts succeed without effect.
func (c *ct) shell(args []string) error {
	if len(args) < 2 || args[0] != "-c" {
		return nil
	}
	if handled, err := c.batch(args[1]); handled {
		return err
	}
	first, _, _ := strings.Cut(strings.TrimLeft(args[1], "\n"), "\n")
	fields := strings.Fields(first)
	tag := strings.Join(fields[:min(len(fields), 2)], " ")
	switch tag {
	case TagInstallDocker:
		return c.fs.WriteFile(DockerBinary, []byte("#!/bin/sh\n# fake docker\n"), 0o755)
	case TagInstallNvidia:
		if len(fields) < 3 {
			c.res.Stderr.WriteString("install-nvidia: no driver version on the tag line\n")
			c.res.Code = 2
			return nil
		}
		return c.fs.WriteFile(NvidiaVersionFile, []byte(fields[2]+"\n"), 0o644)
	case TagInstallNvidiaToolkit:
		return c.fs.WriteFile(NvidiaCTKFile, []byte("fake\n"), 0o755)
	}
	return nil
}

// Tagged reports whether a `sh -c` script is one of the tagged installs
// (its effect is known to the model).
func Tagged(cmd []string) bool {
	if len(cmd) < 3 || path.Base(cmd[0]) != "sh" || cmd[1] != "-c" {
		return false
	}
	first, _, _ := strings.Cut(strings.TrimLeft(cmd[2], "\n"), "\n")
	return strings.HasPrefix(first, TagInstallDocker) || strings.HasPrefix(first, TagInstallNvidia)
}
