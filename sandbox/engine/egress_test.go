package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// staticProgram writes the smallest static Linux amd64 program header the
// proxy image takes (an ELF header without an interpreter) and returns
// its path.
func staticProgram(t *testing.T) string {
	t.Helper()
	h := make([]byte, 64)
	copy(h, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	binary.LittleEndian.PutUint16(h[16:], 2)  // executable
	binary.LittleEndian.PutUint16(h[18:], 62) // x86-64
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint16(h[52:], 64)
	binary.LittleEndian.PutUint16(h[54:], 56)
	binary.LittleEndian.PutUint16(h[58:], 64)
	p := filepath.Join(t.TempDir(), "egress")
	assert.NilError(t, os.WriteFile(p, h, 0o755))
	return p
}

// proxiedManager is a Manager of f whose proxy image holds a program of
// the test, its proxies served by a fake of their control program.
func proxiedManager(t *testing.T, f *sandboxtest.Engine) *Manager {
	t.Helper()
	f.ServeEgressProxies()
	return newManager(f, func(o *Options) { o.ProxyProgram = staticProgram(t) })
}

func allowlistConfig(t *testing.T, rules ...string) sandbox.Config {
	cfg := bindConfig(t)
	cfg.Egress, cfg.Allow = egress.ModeAllowlist, rules
	return cfg
}

// A proxied workspace: a network of its own (internal, no address of the
// host, a /29 of the pool), its proxy at the second address (hardened, out
// through the egress network, with its rules), the workspace's DNS server
// and proxy variables the proxy, no raw sockets, no IPv6.
func TestEnsureAllowlistMakesItsNetworkAndProxy(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := proxiedManager(t, f)
	cfg := allowlistConfig(t, "example.com", "10.0.0.0/8:5432")
	_, err := m.Ensure(context.Background(), "alice", cfg)
	assert.NilError(t, err)
	// Warm: one inspect, and one of its proxy (that it runs) beside it:
	// one round trip.
	f.CallLog = nil
	_, err = m.Ensure(context.Background(), "alice", cfg)
	assert.NilError(t, err)
	calls := strings.Fields(f.Calls())
	sort.Strings(calls)
	assert.Check(t, is.DeepEqual(calls, []string{"inspect:gws-alice", "inspect:gws.egress.alice"}))
	// A proxy removed by hand is made again by the next ensure (new-user
	// pass 7, High: ensure said it ran, and it reached nothing).
	proxyID := f.ByName("gws.egress.alice").ID
	assert.NilError(t, f.ContainerRemove(context.Background(), proxyID, container.RemoveOptions{Force: true}))
	_, err = m.Ensure(context.Background(), "alice", cfg)
	assert.NilError(t, err)
	remade := f.ByName("gws.egress.alice")
	assert.Assert(t, remade != nil, "the proxy was not made again")
	assert.Check(t, is.Equal(remade.State, container.StateRunning))

	n, ok := f.Networks["gws.net.alice"]
	assert.Assert(t, ok, "no network of its own: %v", f.Calls())
	assert.Check(t, n.Internal)
	assert.Check(t, is.Equal(n.Options[optNoHostIP], "true"))
	assert.Check(t, is.Equal(n.Labels[sandbox.LabelEgressOf], "alice"))
	subnet := netip.MustParsePrefix(n.IPAM.Config[0].Subnet)
	assert.Check(t, is.Equal(subnet.Bits(), 29))
	assert.Check(t, netip.MustParsePrefix(subnetPool).Contains(subnet.Addr()))
	proxyIP := subnet.Addr().Next().Next().String()

	p := f.ByName("gws.egress.alice")
	assert.Assert(t, p != nil, "no proxy")
	assert.Check(t, is.Equal(p.State, container.StateRunning))
	assert.Check(t, is.Equal(p.Cfg.User, "65534:65534"))
	assert.Check(t, is.DeepEqual([]string(p.HC.CapDrop), []string{"ALL"}))
	assert.Check(t, p.HC.ReadonlyRootfs)
	assert.Check(t, is.DeepEqual(p.HC.SecurityOpt, []string{"no-new-privileges"}))
	assert.Check(t, strings.HasPrefix(p.Cfg.Image, proxyRepository+":"))
	assert.Check(t, is.Equal(p.Net.EndpointsConfig["gws.net.alice"].IPAMConfig.IPv4Address, proxyIP))
	_, out := p.Net.EndpointsConfig[egressNetwork] // both networks at create (API 1.44+)
	assert.Check(t, out, "the proxy is not on the egress network")
	assert.Check(t, is.Equal(f.Networks[egressNetwork].Options[optICC], "false"))
	assert.Check(t, is.Contains(strings.Join(p.Cfg.Cmd, " "), `"allow":["10.0.0.0/8:5432","example.com"]`))

	w := f.ByName("gws-alice")
	assert.Check(t, is.Equal(string(w.HC.NetworkMode), "gws.net.alice"))
	assert.Check(t, is.DeepEqual(w.HC.DNS, []string{proxyIP}))
	assert.Check(t, is.Equal(w.Net.EndpointsConfig["gws.net.alice"].IPAMConfig.IPv4Address, subnet.Addr().Next().Next().Next().String()))
	assert.Check(t, slices.Contains(w.HC.CapDrop, "NET_RAW"))
	assert.Check(t, is.Equal(w.HC.Sysctls["net.ipv6.conf.all.disable_ipv6"], "1"))
	assert.Check(t, slices.Contains(w.Cfg.Env, "HTTPS_PROXY=http://"+proxyIP+":3128"))

	// Its rules in force, changed live through the proxy.
	st, err := m.Egress(context.Background(), sandbox.Workspace{Subdir: "alice", Name: "gws-alice", Labels: w.Cfg.Labels},
		&sandbox.EgressChange{Allow: false, Rules: []string{"example.com"}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Proxy, "gws.egress.alice"))
	assert.Check(t, is.DeepEqual(st.Policy.Allow, []string{"10.0.0.0/8:5432"}))
	assert.Check(t, is.DeepEqual(st.Policy.Deny, []string{"example.com"}))

	// A stopped proxy is started for a change, and keeps its rules.
	assert.NilError(t, f.ContainerStop(context.Background(), "gws.egress.alice", container.StopOptions{}))
	st, err = m.Egress(context.Background(), sandbox.Workspace{Subdir: "alice", Name: "gws-alice", Labels: w.Cfg.Labels},
		&sandbox.EgressChange{Allow: true, Rules: []string{"example.org:8443"}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.ByName("gws.egress.alice").State, container.StateRunning))
	assert.Check(t, is.DeepEqual(st.Policy.Allow, []string{"10.0.0.0/8:5432", "example.org:8443"}))
}

// Open mode: the shared network, made once with inter-container traffic
// off; none: no network; neither has a proxy.
func TestEnsureOpenAndNone(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := newManager(f)
	cfg := bindConfig(t)
	cfg.Egress = egress.ModeOpen
	for _, s := range []string{"a", "b"} {
		_, err := m.Ensure(context.Background(), s, cfg)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(f.ByName(sandbox.ContainerName(s)).HC.NetworkMode), openNetwork))
	}
	assert.Check(t, is.Equal(strings.Count(f.Calls(), "netcreate:"+openNetwork), 1))
	assert.Check(t, is.Equal(f.Networks[openNetwork].Options[optICC], "false"))
	cfg.Egress = egress.ModeNone
	_, err := m.Ensure(context.Background(), "c", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(f.ByName("gws-c").HC.NetworkMode), "none"))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-a:running", "gws-b:running", "gws-c:running"}))

	_, err = m.Egress(context.Background(), sandbox.Workspace{Subdir: "c", Name: "gws-c", Labels: f.ByName("gws-c").Cfg.Labels},
		&sandbox.EgressChange{Allow: true, Rules: []string{"example.com"}})
	assert.Check(t, is.ErrorContains(err, "is in egress mode none: it has no egress proxy"))
}

