package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"
)

// ensure, ls, stop and rm through a TCP+TLS context and an SSH context. The
// engine behind both is on this machine, so what it makes on "its host" can
// be seen here.
func TestRemoteContexts(t *testing.T) {
	for _, ctx := range []string{"tls", "ssh"} {
		t.Run(ctx, func(t *testing.T) {
			requireEngine(t, ctx)
			h := newHarness(t)
			a, b := h.subdir("-a"), h.subdir("-b")+"/nested"
			engineDir := t.TempDir() // a directory "of the engine's host"
			root, shared := filepath.Join(engineDir, "workspaces"), filepath.Join(engineDir, "shared")

			// The caller's default paths mean nothing on another host.
			h.docker("--context", ctx, "workspace", "ensure", a).Assert(t, icmd.Expected{ExitCode: 125,
				Err: `bind mode on a remote engine (context "` + ctx + `", ` + env.hostByCtx[ctx] + `) needs --workspace-root and --shared-dir`})
			h.docker("--context", ctx, "workspace", "ensure", "--workspace-root", "relative", "--shared-dir", shared, a).
				Assert(t, icmd.Expected{ExitCode: 125, Err: "must be absolute"})

			res := h.docker("--context", ctx, "workspace", "ensure", "--workspace-root", root, "--shared-dir", shared, "--format", "{{.ID}} {{.Action}}", a, b)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Equal(strings.Count(res.Stderr(), "are directories of the engine's host"), 1), "the warning is not said once: %q", res.Stderr())
			lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
			assert.Assert(t, is.Len(lines, 2))
			id, action, _ := strings.Cut(lines[0], " ")
			assert.Check(t, is.Equal(action, "created"))
			assert.Check(t, is.Equal(h.inspect("modern", containerName(a)).ID, id))

			// Made on the engine's side, for the image's user (agent).
			for _, dir := range []string{filepath.Join(root, a), filepath.Join(root, b), shared} {
				fi, err := os.Stat(dir)
				assert.Assert(t, err, "the engine did not create %s", dir)
				assert.Check(t, is.Equal(ownerOf(t, fi), "1000:1000"), dir)
			}
			h.docker("exec", containerName(b), "sh", "-c", "echo hi > /home/agent/workspace/f").Assert(t, icmd.Success)
			got, err := os.ReadFile(filepath.Join(root, b, "f"))
			assert.NilError(t, err)
			assert.Check(t, is.Equal(string(got), "hi\n"))

			ls := h.docker("--context", ctx, "workspace", "ls", "--format", "{{.Subdir}} {{.State}}").Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Contains(ls, a+" running\n"))
			h.docker("--context", ctx, "workspace", "stop", "-t", "1", a).Assert(t, icmd.Expected{Out: a})
			assert.Check(t, is.Equal(h.inspect("modern", containerName(a)).State.Status, "exited"))
			h.docker("--context", ctx, "workspace", "rm", "-f", a, b).Assert(t, icmd.Expected{Out: a + "\n" + b})
			assert.Check(t, !h.exists("modern", containerName(a)))
			_, err = os.Stat(filepath.Join(root, b, "f"))
			assert.Check(t, err, "rm removed data")

			// volume_subpath through the remote context.
			wsVol, shVol := h.volume("modern", "ws"), h.volume("modern", "sh")
			h.docker("--context", ctx, "workspace", "ensure", "--mount-mode", "volume_subpath", "--workspace-volume", wsVol, "--shared-volume", shVol, a).
				Assert(t, icmd.Success)
			h.docker("exec", containerName(a), "touch", "/home/agent/workspace/x").Assert(t, icmd.Success)
		})
	}
}

// writeCert writes a certificate (self-signed when parent is nil) and its key.
func writeCert(t *testing.T, dir, name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.NilError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	assert.NilError(t, err)
	cert, err := x509.ParseCertificate(der)
	assert.NilError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return cert, key
}

