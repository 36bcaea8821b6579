package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// Network isolation and egress, against a fake internet on each engine: a
// test network (internal: nothing leaves the machine) holding an HTTPS
// origin for allowed.test, api.allowed.test, denied.test and other.test (a
// test CA's certificate), a DNS server that logs every query (the canary:
// a name that leaks shows there) and listeners. The egress proxies reach
// out through that network, and resolve names with that DNS server. The
// workspaces run the probe (e2e/fakenet) in an image of their own.
//
// Engine 28.5 is the modern engine; Engine 20.10 is sw4's, a daemon in a
// network namespace of its own (the legacy engine runs without iptables,
// and its bridges carry no traffic between containers).
var egressEngines = []string{"modern", "sw4"}

// fakenetBin is the probe and fake internet program, built once.
var fakenetBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "e2e-fakenet-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fakenet")
	cmd := exec.Command("go", "build", "-o", bin, "./fakenet")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build fakenet: %w: %s", err, out)
	}
	return bin, nil
})

// egressRig is the fake internet on one engine, and the images of the
// test: the fake internet's and the workspaces' (the workspace image, and
// the probe with the test CA).
type egressRig struct {
	h                        *harness
	ctx                      string
	net, subnet              string
	originIP, dnsIP, sinkIP  string
	gateway                  string // the network's gateway, when the rig was asked
	fakenetImage, probeImage string
	dns                      string // the DNS server's container
}

func newEgressRig(t *testing.T, h *harness, ctx string) *egressRig {
	t.Helper()
	return newEgressRigOn(t, h, ctx, "", "")
}

// laterSubnet is a public-range subnet the test host gets only later in a
// test (a network made then): later.test names its gateway.
func laterSubnet(h *harness) (subnet, gateway string) {
	third := strconv.Itoa(int(h.id[1]) % 200)
	return "44.78." + third + ".0/24", "44.78." + third + ".1"
}

// newEgressRigOn is a rig whose fake internet has the subnet given (""
// the engine's choice), and whose DNS server answers hostName (if any)
// with the network's gateway (the subnet's first address): an address of
// the engine's host.
func newEgressRigOn(t *testing.T, h *harness, ctx, subnet, hostName string) *egressRig {
	t.Helper()
	requireEngine(t, ctx)
	bin, err := fakenetBin()
	assert.NilError(t, err)
	r := &egressRig{h: h, ctx: ctx, net: "e2e-fakenet-" + h.id, fakenetImage: "e2e/fakenet:" + h.id, probeImage: "e2e/probe:" + h.id}
	dir := t.TempDir()
	writeTestCerts(t, dir, "allowed.test", "api.allowed.test", "denied.test", "other.test", "lan.test")
	data, err := os.ReadFile(bin)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "fakenet"), data, 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile.fakenet"), []byte(
		"FROM scratch\nCOPY fakenet /fakenet\nCOPY ca.pem cert.pem key.pem /etc/fakenet/\nENTRYPOINT [\"/fakenet\"]\n"), 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile.probe"), []byte(
		"FROM "+image+"\nCOPY fakenet /usr/local/bin/probe\nCOPY ca.pem /etc/fakenet/ca.pem\n"), 0o644))
	d := h.withEnv("DOCKER_BUILDKIT=0")
	d.docker("--context", ctx, "build", "-q", "-f", filepath.Join(dir, "Dockerfile.fakenet"), "-t", r.fakenetImage, dir).Assert(t, icmd.Success)
	d.docker("--context", ctx, "build", "-q", "-f", filepath.Join(dir, "Dockerfile.probe"), "-t", r.probeImage, dir).Assert(t, icmd.Success)
	t.Cleanup(func() { h.docker("--context", ctx, "rmi", "-f", r.fakenetImage, r.probeImage) })

	create := []string{"network", "create", "--internal", r.net}
	if subnet != "" {
		r.gateway = netip.MustParsePrefix(subnet).Masked().Addr().Next().String()
		create = append(create, "--subnet", subnet, "--gateway", r.gateway)
	}
	r.docker(create...).Assert(t, icmd.Success)
	t.Cleanup(func() {
		// Once the proxies that went out through it have left it.
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if res := r.docker("network", "rm", r.net); res.ExitCode != 0 && !strings.Contains(res.Stderr(), "not found") {
				return poll.Continue("network %s: %s", r.net, res.Stderr())
			}
			return poll.Success()
		}, poll.WithTimeout(30*time.Second), poll.WithDelay(500*time.Millisecond))
	})
	r.subnet = strings.TrimSpace(r.docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", r.net).Assert(t, icmd.Success).Stdout())
	run := func(name string, args ...string) string {
		c := name + "-" + h.id
		r.docker(append([]string{"run", "-d", "--name", c, "--network", r.net}, args...)...).Assert(t, icmd.Success)
		t.Cleanup(func() { r.docker("rm", "-f", c) })
		return strings.TrimSpace(r.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c).Assert(t, icmd.Success).Stdout())
	}
	r.originIP = run("e2e-origin", r.fakenetImage, "origin")
	r.sinkIP = run("e2e-sink", r.fakenetImage, "sink", "22", "80", "443", "853", "4444")
	r.dns = "e2e-dns-" + h.id
	names := []string{"lan.test=" + r.sinkIP}
	if hostName != "" {
		_, later := laterSubnet(h)
		names = append(names, hostName+"="+r.gateway, "later.test="+later)
	}
	r.dnsIP = run("e2e-dns", append([]string{r.fakenetImage, "dns", r.originIP}, names...)...)
	return r
}

