package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Portainer defaults, used when the hypervisor config does not name them.
const (
	defaultPortainerServerPort  = 9443
	defaultPortainerAgentPort   = 9001
	defaultPortainerServerImage = "portainer/portainer-ce:latest"
	defaultPortainerAgentImage  = "portainer/agent:latest"
)

// dockerStage makes Docker ready in containers that want it.
// Reads: `pct config` (features); the probes docker info, nvidia-ctk
// --version (GPU containers), docker inspect of the Portainer container.
// Writes: features nesting=1,keyctl=1 and a restart when missing; the
// Docker and NVIDIA toolkit install scripts; `docker run` of Portainer.
var dockerStage = Stage{Key: StageDocker, Name: named(StageDocker), Applies: (*Container).WantsDocker, Run: (*ctRun).stageDocker}

func (c *ctRun) stageDocker(ctx context.Context) (outcome, error) {
	var did []string

	restarted, err := c.ensureDockerFeatures(ctx)
	if err != nil {
		return outcome{}, err
	}
	if restarted {
		did = append(did, "features nesting=1,keyctl=1 set; restarted")
	}

	installed, err := c.ensureTool(ctx, []string{"docker", "info"}, dockerInstallScript, "Docker Engine")
	if err != nil {
		return outcome{}, err
	}
	if installed {
		did = append(did, "Docker Engine installed")
	}

	if c.ct.HasGPU() {
		installed, err := c.ensureTool(ctx, []string{"nvidia-ctk", "--version"}, toolkitInstallScript, "NVIDIA container toolkit")
		if err != nil {
			return outcome{}, err
		}
		if installed {
			did = append(did, "NVIDIA container toolkit installed")
		}
	}

	started, err := c.ensurePortainer(ctx)
	if err != nil {
		return outcome{}, err
	}
	if started != "" {
		did = append(did, started)
	}

	if len(did) == 0 {
		return already("docker ready"), nil
	}
	return done("%s", strings.Join(did, "; ")), nil
}

// ensureDockerFeatures makes sure the features Docker needs are set; they
// apply at container start, so a running container is restarted.
func (c *ctRun) ensureDockerFeatures(ctx context.Context) (bool, error) {
	ct := c.ct
	have, err := c.b.Config(ctx, ct.CTID)
	if err != nil {
		return false, pctError(err, "pct config %d", ct.CTID)
	}
	got := ParseFeatures(have["features"])
	want := desiredFeatures(ct)
	if FeaturesMatch(want, got) {
		return false, nil
	}
	opts := []Option{{Key: "features", Value: FormatFeatures(mergeKV(got, want))}}
	if err := c.b.Set(ctx, ct.CTID, opts, nil); err != nil {
		return false, fmt.Errorf("pct set %d --features: %w", ct.CTID, err)
	}
	if err := c.restart(ctx); err != nil {
		return false, fmt.Errorf("restart after features change: %w", err)
	}
	return true, nil
}

// ensureTool probes with argv; when the probe fails it runs the install
// script and probes again. It reports whether it installed.
func (c *ctRun) ensureTool(ctx context.Context, probe []string, script, what string) (bool, error) {
	r, err := c.probe(ctx, probe...)
	if err != nil {
		return false, err
	}
	if r.Code == 0 {
		return false, nil
	}
	if err := c.script(ctx, script); err != nil {
		return false, fmt.Errorf("install %s: %w", what, err)
	}
	if c.o.DryRun {
		return true, nil // recorded, not installed: nothing to verify
	}
	r, err = c.probe(ctx, probe...)
	if err != nil {
		return false, err
	}
	if r.Code != 0 {
		return false, fmt.Errorf("%s still fails after installing %s (exit %d): %s", strings.Join(probe, " "), what, r.Code, tail(r.Stderr))
	}
	return true, nil
}

// ensurePortainer runs the Portainer server or agent container named by
// portainer_role, unless a container of that name exists.
func (c *ctRun) ensurePortainer(ctx context.Context) (string, error) {
	argv := portainerRun(c.cfg, c.ct.PortainerRole)
	if argv == nil {
		return "", nil
	}
	name := argv[4] // docker run -d --name NAME
	if err := checkImage(argv[len(argv)-1]); err != nil {
		return "", err
	}
	r, err := c.probe(ctx, "docker", "inspect", name)
	if err != nil {
		return "", err
	}
	if r.Code == 0 {
		return "", nil
	}
	r, err = c.exec(ctx, argv)
	if err != nil {
		return "", fmt.Errorf("pct exec %d -- docker run %s: %w", c.ct.CTID, name, err)
	}
	if r.Code != 0 {
		return "", fmt.Errorf("docker run %s: exit %d: %s", name, r.Code, tail(r.Stderr))
	}
	return "portainer " + c.ct.PortainerRole + " started", nil
}

// portainerRun is the docker run argv for a Portainer role; nil for roles
// without one ("none", "infrastructure", ...).
func portainerRun(cfg *Config, role string) []string {
	switch role {
	case "server":
		port := orInt(cfg.PortainerServerPort, defaultPortainerServerPort)
		image := orString(cfg.PortainerServerImage, defaultPortainerServerImage)
		return []string{"docker", "run", "-d", "--name", "portainer", "--restart=always",
			"-p", strconv.Itoa(port) + ":9443",
			"-v", "/var/run/docker.sock:/var/run/docker.sock",
			"-v", "portainer_data:/data", image}
	case "agent":
		port := orInt(cfg.PortainerAgentPort, defaultPortainerAgentPort)
		image := orString(cfg.PortainerAgentImage, defaultPortainerAgentImage)
		return []string{"docker", "run", "-d", "--name", "portainer_agent", "--restart=always",
			"-p", strconv.Itoa(port) + ":9001",
			"-v", "/var/run/docker.sock:/var/run/docker.sock",
			"-v", "/var/lib/docker/volumes:/var/lib/docker/volumes", image}
	}
	return nil
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

const dockerInstallScript = `# phoenix:install-docker
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq ca-certificates curl
curl -fsSL https://get.docker.com -o /tmp/phoenix-get-docker.sh
sh /tmp/phoenix-get-docker.sh
rm -f /tmp/phoenix-get-docker.sh
systemctl enable --now docker
`

const toolkitInstallScript = `# phoenix:install-nvidia-toolkit
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq ca-certificates curl gnupg
curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | gpg --dearmor --yes -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' > /etc/apt/sources.list.d/nvidia-container-toolkit.list
apt-get update -qq
apt-get install -y -qq nvidia-container-toolkit
nvidia-ctk runtime configure --runtime=docker
# an unprivileged container cannot manage the device cgroup: Proxmox does
sed -i 's/^#\{0,1\}no-cgroups = .*/no-cgroups = true/' /etc/nvidia-container-runtime/config.toml
systemctl restart docker
`
