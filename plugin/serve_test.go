package plugin

import (
	"context"
	"testing"

	"github.com/spf13/pflag"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// A token's configuration is read as config.json's keys are, JSON
// booleans, numbers and arrays included; an unknown key or a bad value
// refuses it, naming the key.
func TestTokenConfig(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	b, err := newBackend(c, pflag.NewFlagSet("serve", pflag.ContinueOnError), "test")
	assert.NilError(t, err)
	configFor := tokenConfig(context.Background(), c, b)

	cfg, err := configFor(map[string]any{
		"mount-mode": "volume_subpath", "workspace-volume": "ws", "shared-volume": "sh",
		"read-only": true, "pids-limit": float64(100), "cap-drop": []any{"ALL"}, "egress": "none",
	})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(cfg.Mode, sandbox.ModeVolumeSubpath))
	assert.Check(t, cfg.ReadOnly)
	assert.Check(t, is.Equal(cfg.PidsLimit, int64(100)))
	assert.Check(t, is.DeepEqual(cfg.CapDrop, []string{"ALL"}))

	for keys, want := range map[string]map[string]any{
		`unknown key "privileged"`:      {"privileged": true},
		`key "pids-limit"`:              {"pids-limit": "many"},
		`a string, a boolean, a number`: {"image": map[string]any{"x": 1}},
		`invalid mount mode "sideways"`: {"mount-mode": "sideways"},
		`network host is the network`:   {"network": "host"},
	} {
		_, err := configFor(want)
		assert.Check(t, is.ErrorContains(err, keys))
	}
}