func (r *egressRig) docker(args ...string) *icmd.Result {
	r.h.t.Helper()
	return r.h.docker(append([]string{"--context", r.ctx}, args...)...)
}

// ws runs docker workspace on the rig's engine, its workspaces in the
// probe image, its proxies out through the fake internet.
func (r *egressRig) ws(args ...string) *icmd.Result {
	r.h.t.Helper()
	return r.h.withEnv("GATEWAY_WORKSPACE_IMAGE=" + r.probeImage).docker(append([]string{"--context", r.ctx, "workspace"}, args...)...)
}

// ensure makes a workspace of the test (removed, with its proxy and
// network, when the test ends) with the egress flags given; a proxied one
// goes out through the fake internet.
func (r *egressRig) ensure(t *testing.T, subdir string, flags ...string) {
	t.Helper()
	args := append([]string{"ensure"}, flags...)
	for _, f := range flags {
		if f == "allowlist" || f == "public" {
			args = append(args, "--egress-network", r.net, "--egress-dns", r.dnsIP)
			break
		}
	}
	t.Cleanup(func() {
		if res := r.ws("rm", "-f", subdir); res.ExitCode != 0 {
			t.Logf("rm -f %s: %s", subdir, res.Combined())
		}
	})
	r.ws(append(args, subdir)...).Assert(t, icmd.Success)
}

// probe runs the probe in a workspace.
func (r *egressRig) probe(subdir string, args ...string) *icmd.Result {
	r.h.t.Helper()
	return r.ws(append([]string{"exec", "--no-ensure", subdir, "probe"}, args...)...)
}

// canary is what the fake internet's DNS server was asked.
func (r *egressRig) canary() string {
	r.h.t.Helper()
	return r.docker("logs", r.dns).Combined()
}

// writeTestCerts writes a test CA (ca.pem) and a certificate for names
// signed by it (cert.pem, key.pem) into dir.
func writeTestCerts(t *testing.T, dir string, names ...string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.NilError(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	assert.NilError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.NilError(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	assert.NilError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	assert.NilError(t, err)
	for name, block := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "cert.pem": {Type: "CERTIFICATE", Bytes: leafDER}, "key.pem": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o644))
	}
}