// A network of a name this tool uses, made by someone else, is refused,
// and nothing is made: not the shared network of open mode with
// inter-container traffic on, not a workspace's network that is not
// internal.
func TestEnsureRefusesSquattedNetworks(t *testing.T) {
	for _, tc := range []struct {
		name string
		net  network.Summary
		cfg  func(*testing.T) sandbox.Config
	}{
		{"open with icc", network.Summary{Name: openNetwork, Driver: "bridge", Labels: map[string]string{sandbox.LabelEgress: "open"}}, bindConfig},
		{"workspace's not internal", network.Summary{Name: "gws.net.alice", Driver: "bridge",
			Options: map[string]string{optNoHostIP: "true"}, Labels: map[string]string{sandbox.LabelEgress: "network", sandbox.LabelEgressOf: "alice"}},
			func(t *testing.T) sandbox.Config { return allowlistConfig(t, "example.com") }},
		{"workspace's with a spy on it", network.Summary{Name: "gws.net.alice", Driver: "bridge", Internal: true,
			IPAM:       network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.213.0.8/29"}}},
			Containers: map[string]network.EndpointResource{"c0ffee": {Name: "spy"}},
			Options:    map[string]string{optNoHostIP: "true"}, Labels: map[string]string{sandbox.LabelEgress: "network", sandbox.LabelEgressOf: "alice"}},
			func(t *testing.T) sandbox.Config { return allowlistConfig(t, "example.com") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sandboxtest.NewEngine()
			f.Networks[tc.net.Name] = tc.net
			_, err := proxiedManager(t, f).Ensure(context.Background(), "alice", tc.cfg(t))
			if len(tc.net.Containers) > 0 { // the engine's state, not a configuration: refused all the same
				assert.Check(t, is.ErrorContains(err, "holds container spy"))
			} else {
				assert.Check(t, is.ErrorIs(err, sandbox.ErrNotSupported))
			}
			assert.Check(t, is.Len(f.Names(), 0))
		})
	}
}

