package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
)

// BenchmarkCold compares a cold Ensure (bind mode, local engine, the image's
// named user) with what `docker run -d` asks of the engine for the same
// container: ContainerCreate and ContainerStart, the directory made
// beforehand, each round one of each. scripts/bench-cold.sh compares the
// commands themselves.
func BenchmarkCold(b *testing.B) {
	c, base := benchEngine(b)
	ctx := context.Background()
	tag := fmt.Sprintf("bench%d", os.Getpid())
	defer func() {
		list, _ := c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", tag))})
		for _, ctr := range list {
			_ = c.ContainerRemove(ctx, ctr.ID, container.RemoveOptions{Force: true})
		}
	}()
	root, shared := filepath.Join(base, "workspaces"), filepath.Join(base, "shared")
	cfg := sandbox.Config{
		Image: image, Mode: sandbox.ModeBind, Init: true, CreateHostDirs: true, WorkspaceRoot: root, SharedDir: shared,
	}
	m := engine.New(c, engine.Options{})
	init := true
	createStart := func(n int) {
		dir := filepath.Join(root, fmt.Sprintf("%s-r%d", tag, n))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		resp, err := c.ContainerCreate(ctx,
			&container.Config{Image: image, Entrypoint: []string{"sleep", "infinity"}},
			&container.HostConfig{Init: &init, Mounts: []mount.Mount{
				{Type: mount.TypeBind, Source: dir, Target: sandbox.WorkspaceTarget},
				{Type: mount.TypeBind, Source: shared, Target: sandbox.SharedTarget},
			}}, nil, nil, strings.TrimPrefix(filepath.Base(dir), "/"))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	// Interleaved, so that the engine's drift weighs on both alike; the
	// medians and their ratio are reported.
	var ensure, direct []float64
	n := 0
	for b.Loop() {
		n++
		t0 := time.Now()
		if _, err := m.Ensure(ctx, fmt.Sprintf("%s-e%d", tag, n), cfg); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		createStart(n)
		ensure, direct = append(ensure, float64(t1.Sub(t0).Microseconds())/1000), append(direct, float64(time.Since(t1).Microseconds())/1000)
	}
	me, md := median(ensure), median(direct)
	b.ReportMetric(me, "ensure-ms")
	b.ReportMetric(md, "create+start-ms")
	b.ReportMetric(me/md, "ratio")
}

// benchEngine is a client of the modern engine and a directory of the
// benchmark's own, both gone when it ends.
func benchEngine(b *testing.B) (*client.Client, string) {
	if env.apiByCtx["modern"] == "" {
		b.Skip("the modern engine does not answer")
	}
	c, err := client.NewClientWithOpts(client.WithHost(env.hostByCtx["modern"]), client.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	base, err := os.MkdirTemp("", "bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(base) })
	return c, base
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