// Allowlist mode: what the rules name, through the proxy (as the proxy
// variables ask, or straight to a name the workspace's DNS gave); nothing
// else, by any way a workspace's code would try.
func TestEgressAllowlist(t *testing.T) {
	for _, ctx := range egressEngines {
		t.Run(ctx, func(t *testing.T) {
			h := newHarness(t)
			r := newEgressRig(t, h, ctx)
			s := h.short("-al")
			since := time.Now().Add(-time.Second)
			r.ensure(t, s, "--egress", "allowlist", "--allow", "allowed.test", "--allow", "*.allowed.test", "--allow", r.originIP)

			// The allowed names, through the proxy variables and straight.
			r.probe(s, "get", "https://allowed.test/").Assert(t, icmd.Expected{Out: "origin sni=allowed.test host=allowed.test"})
			r.probe(s, "get", "https://api.allowed.test/x").Assert(t, icmd.Expected{Out: "sni=api.allowed.test"})
			r.probe(s, "get", "http://allowed.test/").Assert(t, icmd.Expected{Out: "host=allowed.test"})
			r.probe(s, "tls", "allowed.test", "allowed.test").Assert(t, icmd.Expected{Out: "sni=allowed.test"})
			// The image's own tools (issue 22, 15): wget through the proxy
			// variables, nslookup from the workspace's DNS.
			r.ws("exec", "--no-ensure", s, "wget", "-q", "-O", "-", "http://allowed.test/").Assert(t, icmd.Expected{Out: "host=allowed.test"})
			r.ws("exec", "--no-ensure", s, "nslookup", "allowed.test").Assert(t, icmd.Expected{Out: "Address: "})
			r.ws("exec", "--no-ensure", s, "wget", "-q", "-O", "-", "http://denied.test/").Assert(t, icmd.Expected{ExitCode: 1, Err: "403"})

			// A name no rule allows: refused by the proxy, no such name in
			// the workspace's DNS, the same straight; nothing asked upstream.
			r.probe(s, "get", "https://denied.test/").Assert(t, icmd.Expected{ExitCode: 1})
			r.probe(s, "get", "http://denied.test/").Assert(t, icmd.Expected{ExitCode: 1, Out: "403"})
			r.probe(s, "resolve", "denied.test").Assert(t, icmd.Expected{ExitCode: 1})
			r.probe(s, "tls", "allowed.test", "denied.test").Assert(t, icmd.Expected{ExitCode: 1})
			secret := "secret-" + h.id
			r.probe(s, "resolve", secret+".denied.test").Assert(t, icmd.Expected{ExitCode: 1})
			r.ws("exec", "--no-ensure", s, "nslookup", "-type=TXT", secret+"2.denied.test").Assert(t, icmd.Expected{ExitCode: 1})
			assert.Check(t, !strings.Contains(r.canary(), secret), "a query name left the proxy:\n%s", r.canary())
			assert.Check(t, is.Contains(r.canary(), "query allowed.test"), "the proxy resolves allowed names upstream")

			// An address: only through a CIDR rule (the origin's); the sink's
			// is refused. A CONNECT whose ClientHello names another host is
			// closed.
			r.probe(s, "connect", r.sinkIP+":443", "denied.test").Assert(t, icmd.Expected{ExitCode: 1, Err: "403"})
			r.probe(s, "connect", "allowed.test:443", "denied.test").Assert(t, icmd.Expected{ExitCode: 1})
			r.probe(s, "connect", "allowed.test:443", "allowed.test").Assert(t, icmd.Success)

			// No route but to the proxy: not the origin, not the sink, not
			// the gateways of the bridges, not a listener of the host.
			host := hostListener(t)
			for _, addr := range []string{r.originIP + ":443", r.sinkIP + ":22", r.sinkIP + ":4444", "172.17.0.1:22", "169.254.169.254:80", "172.17.0.1:" + host} {
				r.probe(s, "dial", addr).Assert(t, icmd.Expected{ExitCode: 1})
			}
			res := r.probe(s, "get", "http://172.17.0.1:"+host+"/")
			assert.Check(t, !strings.Contains(res.Stdout(), "HOST-SECRET"), "the host's listener answered through the proxy: %s", res.Combined())
			r.probe(s, "packet").Assert(t, icmd.Expected{ExitCode: 1, Err: "operation not permitted"})
			r.probe(s, "ipv6").Assert(t, icmd.Expected{Out: "no IPv6 address"})

			// A rule changes live: the same container, not restarted.
			before := r.docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", containerName(s)).Assert(t, icmd.Success).Stdout()
			r.ws("egress", "allow", s, "denied.test").Assert(t, icmd.Success)
			r.probe(s, "get", "https://denied.test/").Assert(t, icmd.Expected{Out: "sni=denied.test"})
			r.ws("egress", "deny", s, "api.allowed.test").Assert(t, icmd.Success)
			r.probe(s, "get", "https://api.allowed.test/").Assert(t, icmd.Expected{ExitCode: 1})
			after := r.docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", containerName(s)).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Equal(after, before), "the workspace was restarted or replaced")
			ls := r.ws("egress", "ls", s).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Contains(ls, "allow      denied.test"))
			assert.Check(t, is.Contains(ls, "deny       api.allowed.test"))

			// The log: both decisions, with the rule or the reason.
			log := r.ws("egress", "log", s).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Contains(log, "connect allowed.test:443 allow rule=allowed.test"))
			assert.Check(t, is.Contains(log, "dns "+secret+".denied.test deny"))
			assert.Check(t, is.Contains(log, "connect api.allowed.test:443 deny rule=api.allowed.test"))
			// A name question refused by a deny rule names it (third
			// new-user pass).
			r.probe(s, "resolve", "api.allowed.test").Assert(t, icmd.Expected{ExitCode: 1})
			log = r.ws("egress", "log", s).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Contains(log, "dns api.allowed.test deny rule=api.allowed.test"))
			// ... and each denial is an event of the workspace (issue 19).
			evs := r.ws("events", "--since", since.Format(time.RFC3339Nano), "--until", time.Now().Add(time.Second).Format(time.RFC3339Nano),
				"--filter", "subdir="+s, "--filter", "event=egress-denied", "--format", eventFormat).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Contains(evs, "egress-denied policy "+s+" connect api.allowed.test:443 rule=api.allowed.test\n"))
			assert.Check(t, is.Contains(evs, "egress-denied policy "+s+" dns "+secret+".denied.test"))

			// The proxy made again (here: removed by hand, then a rule
			// change): the same workspace works again, with its rules.
			r.docker("rm", "-f", "gws.egress."+strings.TrimPrefix(containerName(s), "gws-")).Assert(t, icmd.Success)
			r.probe(s, "get", "https://allowed.test/").Assert(t, icmd.Expected{ExitCode: 1})
			// Said as what it is (the workspace runs), with the way back
			// (issue 22, new-user pass).
			res = r.ws("egress", "ls", s)
			res.Assert(t, icmd.Expected{Err: "its egress proxy is gone: container gws.egress."})
			assert.Check(t, is.Contains(res.Stderr(), "`docker workspace restart "+s+"` makes it again"))
			assert.Check(t, !strings.Contains(res.Stderr(), "not running"), res.Stderr())
			r.ws("egress", "allow", s, "other.test").Assert(t, icmd.Success)
			r.probe(s, "get", "https://allowed.test/").Assert(t, icmd.Expected{Out: "sni=allowed.test"})
			r.probe(s, "get", "https://denied.test/").Assert(t, icmd.Expected{Out: "sni=denied.test"})
			r.probe(s, "get", "https://api.allowed.test/").Assert(t, icmd.Expected{ExitCode: 1})
			after = r.docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", containerName(s)).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Equal(after, before), "the workspace was restarted or replaced")

			// ensure makes it again too, with its kept rules, the workspace
			// untouched (new-user pass 7, High: it said "running" and the
			// workspace reached nothing).
			r.docker("rm", "-f", "gws.egress."+strings.TrimPrefix(containerName(s), "gws-")).Assert(t, icmd.Success)
			r.ensure(t, s, "--egress", "allowlist", "--allow", "allowed.test", "--allow", "*.allowed.test", "--allow", r.originIP)
			r.probe(s, "get", "https://denied.test/").Assert(t, icmd.Expected{Out: "sni=denied.test"})
			after = r.docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", containerName(s)).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Equal(after, before), "the workspace was restarted or replaced")
		})
	}
}

