package sandbox

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"
)

// BenchmarkEnsureWarm measures an Ensure of a running container and reports
// its API round trips (calls/op), which must stay at one inspect.
func BenchmarkEnsureWarm(b *testing.B) {
	cfg := Config{Image: DefaultImage, Mode: ModeVolumeSubpath, WorkspaceVolume: "ws", SharedVolume: "sh"}
	f := engine(states(ptr(ours("team/alice", cfg, container.StateRunning))))
	m := NewManager(f)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Ensure(ctx, "team/alice", cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(f.calls))/float64(b.N), "calls/op")
}

// BenchmarkEnsureCold measures the creation of a container in bind mode,
// with the image's user named (its /etc/passwd read from the new container):
// inspect, image inspect, create (temporary name), list, copy of
// /etc/passwd, rename, start.
func BenchmarkEnsureCold(b *testing.B) {
	root := b.TempDir()
	cfg := Config{Image: DefaultImage, Mode: ModeBind, CreateHostDirs: true, WorkspaceRoot: root + "/ws", SharedDir: root + "/sh"}
	f := newFakeEngine()
	m := NewManager(f)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Ensure(ctx, "team/alice", cfg); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.mu.Lock()
		clear(f.ctrs)
		f.mu.Unlock()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(f.calls))/float64(b.N), "calls/op")
}