// A proxy that cannot be made fails the ensure, and the workspace is not
// made: never more open than its mode.
func TestEnsureFailsClosedWithoutItsProxy(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := proxiedManager(t, f)
	f.OnCreate = func(name string, _ *container.Config, _ *container.HostConfig) error {
		if strings.HasPrefix(name, "gws.egress.") {
			return errors.New("no space left on device")
		}
		return nil
	}
	_, err := m.Ensure(context.Background(), "alice", allowlistConfig(t, "example.com"))
	assert.Check(t, is.ErrorContains(err, "no space left on device"))
	assert.Check(t, is.Len(f.Names(), 0))
}

// A proxy that does not start takes back the new workspace that started
// beside it: never a workspace without its proxy.
func TestEnsureTakesBackAWorkspaceWhoseProxyDoesNotStart(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := proxiedManager(t, f)
	f.OnStart = func(c *sandboxtest.Ctr) error {
		if strings.HasPrefix(c.Name, "gws.egress.") {
			return errors.New("cannot start the proxy")
		}
		return nil
	}
	_, err := m.Ensure(context.Background(), "alice", allowlistConfig(t, "example.com"))
	assert.Check(t, is.ErrorContains(err, "cannot start the proxy"))
	assert.Check(t, is.Len(f.Names(), 0))
	_, left := f.Networks["gws.net.alice"]
	assert.Check(t, !left, "its network is left")
}

