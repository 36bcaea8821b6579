package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// The labels of a workspace record the names of its variables, never a
// hash of their values (issue 17, Low: an unsalted sha256 of
// API_TOKEN=4821 comes back by trying every value); a changed value is
// told from the container's own environment.
func TestSpecRecordsNoEnvValues(t *testing.T) {
	cfg := Config{Image: DefaultImage, Mode: ModeVolumeSubpath, WorkspaceVolume: "ws", SharedVolume: "sh", Env: []string{"API_TOKEN=4821", "A=b"}}
	s := SpecFor("a", cfg, "sha256:img")
	assert.Check(t, is.DeepEqual(s.EnvKeys, []string{"A", "API_TOKEN"}))
	for _, secret := range []string{"4821", "API_TOKEN=4821"} {
		sum := sha256.Sum256([]byte(secret))
		assert.Check(t, !strings.Contains(s.JSON(), secret), s.JSON())
		assert.Check(t, !strings.Contains(s.JSON(), hex.EncodeToString(sum[:])))
	}
	labels := map[string]string{LabelConfig: s.JSON(), LabelConfigHash: s.Hash()}

	// Same names, another value: the labels match, the environment not.
	changed := cfg
	changed.Env = []string{"API_TOKEN=4822", "A=b"}
	d := Drift(labels, SpecFor("a", changed, "sha256:img"))
	assert.Check(t, is.Len(d, 0))
	have := append([]string{"PATH=/bin"}, cfg.Env...)
	assert.Check(t, is.DeepEqual(DriftEnv(d, have, changed.Env), []string{"env"}))
	assert.Check(t, is.Len(DriftEnv(d, have, cfg.Env), 0))
	// A name more: the labels tell.
	more := cfg
	more.Env = append([]string{"X=1"}, cfg.Env...)
	assert.Check(t, is.DeepEqual(DriftEnv(Drift(labels, SpecFor("a", more, "sha256:img")), have, more.Env), []string{"env"}))
}

// A bind-mode container's "mounts" follow the directories it mounts now and
// those wanted as they resolve now, not the text of the root (issue 22,
// pass 16): the real path of a symlinked root is no drift, a symlink turned
// elsewhere is one, even when the recorded text is unchanged.
func TestDriftBindFollowsTheDirectories(t *testing.T) {
	cfg := Config{Image: DefaultImage, Mode: ModeBind, WorkspaceRoot: "/srv/link", SharedDir: "/srv/shared"}
	labels := func(c Config) map[string]string {
		s := SpecFor("a", c, "sha256:img")
		return map[string]string{LabelConfig: s.JSON(), LabelConfigHash: s.Hash()}
	}
	real := cfg
	real.WorkspaceRoot = "/srv/real"
	other := cfg
	other.WorkspaceRoot = "/srv/other"
	mounted := BindSources{Workspace: "/srv/real/a", Shared: "/srv/shared"}
	for _, tc := range []struct {
		name     string
		recorded Config // the root as the container's labels recorded it
		want     Config // the root as it resolves now
		drift    []string
	}{
		{name: "the same directory, recorded by its link", recorded: cfg, want: real},
		{name: "the same directory, recorded by its path", recorded: real, want: real},
		{name: "the link turned elsewhere", recorded: real, want: other, drift: []string{"mounts"}},
		{name: "the link turned elsewhere, recorded by its link", recorded: cfg, want: other, drift: []string{"mounts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := labels(tc.recorded)
			want := SpecFor("a", tc.want, "sha256:img")
			got := DriftBind(Drift(l, want), l, mounted, want)
			assert.Check(t, is.DeepEqual(got, tc.drift))
		})
	}
	// Something else about the mounts still differs.
	ro := real
	ro.SharedDir = "/srv/shared2"
	want := SpecFor("a", ro, "sha256:img")
	l := labels(real)
	assert.Check(t, is.DeepEqual(DriftBind(Drift(l, want), l, mounted, want), []string{"mounts"}))
	// Volume mode is not this rule's.
	vol := Config{Image: DefaultImage, Mode: ModeVolumeSubpath, WorkspaceVolume: "ws", SharedVolume: "sh"}
	vs := SpecFor("a", vol, "sha256:img")
	assert.Check(t, is.Nil(DriftBind(nil, labels(vol), mounted, vs)))
}
