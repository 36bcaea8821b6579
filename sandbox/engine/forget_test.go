package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// A workspace whose container was removed is still recorded, and refuses
// one above it; Forget takes the record back, never the data (issue 22,
// 10). One that has a container is refused.
func TestForget(t *testing.T) {
	cfg := bindConfig(t)
	f := sandboxtest.NewEngine()
	m := newManager(f)
	_, err := m.Ensure(context.Background(), "parent/child", cfg)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(cfg.WorkspaceRoot, "parent", "child", "data"), []byte("kept"), 0o644))
	err = m.Forget(context.Background(), "parent/child", cfg)
	assert.Check(t, is.ErrorContains(err, "its container gws-parent-child exists: remove it first"))
	assert.NilError(t, f.ContainerRemove(context.Background(), "gws-parent-child", container.RemoveOptions{Force: true}))
	_, err = m.Ensure(context.Background(), "parent", cfg)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))

	assert.NilError(t, m.Forget(context.Background(), "parent/child", cfg))
	b, err := os.ReadFile(filepath.Join(cfg.WorkspaceRoot, "parent", "child", "data"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "kept"))
	_, err = m.Ensure(context.Background(), "parent", cfg)
	assert.NilError(t, err)
	// What is not recorded (forgotten already, another root, a container
	// name) is nothing to forget: said, never "forgotten".
	assert.Check(t, is.ErrorIs(m.Forget(context.Background(), "parent/child", cfg), sandbox.ErrNothingToForget))
	assert.Check(t, is.ErrorIs(m.Forget(context.Background(), "gws-parent", cfg), sandbox.ErrNothingToForget))

	// In a volume: the record emptied.
	f = sandboxtest.NewEngine()
	f.FS["ws"] = sandboxtest.NewMemFS()
	m = newManager(f)
	_, err = m.Ensure(context.Background(), "a/b", volumeConfig())
	assert.NilError(t, err)
	assert.NilError(t, f.ContainerRemove(context.Background(), "gws-a-b", container.RemoveOptions{Force: true}))
	assert.NilError(t, m.Forget(context.Background(), "a/b", volumeConfig()))
	name, _ := claims.RecordFor("a/b")
	assert.Check(t, is.Equal(f.FS["ws"].Entries[claims.RegistryPath+"/"+name].Data, ""))
	_, err = m.Ensure(context.Background(), "a", volumeConfig())
	assert.NilError(t, err)
	assert.Check(t, is.ErrorIs(m.Forget(context.Background(), "never", volumeConfig()), sandbox.ErrNothingToForget))
}