// Public mode: any name over HTTP(S) whose address is public (here: the
// origin's, allowed as if public by a CIDR rule), never one that resolves
// to the LAN (lan.test: the sink); other ports only by a rule.
func TestEgressPublic(t *testing.T) {
	for _, ctx := range egressEngines {
		t.Run(ctx, func(t *testing.T) {
			h := newHarness(t)
			r := newEgressRig(t, h, ctx)
			s := h.short("-pub")
			r.ensure(t, s, "--egress", "public", "--allow", r.originIP, "--allow", "other.test:4444")
			r.probe(s, "get", "https://denied.test/").Assert(t, icmd.Expected{Out: "sni=denied.test"})
			r.probe(s, "tls", "other.test", "other.test").Assert(t, icmd.Expected{Out: "sni=other.test"})
			r.probe(s, "get", "http://lan.test/").Assert(t, icmd.Expected{ExitCode: 1, Out: "403"})
			r.probe(s, "get", "https://lan.test/").Assert(t, icmd.Expected{ExitCode: 1})
			r.probe(s, "connect", "denied.test:22", "denied.test").Assert(t, icmd.Expected{ExitCode: 1, Err: "403"})
			r.probe(s, "dial", r.originIP+":443").Assert(t, icmd.Expected{ExitCode: 1})
			r.probe(s, "dial", "172.17.0.1:22").Assert(t, icmd.Expected{ExitCode: 1})
			r.probe(s, "packet").Assert(t, icmd.Expected{ExitCode: 1})
			log := r.ws("egress", "log", "--format", "json", s).Assert(t, icmd.Success).Stdout()
			assert.Check(t, is.Contains(log, `"Host":"lan.test"`))
			assert.Check(t, is.Contains(log, `"Reason":"it resolves to `+r.sinkIP+`, not a public address"`))
		})
	}
}

