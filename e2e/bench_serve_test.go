package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
	"github.com/docker-workspace/docker-workspace/sandbox/server"
)

// BenchmarkServe measures the server against what it stands for, round by
// round, interleaved: a warm ensure through it against the library's warm
// Ensure plus one HTTP round trip on a unix socket (a handler that answers
// at once), and a buffered exec of `true` through it against `docker exec`.
// scripts/bench-serve.sh runs it.
func BenchmarkServe(b *testing.B) {
	c, base := benchEngine(b)
	ctx := context.Background()
	subdir := fmt.Sprintf("bench-serve-%d", os.Getpid())
	defer func() {
		_ = c.ContainerRemove(ctx, sandbox.ContainerName(subdir), container.RemoveOptions{Force: true})
	}()
	cfg := sandbox.Config{Image: image, Mode: sandbox.ModeBind, Init: true, CreateHostDirs: true,
		WorkspaceRoot: filepath.Join(base, "ws"), SharedDir: filepath.Join(base, "sh")}
	m := engine.New(c, engine.Options{Local: true})
	if _, err := m.Ensure(ctx, subdir, cfg); err != nil {
		b.Fatal(err)
	}
	const secret = "bench-secret-0123456789"
	tokens, err := server.NewTokens([]server.TokenSpec{{Name: "bench", Secret: secret, Workspaces: []string{"**"}, Verbs: []string{"*"}}},
		func(map[string]any) (sandbox.Config, error) { return cfg, nil })
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(server.Options{Orchestrator: m, Engine: func(sandbox.Location) (server.EngineClient, error) { return c, nil }}, tokens)
	apiSock, rttSock := filepath.Join(base, "api.sock"), filepath.Join(base, "rtt.sock")
	serveOn(b, apiSock, srv)
	serveOn(b, rttSock, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	cl, err := api.NewClient("unix://"+apiSock, secret, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	rtt := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", rttSock)
	}}}
	defer rtt.CloseIdleConnections()

	var lib, trip, viaServer, execServer, execDocker []float64
	timed := func(into *[]float64, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, float64(time.Since(start).Microseconds())/1000)
	}
	dockerExec := exec.Command("docker", "exec", sandbox.ContainerName(subdir), "true")
	for i := 0; i < b.N+1; i++ {
		timed(&lib, func() error { _, err := m.Ensure(ctx, subdir, cfg); return err })
		timed(&trip, func() error {
			resp, err := rtt.Get("http://x/")
			if err == nil {
				resp.Body.Close()
			}
			return err
		})
		timed(&viaServer, func() error { _, err := cl.Ensure(ctx, subdir); return err })
		timed(&execServer, func() error {
			res, err := cl.Exec(ctx, subdir, api.ExecRequest{Cmd: []string{"true"}})
			if err == nil && res.ExitCode != 0 {
				err = fmt.Errorf("exit %d", res.ExitCode)
			}
			return err
		})
		timed(&execDocker, func() error {
			cmd := *dockerExec
			cmd.Env = append(os.Environ(), "DOCKER_HOST="+env.hostByCtx["modern"])
			return cmd.Run()
		})
		if i == 0 { // one of each first, not counted: caches warm
			lib, trip, viaServer, execServer, execDocker = nil, nil, nil, nil, nil
		}
	}
	ml, mt, ms := median(lib), median(trip), median(viaServer)
	me, md := median(execServer), median(execDocker)
	b.ReportMetric(ml, "lib-ensure-ms")
	b.ReportMetric(mt, "http-rtt-ms")
	b.ReportMetric(ms, "serve-ensure-ms")
	b.ReportMetric(ms/(ml+mt), "ensure-ratio")
	b.ReportMetric(me, "serve-exec-ms")
	b.ReportMetric(md, "docker-exec-ms")
	b.ReportMetric(me/md, "exec-ratio")
}

// serveOn serves h on a unix socket until the benchmark ends.
func serveOn(b *testing.B, sock string, h http.Handler) {
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	b.Cleanup(func() { _ = hs.Close() })
}