// Removing a proxied workspace removes its proxy, the proxy's state and
// its network; a container of the proxy's name that is not its proxy is
// left alone.
func TestRemoveRemovesTheEgress(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := proxiedManager(t, f)
	ctx := context.Background()
	for _, s := range []string{"alice", "bob"} {
		_, err := m.Ensure(ctx, s, allowlistConfig(t, "example.com"))
		assert.NilError(t, err)
	}
	// bob's proxy replaced by a container someone else made.
	assert.NilError(t, f.ContainerRemove(ctx, "gws.egress.bob", container.RemoveOptions{Force: true}))
	f.Add("gws.egress.bob", container.StateRunning, container.Config{Labels: map[string]string{sandbox.LabelEgress: "proxy", sandbox.LabelEgressOf: "mallory"}}, container.HostConfig{})
	for _, s := range []string{"alice", "bob"} {
		w := f.ByName(sandbox.ContainerName(s))
		assert.NilError(t, m.Remove(ctx, sandbox.Workspace{Subdir: s, Name: w.Name, ID: w.ID, Labels: w.Cfg.Labels}, sandbox.RemoveOptions{Force: true}))
	}
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws.egress.bob:running"}))
	_, aliceNet := f.Networks["gws.net.alice"]
	_, aliceState := f.Vols["gws.egress.alice"]
	assert.Check(t, !aliceNet && !aliceState, "alice's network or proxy state is left")
}

// A proxy whose workspace has no container is pruned at once when the
// process that made it is gone (kill -9 of its ensure), not while it
// lives (an ensure that is making the workspace); a workspace's network
// without a workspace or a proxy too.
func TestPruneRemovesOrphanProxies(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := proxiedManager(t, f)
	ctx := context.Background()
	_, err := m.Ensure(ctx, "alice", allowlistConfig(t, "example.com"))
	assert.NilError(t, err)
	assert.NilError(t, f.ContainerRemove(ctx, "gws-alice", container.RemoveOptions{Force: true}))
	report, err := m.Prune(ctx, sandbox.PruneOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(report.Egress, 0))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws.egress.alice:running"}))

	f.ByName("gws.egress.alice").Cfg.Labels[sandbox.LabelCreator] = bootID() + ":999999999:1"
	// A network that an interrupted ensure's engine made after it gave up.
	f.Networks["gws.net.bob"] = network.Summary{Name: "gws.net.bob", ID: "bobnet", Driver: "bridge", Labels: map[string]string{sandbox.LabelEgress: "network", sandbox.LabelEgressOf: "bob"}}
	// A prune filtered to another workspace, or by a project, takes none
	// of them (fourth new-user pass: a filter limits everything prune
	// removes).
	for _, opts := range []sandbox.PruneOptions{
		{Labels: []string{sandbox.LabelSubdir + "=carol"}}, {ComposeProject: "gw"}, {Labels: []string{"team=blue"}},
	} {
		report, err = m.Prune(ctx, opts)
		assert.NilError(t, err)
		assert.Check(t, is.Len(report.Egress, 0), "%+v", opts)
		assert.Check(t, is.DeepEqual(f.Names(), []string{"gws.egress.alice:running"}), "%+v", opts)
		_, ok := f.Networks["gws.net.bob"]
		assert.Check(t, ok, "%+v", opts)
	}
	report, err = m.Prune(ctx, sandbox.PruneOptions{Labels: []string{sandbox.LabelSubdir + "=alice"}})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(report.Egress, []string{"gws.egress.alice"}), "filtered to its subdir, it is taken")
	report, err = m.Prune(ctx, sandbox.PruneOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(f.Names(), 0))
	assert.Check(t, is.DeepEqual(slices.Sorted(maps.Keys(f.Networks)), []string{egressNetwork}), "a workspace's network is left")
}

// Other configured rules are drift ("egress"); replacing the workspace
// makes its proxy again from them (the rules changed live are dropped).
func TestEnsureOtherRulesDrift(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := proxiedManager(t, f)
	ctx := context.Background()
	cfg := allowlistConfig(t, "example.com")
	_, err := m.Ensure(ctx, "alice", cfg)
	assert.NilError(t, err)
	before := f.ByName("gws.egress.alice").ID

	cfg.Allow = []string{"example.org", "example.com"}
	res, err := m.Ensure(ctx, "alice", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res.Drift, []string{"egress"}))
	assert.Check(t, is.Equal(f.ByName("gws.egress.alice").ID, before), "the proxy was replaced without a recreate")

	cfg.Recreate = sandbox.RecreateIfChanged
	res, err = m.Ensure(ctx, "alice", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRecreated))
	p := f.ByName("gws.egress.alice")
	assert.Check(t, p.ID != before, "the proxy kept its old configuration")
	assert.Check(t, is.Contains(strings.Join(p.Cfg.Cmd, " "), `"allow":["example.com","example.org"]`))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws-alice:running", "gws.egress.alice:running"}))
}

