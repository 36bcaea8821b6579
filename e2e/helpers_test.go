package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/icmd"
)

// harness runs the docker CLI for one test: the test's config dir, an
// environment without the caller's DOCKER_* and GATEWAY_* variables, and
// default bind directories of its own.
type harness struct {
	t       *testing.T
	env     []string
	dataDir string
	id      string // unique to this test and run
}

func newHarness(t *testing.T, extraEnv ...string) *harness {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	h := &harness{t: t, dataDir: t.TempDir(), id: hex.EncodeToString(b)}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DOCKER_") || strings.HasPrefix(k, "GATEWAY_") || k == "XDG_DATA_HOME" {
			continue
		}
		h.env = append(h.env, kv)
	}
	h.env = append(h.env, "XDG_DATA_HOME="+h.dataDir)
	h.env = append(h.env, extraEnv...)
	return h
}

// workspaceRoot is the default bind-mode workspace root of the harness.
func (h *harness) workspaceRoot() string {
	return filepath.Join(h.dataDir, "docker-workspace", "workspaces")
}

func (h *harness) sharedDir() string {
	return filepath.Join(h.dataDir, "docker-workspace", "shared")
}

// docker runs `docker --config <dir> ARGS...`.
func (h *harness) docker(args ...string) *icmd.Result {
	h.t.Helper()
	cmd := icmd.Command("docker", append([]string{"--config", env.configDir}, args...)...)
	return icmd.RunCmd(cmd, icmd.WithEnv(h.env...))
}

// ws runs `docker workspace ARGS...` on the current context (modern).
func (h *harness) ws(args ...string) *icmd.Result {
	h.t.Helper()
	return h.docker(append([]string{"workspace"}, args...)...)
}

// withEnv returns a copy of the harness with more environment.
func (h *harness) withEnv(kv ...string) *harness {
	c := *h
	c.env = append(append([]string{}, h.env...), kv...)
	return &c
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// subdir returns a workspace subdir unique to this test and run, whose
// container is removed (on every test engine) when the test ends.
func (h *harness) subdir(suffix string) string {
	h.t.Helper()
	base := nonAlnum.ReplaceAllString(strings.ToLower(h.t.Name()), "-")
	if len(base) > 30 {
		base = base[len(base)-30:]
	}
	s := "e2e-" + strings.Trim(base, "-") + "-" + h.id + suffix
	return h.track(s)
}

// short returns a short subdir unique to this run ("e2e-<id><suffix>"),
// whose container is removed when the test ends: room for nesting below it
// within the 50 characters that a container name keeps.
func (h *harness) short(suffix string) string {
	return h.track("e2e-" + h.id + suffix)
}

// track removes the container of a subdir (on every test engine) when the
// test ends, and returns the subdir.
func (h *harness) track(subdir string) string {
	name := containerName(subdir)
	h.t.Cleanup(func() {
		for _, ctx := range []string{"modern", "legacy"} {
			h.docker("--context", ctx, "rm", "-f", "-v", name)
		}
	})
	return subdir
}

// volume creates a volume on a context, removed when the test ends with
// the containers that use it (whichever cleanup was registered first).
func (h *harness) volume(ctx, suffix string) string {
	h.t.Helper()
	name := "e2e-vol-" + h.id + "-" + suffix
	h.docker("--context", ctx, "volume", "create", name).Assert(h.t, icmd.Success)
	h.t.Cleanup(func() {
		if ids := strings.Fields(h.docker("--context", ctx, "ps", "-aq", "--filter", "volume="+name).Stdout()); len(ids) > 0 {
			h.docker(append([]string{"--context", ctx, "rm", "-f", "-v"}, ids...)...)
		}
		h.docker("--context", ctx, "volume", "rm", "-f", name)
	})
	return name
}

// containerName is the expected container name of an e2e subdir (these
// subdirs are already lower-case and safe).
func containerName(subdir string) string {
	s := strings.NewReplacer("/", "-", " ", "-").Replace(subdir)
	if len(s) > 50 {
		s = s[:50]
	}
	return "gws-" + s
}

// inspect returns `docker inspect` of a container on a context.
func (h *harness) inspect(ctx, name string) containerJSON {
	h.t.Helper()
	res := h.docker("--context", ctx, "inspect", "--type", "container", name)
	res.Assert(h.t, icmd.Success)
	var out []containerJSON
	assert.NilError(h.t, json.Unmarshal([]byte(res.Stdout()), &out))
	assert.Assert(h.t, len(out) == 1)
	return out[0]
}

// exists says whether a container exists on a context.
func (h *harness) exists(ctx, name string) bool {
	h.t.Helper()
	return h.docker("--context", ctx, "inspect", "--type", "container", name).ExitCode == 0
}

type containerJSON struct {
	ID    string `json:"Id"`
	Name  string
	State struct {
		Status    string
		StartedAt string
	}
	Config struct {
		Image      string
		Entrypoint []string
		Labels     map[string]string
	}
	HostConfig struct {
		Init      *bool
		Memory    int64
		NanoCPUs  int64 `json:"NanoCpus"`
		PidsLimit *int64
	}
	Mounts []struct {
		Type        string
		Name        string
		Source      string
		Destination string
		RW          bool
	}
	NetworkSettings struct {
		Networks map[string]*struct{ Aliases []string }
	}
}

// mountAt returns the mount of a container at a target.
func (c containerJSON) mountAt(t *testing.T, target string) (typ, name, source string, rw bool) {
	t.Helper()
	for _, m := range c.Mounts {
		if m.Destination == target {
			return m.Type, m.Name, m.Source, m.RW
		}
	}
	t.Fatalf("container %s has no mount at %s: %+v", c.Name, target, c.Mounts)
	return
}

// jsonLines decodes one JSON object per line.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var m map[string]any
		assert.NilError(t, json.Unmarshal([]byte(line), &m), "line %q", line)
		out = append(out, m)
	}
	return out
}
