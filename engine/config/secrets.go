package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Secrets: every file the hypervisor config names as holding a secret is
// known at load time, so a run can redact it from everything it writes
// before any hook has read it (a shell hook that prints the token it
// reads itself included).
//
// A secret file is a value of a core_paths key whose name holds "token"
// (hf_token_file, docker_token_file) or an item of secret_paths; relative
// paths are relative to the hypervisor config's directory. Values of keys
// whose name holds "password" (portainer_api.admin_password,
// users.password_hash) are secrets written inline.

// MaxSecretBytes bounds a secret file: tokens are short, and a large file
// is almost certainly not the one meant.
const MaxSecretBytes = 64 << 10

// findSecretFiles lists the secret files of doc into cfg.SecretFiles: a
// missing file is a warning (nothing to redact, but a hook reading it
// will fail), a directory is an error.
func findSecretFiles(p problems, cfg *engine.Config, doc map[string]any, dir string) {
	var named []engine.SecretFile
	if cp, ok := doc["core_paths"].(map[string]any); ok {
		for _, k := range sortedKeys(cp) {
			if f, ok := cp[k].(string); ok && f != "" && strings.Contains(strings.ToLower(k), "token") {
				named = append(named, engine.SecretFile{Path: pointer([]string{"core_paths", k}), File: f})
			}
		}
	}
	if list, ok := doc["secret_paths"].([]any); ok {
		for i, v := range list {
			if f, ok := v.(string); ok && f != "" { // other types: the schema reports them
				named = append(named, engine.SecretFile{Path: fmt.Sprintf("/secret_paths/%d", i), File: f})
			}
		}
	}
	for _, s := range named {
		if !filepath.IsAbs(s.File) {
			s.File = filepath.Join(dir, s.File)
		}
		if abs, err := filepath.Abs(s.File); err == nil {
			s.File = abs
		}
		info, err := os.Stat(s.File)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.warnf(s.Path, "", "secret file %s does not exist: nothing to redact, and a hook reading it will fail", s.File)
			continue
		case err == nil && info.IsDir():
			p.errorf(s.Path, "a file holding a secret", "the directory %s: name the file itself", s.File)
			continue
		}
		cfg.SecretFiles = append(cfg.SecretFiles, s)
	}
}

// ReadSecrets reads the secrets of cfg: the content of each secret file
// and the inline password values of the hypervisor config. A file that
// cannot be read (it vanished, no permission, too large) is a warning,
// returned as a line to print; the run goes on.
func ReadSecrets(cfg *engine.Config) (secrets, warnings []string) {
	for _, s := range cfg.SecretFiles {
		v, err := readSecretFile(s.File)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("warning: %s: %s: secret not read, so not redacted: %v", cfg.HypervisorFile, s.Path, err))
			continue
		}
		secrets = append(secrets, v)
	}
	return append(secrets, inlineSecrets(cfg.Hypervisor)...), warnings
}

func readSecretFile(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSecretBytes+1))
	if err != nil {
		return "", err
	}
	if len(data) > MaxSecretBytes {
		return "", fmt.Errorf("%s is larger than %d KiB", file, MaxSecretBytes>>10)
	}
	return string(data), nil
}

// inlineSecrets are the string values, anywhere in doc, of keys whose
// name holds "password".
func inlineSecrets(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && strings.Contains(strings.ToLower(k), "password") {
				out = append(out, s)
				continue
			}
			out = append(out, inlineSecrets(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, inlineSecrets(e)...)
		}
	}
	sort.Strings(out)
	return out
}