// In every mode, no workspace reaches another: not on the shared network
// of open mode, not across modes, not through a proxy.
func TestEgressNoNeighbour(t *testing.T) {
	for _, ctx := range egressEngines {
		t.Run(ctx, func(t *testing.T) {
			h := newHarness(t)
			r := newEgressRig(t, h, ctx)
			modes := map[string][]string{
				"open": nil, "open2": nil, "none": {"--egress", "none"},
				"allow": {"--egress", "allowlist", "--allow", "*.test", "--allow", "10.0.0.0/8", "--allow", "172.16.0.0/12"},
				"pub":   {"--egress", "public", "--allow", "10.0.0.0/8:8080", "--allow", "172.16.0.0/12:8080"},
			}
			ips, subdirs := map[string]string{}, map[string]string{}
			for name, flags := range modes {
				s := h.short("-" + name)
				subdirs[name] = s
				r.ensure(t, s, flags...)
				// Each listens on 8080 on every address it has.
				r.ws("exec", "-d", s, "sh", "-c", "while true; do echo secret-of-"+name+" | nc -l -p 8080; done").Assert(t, icmd.Success)
				ips[name] = strings.TrimSpace(r.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", containerName(s)).Stdout())
			}
			for from := range modes {
				s := subdirs[from] // h.short again would remove it first, by docker rm
				// The listener answers where it may be reached (loopback)...
				poll.WaitOn(t, func(poll.LogT) poll.Result {
					if strings.Contains(r.probe(s, "dial", "127.0.0.1:8080").Stdout(), "secret-of-"+from) {
						return poll.Success()
					}
					return poll.Continue("%s's listener does not answer yet", from)
				}, poll.WithTimeout(20*time.Second))
				// ...and no one else's answers it. (A connection may still be
				// made: to whatever answers beyond the host, never a workspace.)
				var dial, get []string
				for to, addrs := range ips {
					for _, ip := range strings.Fields(addrs) {
						if from != to {
							dial, get = append(dial, ip+":8080"), append(get, "http://"+ip+":8080/")
						}
					}
				}
				res := r.probe(s, append([]string{"dial"}, dial...)...)
				assert.Check(t, !strings.Contains(res.Stdout(), "secret"), "%s reaches a neighbour: %s", from, res.Combined())
				res = r.probe(s, append([]string{"get"}, get...)...)
				assert.Check(t, !strings.Contains(res.Stdout(), "secret"), "%s reaches a neighbour through its proxy: %s", from, res.Combined())
			}
			// Open mode: what it still reaches is said (the host, through its
			// network's gateway): the doctor says so.
			r.ws("doctor").Assert(t, icmd.Expected{Out: "Egress:"})
		})
	}
}

// Bad input: one line, exit 125, nothing made.
func TestEgressBadInput(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.short("-bad")
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--egress", "closed"}, `invalid egress mode "closed"`},
		{[]string{"--egress", "allowlist", "--allow", "exa_mple.com"}, `invalid rule "exa_mple.com"`},
		{[]string{"--egress", "allowlist", "--allow", "example.com:70000"}, "must be a number from 1 to 65535"},
		{[]string{"--allow", "example.com"}, "--allow is for the allowlist and public modes, not egress open"},
		{[]string{"--egress", "none", "--allow", "example.com"}, "--allow is for the allowlist and public modes, not egress none"},
		{[]string{"--egress", "allowlist", "--network", "bridge"}, "--network with --egress allowlist"},
		{[]string{"--egress", "public", "--cap-add", "NET_RAW"}, "would let the workspace go around its proxy"},
		{[]string{"--egress", "allowlist", "--env", "HTTPS_PROXY=http://x:1"}, "is set to the workspace's proxy"},
		// A writable /proc/sys turns IPv6 back on: the host's link-local
		// address on the workspace's network.
		{[]string{"--egress", "allowlist", "--cap-add", "SYS_ADMIN"}, "capability SYS_ADMIN would let the workspace go around its proxy"},
		{[]string{"--egress", "public", "--security-opt", "systempaths=unconfined"}, "a writable /proc/sys"},
		{[]string{"--egress-dns", "1.1.1.1"}, "--egress-dns is for the allowlist and public modes"},
	} {
		res := h.ws(append(append([]string{"ensure"}, tc.args...), s)...)
		res.Assert(t, icmd.Expected{ExitCode: 125, Err: tc.err})
		assert.Check(t, is.Equal(strings.Count(strings.TrimSpace(res.Stderr()), "\n"), 0), "%v: more than one line: %s", tc.args, res.Stderr())
	}
	h.ws("ensure", s).Assert(t, icmd.Success)
	h.ws("egress", "allow", s, "bad rule").Assert(t, icmd.Expected{ExitCode: 125, Err: `invalid rule "bad rule"`})
	h.ws("egress", "allow", s, "example.com").Assert(t, icmd.Expected{ExitCode: 1, Err: "is in egress mode open: it has no egress proxy"})
	h.ws("rm", "-f", s).Assert(t, icmd.Success)
	h.docker("ps", "-a", "--filter", "name=^/gws.egress.e2e-"+h.id, "-q").Assert(t, icmd.Expected{Out: ""})
	h.docker("network", "ls", "--filter", "name=gws.net.e2e-"+h.id, "-q").Assert(t, icmd.Expected{Out: ""})
}