// Wrong certificates and unreachable endpoints: one line that names the
// context, its endpoint and what to look at; exit 1.
func TestRemoteFailures(t *testing.T) {
	requireEngine(t, "tls")
	h := newHarness(t)
	bad := t.TempDir()
	ca, caKey := writeCert(t, bad, "ca", true, nil, nil) // a CA the engine does not know
	writeCert(t, bad, "client", false, ca, caKey)        // a client certificate it signed
	good := env.tlsDir
	tlsHost := env.hostByCtx["tls"]
	for _, tc := range []struct{ name, host, want string }{
		{"untrusted-server", tlsHost + ",ca=" + bad + "/ca.pem,cert=" + good + "/cert.pem,key=" + good + "/key.pem",
			"its TLS certificate is not trusted (x509: certificate signed by unknown authority): check the context's CA"},
		{"refused-client", tlsHost + ",ca=" + good + "/ca.pem,cert=" + bad + "/client.pem,key=" + bad + "/client-key.pem",
			"it refused the client's TLS certificate"},
		{"no-tls", tlsHost, "the engine speaks TLS and the context has no TLS settings"},
		{"closed-port", "tcp://127.0.0.1:1", "is it running?"},
		{"ssh-closed-port", "ssh://root@127.0.0.1:1", "ssh failed: ssh: connect to host 127.0.0.1 port 1: Connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "e2e-" + tc.name + "-" + h.id
			h.docker("context", "create", name, "--docker", "host="+tc.host).Assert(t, icmd.Success)
			t.Cleanup(func() { h.docker("context", "rm", "-f", name) })
			endpoint, _, _ := strings.Cut(tc.host, ",")
			want := `cannot connect to the Docker engine of context "` + name + `" at ` + endpoint + ": " + tc.want
			for _, args := range [][]string{
				{"ensure", "--workspace-root", "/srv/w", "--shared-dir", "/srv/s", "a"}, {"ls"}, {"stop", "a"}, {"rm", "a"},
			} {
				start := time.Now()
				res := h.docker(append([]string{"--context", name, "workspace"}, args...)...)
				res.Assert(t, icmd.Expected{ExitCode: 1, Out: ""})
				assert.Check(t, is.Equal(strings.Count(strings.TrimSpace(res.Stderr()), "\n"), 0), "not one line: %q", res.Stderr())
				assert.Check(t, is.Contains(res.Stderr(), want), "%v", args)
				t.Logf("%s %s: failed in %s", name, args[0], time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

func TestDoctor(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	out := h.ws("doctor").Assert(t, icmd.Success).Stdout()
	for _, want := range []string{"Context:", "modern", "Endpoint:", env.hostByCtx["modern"] + " (local)", "API " + env.apiByCtx["modern"],
		"Mode bind:", "Mode volume_subpath:", "Image:", image + ": present", "Workspace root:", "Result:", "ok"} {
		assert.Check(t, is.Contains(out, want))
	}

	var rep struct {
		Context, Endpoint string
		Local, OK         bool
		Mode              string
		Engine            struct{ APIVersion string }
		Modes             map[string]struct {
			Supported bool
			Reason    string
		}
		Image struct {
			Ref     string
			Present bool
		}
		Sources []struct {
			Kind, Name string
			Exists     *bool
		}
		Problems []string
		Error    string
	}
	decode := func(res *icmd.Result) {
		t.Helper()
		rep.Sources, rep.Problems = nil, nil
		assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &rep), res.Stdout())
	}

	if api := env.apiByCtx["legacy"]; api != "" || os.Getenv("CI") == "true" {
		requireEngine(t, "legacy")
		res := h.docker("--context", "legacy", "workspace", "doctor", "--format", "json", "--mount-mode", "volume_subpath",
			"--workspace-volume", "w-"+h.id, "--shared-volume", "s-"+h.id)
		res.Assert(t, icmd.Expected{ExitCode: 1, Err: "volume_subpath mode needs Docker Engine API 1.45 or later (Engine 26+), but this engine speaks API 1.41"})
		decode(res)
		assert.Check(t, !rep.OK)
		assert.Check(t, !rep.Modes["volume_subpath"].Supported)
		assert.Check(t, rep.Modes["bind"].Supported)
		assert.Check(t, is.Equal(rep.Engine.APIVersion, "1.41"))
		assert.Check(t, is.Len(rep.Problems, 1))
	}

	if env.apiByCtx["tls"] != "" || os.Getenv("CI") == "true" {
		requireEngine(t, "tls")
		present := fs.NewDir(t, "root")
		res := h.docker("--context", "tls", "workspace", "doctor", "--format", "json", "--workspace-root", present.Path(), "--shared-dir", "/nonexistent/"+h.id)
		res.Assert(t, icmd.Success)
		decode(res)
		assert.Check(t, rep.OK)
		assert.Check(t, !rep.Local)
		assert.Check(t, is.Equal(rep.Endpoint, env.hostByCtx["tls"]))
		assert.Assert(t, is.Len(rep.Sources, 2))
		assert.Check(t, rep.Sources[0].Exists != nil && *rep.Sources[0].Exists, "the engine does not see %s", present.Path())
		assert.Check(t, rep.Sources[1].Exists != nil && !*rep.Sources[1].Exists)
		leftover := h.docker("ps", "-aq", "--filter", "label=docker-workspace.helper").Stdout()
		assert.Check(t, is.Equal(leftover, ""), "doctor left a helper container")
	}

	// An unreachable engine, and a missing image that may not be pulled.
	res := h.withEnv("DOCKER_HOST=unix:///nonexistent.sock").ws("doctor", "--format", "json")
	res.Assert(t, icmd.Expected{ExitCode: 1})
	decode(res)
	assert.Check(t, is.Contains(rep.Error, "cannot connect to the Docker engine"))
	h.ws("doctor", "--image", "e2e/missing:"+h.id, "--pull", "never").Assert(t, icmd.Expected{ExitCode: 1, Out: "not on the engine"})
}

// The binary run on its own: same commands, output and exit codes, the
// docker CLI's global options, environment and config.
func TestStandalone(t *testing.T) {
	requireEngine(t, "modern")
	requireEngine(t, "legacy")
	h := newHarness(t)
	bin := filepath.Join(env.configDir, "plugins", "docker-workspace")
	run := func(extraEnv []string, args ...string) *icmd.Result {
		return icmd.RunCmd(icmd.Command(bin, args...), icmd.WithEnv(append(append([]string{}, h.env...), extraEnv...)...))
	}
	s := h.subdir("")
	withConfig := []string{"DOCKER_CONFIG=" + env.configDir}

	// DOCKER_CONFIG: its current context (modern) and contexts.
	id := strings.TrimSpace(run(withConfig, "ensure", s).Assert(t, icmd.Success).Stdout())
	assert.Check(t, is.Equal(h.inspect("modern", containerName(s)).ID, id))
	// Same output as the plugin.
	plugin := h.ws("ls", "--format", "{{.Subdir}} {{.ID}}").Assert(t, icmd.Success).Stdout()
	standalone := run(withConfig, "ls", "--format", "{{.Subdir}} {{.ID}}").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Equal(standalone, plugin))
	// --version, on its own and as a plugin (issue 22, Low).
	standalone = run(withConfig, "--version").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Equal(standalone, h.ws("--version").Assert(t, icmd.Success).Stdout()))
	assert.Check(t, strings.HasPrefix(standalone, "docker-workspace version "), standalone)

	// --config, --context, -H, DOCKER_CONTEXT, DOCKER_HOST.
	legacy := env.hostByCtx["legacy"]
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{args: []string{"--config", env.configDir, "--context", "legacy"}},
		{env: withConfig, args: []string{"-H", legacy}},
		{env: append([]string{"DOCKER_CONTEXT=legacy"}, withConfig...)},
		{env: []string{"DOCKER_HOST=" + legacy}},
	} {
		res := run(tc.env, append(append([]string{}, tc.args...), "ensure", "--format", "{{.Action}}", s)...)
		res.Assert(t, icmd.Success)
		assert.Check(t, h.exists("legacy", containerName(s)), "%v %v", tc.env, tc.args)
		h.docker("--context", "legacy", "rm", "-f", containerName(s)).Assert(t, icmd.Success)
	}

	// The config.json of the docker CLI: plugins.workspace.
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"plugins":{"workspace":{"image":"e2e/none:`+h.id+`","pull":"never"}}}`), 0o600))
	run([]string{"DOCKER_CONFIG=" + dir}, "ensure", h.subdir("-cfg")).Assert(t, icmd.Expected{ExitCode: 1, Err: "image e2e/none:" + h.id + " is not on the engine"})

	// Exit codes and usage as the plugin's.
	run(withConfig, "bogus").Assert(t, icmd.Expected{ExitCode: 1, Err: "'bogus' is not a docker-workspace command"})
	run(withConfig, "ensure").Assert(t, icmd.Expected{ExitCode: 1, Err: "requires at least 1 argument"})
	run(withConfig, "ensure", "../x").Assert(t, icmd.Expected{ExitCode: 125, Err: `invalid workspace subdir "../x"`})
	run([]string{"DOCKER_HOST=unix:///nonexistent.sock"}, "ls").Assert(t, icmd.Expected{ExitCode: 1,
		Err: `cannot connect to the Docker engine of context "default" at unix:///nonexistent.sock: is it running?`})
	run(withConfig, "version").Assert(t, icmd.Expected{Out: "docker-workspace version"})
}