// An image of the proxy's tag that is not this program's (anyone can tag
// one) is not run: the program's own is loaded over it.
func TestProxyImageIsCheckedNotTrustedByItsTag(t *testing.T) {
	f := sandboxtest.NewEngine()
	m := proxiedManager(t, f)
	assert.NilError(t, m.checkProxyProgram())
	evil := image.InspectResponse{ID: "sha256:evil", Config: &dockerspec.DockerOCIImageConfig{}, RootFS: image.RootFS{Layers: []string{"sha256:evil"}}}
	evil.Config.Entrypoint, evil.Config.User = []string{proxyBinary, "egress-proxy"}, "65534:65534"
	f.Images[m.proxy.tag] = evil
	_, err := m.Ensure(context.Background(), "alice", allowlistConfig(t, "example.com"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(f.Calls(), "load"))
	assert.Check(t, is.DeepEqual(f.Images[m.proxy.tag].RootFS.Layers, []string{m.proxy.diff}))
}

// A proxy is told the addresses of the engine's host (here a remote
// engine's, by its endpoint): the public mode never dials them.
func TestProxyKnowsTheEngineHost(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.ServeEgressProxies()
	m := newManager(f, func(o *Options) { o.ProxyProgram, o.EngineHost = staticProgram(t), "tcp://44.77.0.9:2376" })
	cfg := bindConfig(t)
	cfg.Egress = egress.ModePublic
	_, err := m.Ensure(context.Background(), "alice", cfg)
	assert.NilError(t, err)
	cmd := f.ByName("gws.egress.alice").Cfg.Cmd
	assert.Check(t, is.Equal(cmd[len(cmd)-2]+" "+cmd[len(cmd)-1], "--host-addrs 44.77.0.9"))
	assert.Check(t, is.Equal(hostOf("ssh://me@engine.example:22"), "engine.example"))
	assert.Check(t, is.Equal(hostOf("unix:///var/run/docker.sock"), ""))
}

// An engine older than API 1.44 takes one network at create: the proxy is
// connected to the egress network after.
func TestProxyOnAnOldEngine(t *testing.T) {
	f := sandboxtest.NewEngine()
	f.APIVersion = "1.41"
	m := proxiedManager(t, f)
	_, err := m.Ensure(context.Background(), "alice", allowlistConfig(t, "example.com"))
	assert.NilError(t, err)
	p := f.ByName("gws.egress.alice")
	assert.Check(t, is.Len(p.Net.EndpointsConfig, 1))
	assert.Check(t, is.DeepEqual(p.Connected, []string{egressNetwork}))
}

// A spy on a pre-made workspace network that only has the name of a
// temporary container of this tool is refused too.
func TestEnsureRefusesASpyNamedLikeATemporaryContainer(t *testing.T) {
	f := sandboxtest.NewEngine()
	spy := f.Add("gws_new_a7c2a7c2a7c2", container.StateRunning, container.Config{}, container.HostConfig{})
	f.Networks["gws.net.alice"] = network.Summary{Name: "gws.net.alice", Driver: "bridge", Internal: true,
		IPAM:       network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.213.0.8/29"}}},
		Containers: map[string]network.EndpointResource{spy.ID: {Name: spy.Name}},
		Options:    map[string]string{optNoHostIP: "true"}, Labels: map[string]string{sandbox.LabelEgress: "network", sandbox.LabelEgressOf: "alice"}}
	_, err := proxiedManager(t, f).Ensure(context.Background(), "alice", allowlistConfig(t, "example.com"))
	assert.Check(t, is.ErrorContains(err, "holds container gws_new_a7c2a7c2a7c2, which is not the workspace's or its proxy's"))
	assert.Check(t, is.DeepEqual(f.Names(), []string{"gws_new:running"})) // Names shortens temporary names
}