// rm takes the proxy, its state and the workspace's network with the
// workspace (never data); an ensure interrupted leaves none of them.
func TestEgressRemoveLeavesNothing(t *testing.T) {
	h := newHarness(t)
	r := newEgressRig(t, h, "modern")
	s := h.short("-rm")
	r.ensure(t, s, "--egress", "allowlist", "--allow", "allowed.test")
	name := strings.TrimPrefix(containerName(s), "gws-")
	r.ws("exec", s, "sh", "-c", "echo kept > f").Assert(t, icmd.Success)
	r.ws("stop", s).Assert(t, icmd.Success)
	r.docker("inspect", "-f", "{{.State.Running}}", "gws.egress."+name).Assert(t, icmd.Expected{Out: "false"})
	r.ws("ensure", s).Assert(t, icmd.Success)
	r.docker("inspect", "-f", "{{.State.Running}}", "gws.egress."+name).Assert(t, icmd.Expected{Out: "true"})
	r.ws("rm", "-f", s).Assert(t, icmd.Success)
	r.docker("inspect", "gws.egress."+name).Assert(t, icmd.Expected{ExitCode: 1})
	r.docker("network", "inspect", "gws.net."+name).Assert(t, icmd.Expected{ExitCode: 1})
	r.docker("volume", "inspect", "gws.egress."+name).Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, fileContains(filepath.Join(h.workspaceRoot(), s, "f"), "kept"), "the data went with the workspace")

	// Interrupted: nothing left. Killed: what it left, prune removes.
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		s := h.short(fmt.Sprintf("-int%d", i))
		t.Cleanup(func() { r.ws("rm", "-f", s) })
		h.withEnv("GATEWAY_WORKSPACE_IMAGE="+r.probeImage).interrupt(sig, 300*time.Millisecond, "ensure", "--egress", "allowlist",
			"--egress-network", r.net, "--allow", "allowed.test", s)
		if r.docker("inspect", containerName(s)).ExitCode == 0 {
			t.Logf("%s: the ensure was done before the signal", sig)
			continue
		}
		if sig == syscall.SIGKILL {
			r.ws("prune", "-f").Assert(t, icmd.Success)
		}
		name := strings.TrimPrefix(containerName(s), "gws-")
		r.docker("inspect", "gws.egress."+name).Assert(t, icmd.Expected{ExitCode: 1})
		r.docker("network", "inspect", "gws.net."+name).Assert(t, icmd.Expected{ExitCode: 1})
	}
}

func fileContains(path, want string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), want)
}

// The Compose provider takes the egress options: a workspace of a project
// in allowlist mode, through its proxy; down takes the proxy too.
func TestEgressCompose(t *testing.T) {
	h := newHarness(t)
	r := newEgressRig(t, h, "modern")
	s := h.subdir("")
	file := providerFile(t, []string{"subdir: " + s, "image: " + r.probeImage, "egress: allowlist", "allow: [allowed.test, " + r.originIP + "]",
		"egress-network: " + r.net, "egress-dns: " + r.dnsIP}, "")
	project := h.composeProject("modern", file)
	h.compose(project, "-f", file, "up", "-d").Assert(t, icmd.Success)
	r.probe(s, "get", "https://allowed.test/").Assert(t, icmd.Expected{Out: "sni=allowed.test"})
	r.probe(s, "get", "https://denied.test/").Assert(t, icmd.Expected{ExitCode: 1})
	h.compose(project, "-f", file, "down").Assert(t, icmd.Success)
	name := strings.TrimPrefix(containerName(s), "gws-")
	r.docker("inspect", "gws.egress."+name).Assert(t, icmd.Expected{ExitCode: 1})
	r.docker("network", "inspect", "gws.net."+name).Assert(t, icmd.Expected{ExitCode: 1})
}

// Through remote contexts (TCP+TLS, SSH): the proxy image goes over the
// API (no registry, nothing on the engine's host), and an allowlist
// workspace reaches what its rules allow and nothing else.
func TestEgressRemote(t *testing.T) {
	for _, ctx := range []string{"tls", "ssh"} {
		t.Run(ctx, func(t *testing.T) {
			h := newHarness(t)
			r := newEgressRig(t, h, ctx)
			wsVol, shVol := "e2e-eg-ws-"+h.id, "e2e-eg-sh-"+h.id
			t.Cleanup(func() { r.docker("volume", "rm", "-f", wsVol, shVol) })
			s := h.short("-" + ctx)
			r.ensure(t, s, "--mount-mode", "volume_subpath", "--workspace-volume", wsVol, "--shared-volume", shVol,
				"--egress", "allowlist", "--allow", "allowed.test", "--allow", r.originIP)
			r.probe(s, "get", "https://allowed.test/").Assert(t, icmd.Expected{Out: "sni=allowed.test"})
			r.probe(s, "get", "https://denied.test/").Assert(t, icmd.Expected{ExitCode: 1})
			r.ws("egress", "allow", s, "denied.test").Assert(t, icmd.Success)
			r.probe(s, "get", "https://denied.test/").Assert(t, icmd.Expected{Out: "sni=denied.test"})
			r.ws("egress", "log", s).Assert(t, icmd.Expected{Out: "denied.test:443 allow"})
		})
	}
}

