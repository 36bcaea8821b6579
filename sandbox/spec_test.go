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
