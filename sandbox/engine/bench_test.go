package engine

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// BenchmarkEnsureWarm measures an Ensure of a running container and reports
// its API round trips (calls/op), which must stay at one inspect.
func BenchmarkEnsureWarm(b *testing.B) {
	cfg := sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeVolumeSubpath, WorkspaceVolume: "ws", SharedVolume: "sh"}
	f := sandboxtest.NewEngine()
	ours(f, "team/alice", cfg, container.StateRunning)
	m := newManager(f)
	f.CallLog = nil
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Ensure(ctx, "team/alice", cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(f.CallLog))/float64(b.N), "calls/op")
}

// BenchmarkEnsureCold measures the creation of a container in bind mode,
// with the image's user named (its /etc/passwd read from the new container):
// inspect, image inspect, create (temporary name), list, copy of
// /etc/passwd, rename, start.
func BenchmarkEnsureCold(b *testing.B) {
	root := b.TempDir()
	cfg := sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeBind, CreateHostDirs: true, WorkspaceRoot: root + "/ws", SharedDir: root + "/sh"}
	f := sandboxtest.NewEngine()
	m := newManager(f)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Ensure(ctx, "team/alice", cfg); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Mu.Lock()
		clear(f.Ctrs)
		f.Mu.Unlock()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(f.CallLog))/float64(b.N), "calls/op")
}