// The attacks of the third round on the network, each a case that must
// fail: a deny cuts the connections open to what it denies (plain HTTP,
// CONNECT; by name, by address); a network of the workspace's name made
// beforehand with a spy on it is refused; an image of the proxy's tag that
// is not this program's is not run; the public mode does not reach the
// engine's host at a public address of its own.
func TestEgressAttacksOfTheThirdRound(t *testing.T) {
	h := newHarness(t)
	// The fake internet on public addresses: the host's own address on it
	// (the network's gateway) is one too.
	r := newEgressRigOn(t, h, "modern", "44.77."+strconv.Itoa(int(h.id[0])%200)+".0/24", "host.test")

	t.Run("deny cuts open connections", func(t *testing.T) {
		s := h.short("-cut")
		r.ensure(t, s, "--egress", "allowlist", "--allow", "allowed.test")
		for i, deny := range []string{"allowed.test", r.originIP} {
			files := []string{fmt.Sprintf("/tmp/http%d", i), fmt.Sprintf("/tmp/https%d", i)}
			r.ws("exec", "-d", s, "probe", "stream", "http://allowed.test/stream", files[0]).Assert(t, icmd.Success)
			r.ws("exec", "-d", s, "probe", "stream", "https://allowed.test/stream", files[1]).Assert(t, icmd.Success)
			poll.WaitOn(t, func(poll.LogT) poll.Result {
				if out := r.ws("exec", s, "cat", files[0], files[1]).Stdout(); strings.Count(out, "chunk 2\n") < 2 {
					return poll.Continue("the streams have not begun: %s", out)
				}
				return poll.Success()
			}, poll.WithTimeout(20*time.Second))
			r.ws("egress", "deny", s, deny).Assert(t, icmd.Success)
			poll.WaitOn(t, func(poll.LogT) poll.Result {
				if out := r.ws("exec", s, "cat", files[0], files[1]).Stdout(); strings.Count(out, "ended") < 2 {
					return poll.Continue("a stream goes on after the deny of %s", deny)
				}
				return poll.Success()
			}, poll.WithTimeout(10*time.Second))
			out := r.ws("exec", s, "cat", files[0], files[1]).Stdout()
			assert.Check(t, !strings.Contains(out, "chunk 299"), "a stream went to its end")
			r.ws("egress", "allow", s, deny).Assert(t, icmd.Success)
		}
	})

	t.Run("a spy on the workspace's network", func(t *testing.T) {
		s := h.short("-spy")
		t.Cleanup(func() { r.ws("rm", "-f", s) })
		netName := "gws.net." + strings.TrimPrefix(containerName(s), "gws-")
		r.docker("network", "create", "--internal", "-o", "com.docker.network.bridge.inhibit_ipv4=true",
			"--label", "docker-workspace.egress=network", "--label", "docker-workspace.egress-of="+s, netName).Assert(t, icmd.Success)
		t.Cleanup(func() { r.docker("network", "rm", netName) })
		spy := "e2e-spy-" + h.id
		r.docker("run", "-d", "--name", spy, "--network", netName, image, "sleep", "infinity").Assert(t, icmd.Success)
		t.Cleanup(func() { r.docker("rm", "-f", spy) })
		r.ws("ensure", "--egress", "allowlist", "--allow", "allowed.test", "--egress-network", r.net, s).
			Assert(t, icmd.Expected{ExitCode: 1, Err: "holds container " + spy + ", which is not the workspace's or its proxy's"})
		r.docker("inspect", containerName(s)).Assert(t, icmd.Expected{ExitCode: 1})
	})

	t.Run("an image of the proxy's tag", func(t *testing.T) {
		s := h.short("-img")
		tag := proxyImageTag(t)
		r.docker("tag", r.fakenetImage, tag).Assert(t, icmd.Success)
		r.ensure(t, s, "--egress", "allowlist", "--allow", "allowed.test")
		running := r.docker("inspect", "-f", "{{.Image}}", "gws.egress."+strings.TrimPrefix(containerName(s), "gws-")).Assert(t, icmd.Success).Stdout()
		fake := r.docker("image", "inspect", "-f", "{{.Id}}", r.fakenetImage).Assert(t, icmd.Success).Stdout()
		assert.Check(t, running != fake, "the proxy runs an image that only had its tag")
		r.probe(s, "get", "https://allowed.test/").Assert(t, icmd.Expected{Out: "sni=allowed.test"})
	})

	t.Run("the host at a public address", func(t *testing.T) {
		ln, err := net.Listen("tcp", net.JoinHostPort(r.gateway, "80"))
		assert.NilError(t, err)
		defer ln.Close()
		go serveSecret(ln)
		s := h.short("-host")
		r.ensure(t, s, "--egress", "public")
		res := r.probe(s, "get", "http://host.test/")
		assert.Check(t, !strings.Contains(res.Stdout(), "HOST-SECRET"), "the public mode reached the host: %s", res.Combined())
		assert.Check(t, is.Contains(r.ws("egress", "log", s).Stdout(), "an address of the engine's host"))
		r.probe(s, "get", "https://allowed.test/").Assert(t, icmd.Expected{Out: "sni=allowed.test"}) // a public origin: yes

		// An address the host gets after the proxy was made: known to the
		// proxy once it is made again (a restart of the workspace).
		subnet, later := laterSubnet(h)
		laterNet := "e2e-later-" + h.id
		r.docker("network", "create", "--subnet", subnet, "--gateway", later, laterNet).Assert(t, icmd.Success)
		t.Cleanup(func() { r.docker("network", "rm", laterNet) })
		ln2, err := net.Listen("tcp", net.JoinHostPort(later, "80"))
		assert.NilError(t, err)
		defer ln2.Close()
		go serveSecret(ln2)
		r.ws("restart", s).Assert(t, icmd.Success)
		res = r.probe(s, "get", "http://later.test/")
		assert.Check(t, !strings.Contains(res.Stdout(), "HOST-SECRET"), "the public mode reached the host at an address it got later: %s", res.Combined())
	})

	t.Run("exec --privileged", func(t *testing.T) {
		s := h.short("-priv")
		r.ensure(t, s, "--egress", "allowlist", "--allow", "allowed.test")
		r.ws("exec", "--privileged", "-u", "0", s, "true").
			Assert(t, icmd.Expected{ExitCode: 125, Err: "--privileged is refused: the workspace is in egress mode allowlist"})
	})
}

