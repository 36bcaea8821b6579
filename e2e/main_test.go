// Package e2e drives the real docker CLI, with the plugin built from this
// tree, against real engines: "modern" (API 1.45+, volume subpaths) and
// "legacy" (Engine 20.10, API 1.41). scripts/engines.sh brings both up.
//
// E2E_MODERN_HOST, E2E_LEGACY_HOST, E2E_TLS_HOST, E2E_SSH_HOST and
// E2E_TLS_DIR override their endpoints and the TLS certificates. A test that
// needs an engine that does not answer skips, unless CI=true: in CI it fails.
package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// env is what TestMain found.
var env struct {
	configDir string            // the --config dir: plugin dir, contexts
	apiByCtx  map[string]string // context name -> API version of its engine ("" if it does not answer)
	hostByCtx map[string]string
	tlsDir    string // the CA and client certificate of the tls context
}

func TestMain(m *testing.M) {
	if dir := os.Getenv("E2E_RACER_DIR"); dir != "" {
		os.Exit(runRacer(dir, os.Getenv("E2E_RACER_TARGET")))
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(env.configDir)
	os.Exit(code)
}

func setup() error {
	dir, err := os.MkdirTemp("", "docker-workspace-e2e-")
	if err != nil {
		return err
	}
	env.configDir = dir
	pluginDir := filepath.Join(dir, "plugins")
	// As make build makes it (static: the reaper's image, compose/reaper,
	// holds it alone).
	build := exec.Command("make", "-s", "-C", "..", "build", "BIN="+filepath.Join(pluginDir, "docker-workspace"))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build the plugin: %w", err)
	}
	env.tlsDir = envOr("E2E_TLS_DIR", "/var/lib/docker-workspace/engines/tls")
	env.hostByCtx = map[string]string{
		"modern": envOr("E2E_MODERN_HOST", "unix:///var/run/docker.sock"),
		"legacy": envOr("E2E_LEGACY_HOST", "unix:///var/run/docker-legacy.sock"),
		// The modern engine, reached over TCP with TLS, and over SSH
		// (scripts/engines.sh: its certificates, its sshd and Host alias).
		"tls": envOr("E2E_TLS_HOST", "tcp://127.0.0.1:2376"),
		"ssh": envOr("E2E_SSH_HOST", "ssh://docker-workspace-ssh"),
		// The Swarm (scripts/engines.sh up swarm): its manager, and each
		// node's own engine, which its label docker-workspace.engine names.
		"swarm": envOr("E2E_SWARM_HOST", "unix:///var/run/docker-sw1.sock"),
		"sw1":   "unix:///var/run/docker-sw1.sock",
		"sw2":   "unix:///var/run/docker-sw2.sock",
		"sw3":   "unix:///var/run/docker-sw3.sock",
		"sw4":   "unix:///var/run/docker-sw4.sock", // Engine 20.10: no volume subpaths
	}
	tlsOpts := map[string]string{
		"tls": fmt.Sprintf(",ca=%s/ca.pem,cert=%s/cert.pem,key=%s/key.pem", env.tlsDir, env.tlsDir, env.tlsDir),
	}
	env.apiByCtx = map[string]string{}
	for name, host := range env.hostByCtx {
		out, err := exec.Command("docker", "--config", dir, "context", "create", name, "--docker", "host="+host+tlsOpts[name]).CombinedOutput()
		if err != nil {
			return fmt.Errorf("create context %s: %w: %s", name, err, out)
		}
		v, err := exec.Command("docker", "--config", dir, "--context", name, "version", "--format", "{{.Server.APIVersion}}").Output()
		if err == nil {
			env.apiByCtx[name] = strings.TrimSpace(string(v))
		}
	}
	cfg, err := json.Marshal(map[string]any{"cliPluginsExtraDirs": []string{pluginDir}, "currentContext": "modern"})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// requireEngine skips (or, under CI, fails) a test whose engine does not
// answer, and returns its API version.
func requireEngine(t *testing.T, ctx string) string {
	t.Helper()
	v := env.apiByCtx[ctx]
	if v != "" {
		return v
	}
	msg := fmt.Sprintf("the %s engine does not answer at %s (run scripts/engines.sh up)", ctx, env.hostByCtx[ctx])
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
