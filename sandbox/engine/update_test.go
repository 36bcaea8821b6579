package engine

import (
	"context"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

func ptr64(v int64) *int64 { return &v }

// update changes a running container's limits live (same container, no
// restart), and drift then compares with the limits it has now: ensure
// with the new limits finds none, with the old ones finds "limits".
func TestUpdateIsLiveAndDriftFollows(t *testing.T) {
	ctx := context.Background()
	f := sandboxtest.NewEngine()
	m := newManager(f)
	cfg := volumeConfig()
	cfg.Memory = 64 << 20
	res, err := m.Ensure(ctx, "a", cfg)
	assert.NilError(t, err)
	w := resolve1(t, m, "a")
	f.CallLog = nil
	assert.NilError(t, m.Update(ctx, w, sandbox.Limits{Memory: ptr64(128 << 20), PidsLimit: ptr64(100)}))
	assert.Check(t, is.Equal(f.Calls(), "update:gws-a"), "no restart, no other call")
	c := f.Ctrs[res.ID]
	assert.Check(t, is.Equal(c.HC.Memory, int64(128<<20)))
	assert.Check(t, is.Equal(c.HC.MemorySwap, int64(256<<20)))
	assert.Check(t, is.Equal(*c.HC.PidsLimit, int64(100)))

	updated := cfg
	updated.Memory, updated.PidsLimit = 128<<20, 100
	again, err := m.Ensure(ctx, "a", updated)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again.ID, res.ID))
	assert.Check(t, is.Len(again.Drift, 0), "the limits it has now are the configuration's")
	old, err := m.Ensure(ctx, "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(old.Drift, []string{"limits"}))

	ws, err := m.List(ctx)
	assert.NilError(t, err)
	assert.NilError(t, m.CheckDrift(ctx, ws, &updated))
	assert.Check(t, is.Len(ws[0].Drift, 0), "ls --check-config: %v", ws[0].Drift)
	assert.NilError(t, m.CheckDrift(ctx, ws, &cfg))
	assert.Check(t, is.DeepEqual(ws[0].Drift, []string{"limits"}))
}

// A limit the engine's kernel cannot apply, or one the engine would take as
// "no change", is refused before anything changes; a gone container is no
// such workspace.
func TestUpdateRefusals(t *testing.T) {
	ctx := context.Background()
	f := sandboxtest.NewEngine()
	m := newManager(f)
	_, err := m.Ensure(ctx, "a", volumeConfig())
	assert.NilError(t, err)
	w := resolve1(t, m, "a")
	for _, tc := range []struct {
		l   sandbox.Limits
		err string
	}{
		{sandbox.Limits{}, "no limit to change"},
		{sandbox.Limits{NanoCPUs: ptr64(0)}, "cpus must be more than 0"},
		{sandbox.Limits{Memory: ptr64(1 << 20)}, "memory must be at least 6MiB"},
		{sandbox.Limits{PidsLimit: ptr64(-1)}, "pids-limit must not be negative"},
	} {
		err := m.Update(ctx, w, tc.l)
		assert.Check(t, is.ErrorContains(err, tc.err))
		assert.Check(t, is.ErrorIs(err, sandbox.ErrInvalidConfig))
	}
	f.NoCgroupLimits = true
	f.CallLog = nil
	err = m.Update(ctx, w, sandbox.Limits{Memory: ptr64(64 << 20)})
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotSupported))
	assert.Check(t, is.ErrorContains(err, "cannot apply a memory limit"))
	assert.Check(t, !is.Contains(f.Calls(), "update:")().Success(), f.Calls())
	f.NoCgroupLimits = false
	f.Mu.Lock()
	delete(f.Ctrs, w.ID)
	f.Mu.Unlock()
	assert.Check(t, is.ErrorIs(m.Update(ctx, w, sandbox.Limits{PidsLimit: ptr64(10)}), sandbox.ErrNoSuchWorkspace))
}