// proxyImageTag is the tag of the proxy image of the installed plugin.
func proxyImageTag(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.configDir, "plugins", "docker-workspace"))
	assert.NilError(t, err)
	sum := sha256.Sum256(b)
	return "docker-workspace/egress-proxy:" + hex.EncodeToString(sum[:8])
}

// hostListener listens on every address of this host (0.0.0.0) until the
// test ends, answering HOST-SECRET; it returns its port.
func hostListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	assert.NilError(t, err)
	t.Cleanup(func() { ln.Close() })
	go serveSecret(ln)
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// serveSecret answers every connection of ln with HOST-SECRET (over
// HTTP), until ln is closed.
func serveSecret(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nHOST-SECRET")
		_ = c.Close()
	}
}

// A workspace never joins another's egress network, the proxies' network
// or open mode's by --network (new-user pass 11: one on another's egress
// network reached it, and its proxy).
func TestEgressNetworksAreNoWorkspacesToJoin(t *testing.T) {
	t.Parallel()
	requireEngine(t, "modern")
	h := newHarness(t)
	victim, intruder := h.short("-vic"), h.short("-int")
	h.ws("ensure", "--egress", "allowlist", "--allow", "allowed.test", victim).Assert(t, icmd.Success)
	t.Cleanup(func() { h.ws("rm", "-f", victim) })
	for _, n := range []string{"gws.net." + strings.TrimPrefix(containerName(victim), "gws-"), "gws.egress", "gws.open"} {
		h.ws("ensure", "--network", n, intruder).Assert(t, icmd.Expected{ExitCode: 125, Err: "network " + n + " is one of docker workspace's own"})
		assert.Check(t, !h.exists("modern", containerName(intruder)))
	}
}

// Concurrent ensures of one new proxied workspace all succeed, as in open
// mode (new-user pass 12: one caller of several failed, "the egress proxy
// was removed while it was made").
func TestEgressConcurrentEnsures(t *testing.T) {
	t.Parallel()
	requireEngine(t, "modern")
	h := newHarness(t)
	for round := range envInt("E2E_EGRESS_RACE_ROUNDS", 4) {
		s := h.short(fmt.Sprintf("-race%d", round))
		results := make([]*icmd.Result, 6)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = h.ws("ensure", "--egress", "allowlist", "--allow", "allowed.test", s)
			}()
		}
		wg.Wait()
		for i, res := range results {
			assert.Check(t, res.ExitCode == 0, "round %d, caller %d: %s", round, i, res.Combined())
		}
		h.ws("egress", "ls", "--format", "{{.Mode}}", s).Assert(t, icmd.Expected{Out: "allowlist"})
		h.ws("rm", "-f", s).Assert(t, icmd.Success)
	}
}