func TestListAllContexts(t *testing.T) {
	requireEngine(t, "modern")
	requireEngine(t, "legacy")
	h := newHarness(t)
	a, b := h.subdir("-a"), h.subdir("-b")
	h.ws("ensure", a).Assert(t, icmd.Success)
	h.docker("--context", "legacy", "workspace", "ensure", b).Assert(t, icmd.Success)
	nowhere := "e2e-nowhere-" + h.id
	h.docker("context", "create", nowhere, "--docker", "host=unix:///nonexistent/"+h.id+".sock").Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("context", "rm", "-f", nowhere) })

	res := h.ws("ls", "--all-contexts", "--format", "{{.Context}} {{.Subdir}}")
	res.Assert(t, icmd.Success)
	// Each engine once, with the contexts that reach it.
	assert.Check(t, is.Contains(res.Stdout(), "default,modern,ssh,tls "+a+"\n"))
	assert.Check(t, is.Contains(res.Stdout(), "legacy "+b+"\n"))
	assert.Check(t, is.Equal(strings.Count(res.Stdout(), a), 1))
	assert.Check(t, is.Contains(res.Stderr(), `context "`+nowhere+`"`))

	table := h.ws("ls", "--all-contexts").Assert(t, icmd.Success).Stdout()
	assert.Check(t, strings.HasPrefix(table, "CONTEXT"), table)
}
