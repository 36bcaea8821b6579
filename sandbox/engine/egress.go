package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress"
	"github.com/docker-workspace/docker-workspace/sandbox/egress/proxy"
)

// What carries a workspace's egress, on one engine:
//   - open: the shared network openNetwork, a bridge on which containers
//     cannot reach each other (inter-container traffic off);
//   - none: no network;
//   - allowlist and public: a network of its own (internal, no address of
//     the host on it), whose only other member is its egress proxy, a
//     container of the proxy image at the network's second address, that
//     also joins the egress network (shared, inter-container traffic off)
//     to reach out. The proxy keeps its policy in a volume of its own.
const (
	openNetwork   = sandbox.OpenNetwork
	egressNetwork = "gws.egress"
	egressPrefix  = "gws."          // of the names below, never a workspace's (gws-…)
	proxyUID      = 65534           // nobody
	subnetPool    = "10.213.0.0/16" // where each workspace's network gets a /29
	optICC        = "com.docker.network.bridge.enable_icc"
	optNoHostIP   = "com.docker.network.bridge.inhibit_ipv4"
	proxyMemory   = 256 << 20
	proxyPids     = 256
	subnetBits    = 29
	subnetRetries = 8
	// apiMultipleNetworks is the first API whose container create takes
	// more than one network.
	apiMultipleNetworks = "1.44"
)

// egressNames are the names of what carries the egress of the workspace
// whose container is named name: its proxy container and the proxy's
// state volume ("gws.egress.<name>"), its network ("gws.net.<name>").
func egressNames(name string) (proxyName, netName string) {
	rest := strings.TrimPrefix(name, sandbox.NamePrefix)
	return egressPrefix + "egress." + rest, egressPrefix + "net." + rest
}

// egressPlan is how a new workspace container reaches the network.
type egressPlan struct {
	mode    egress.Mode
	network string     // its network ("none": none)
	proxyIP netip.Addr // its proxy (allowlist, public)
}

// egressFor makes what the egress of e's new container needs: the shared
// network of open mode, or the network of its own and (beside the
// container, e.proxy) the running proxy of a proxied mode. A proxy that
// cannot be made fails the create: a workspace is never made more open
// than its mode.
func (m *Manager) egressFor(ctx context.Context, e *ensurer) (egressPlan, error) {
	cfg := e.cfg
	plan := egressPlan{mode: cfg.EgressMode(), network: cfg.Network}
	switch {
	case plan.mode == egress.ModeNone:
		plan.network = string(container.NetworkMode("none"))
	case plan.mode == egress.ModeOpen && cfg.Network == "":
		if err := m.sharedNetwork(ctx, e.shared, openNetwork, "open"); err != nil {
			return plan, err
		}
		plan.network = openNetwork
	case plan.mode.Proxied():
		proxyName, netName := egressNames(e.name)
		ip, err := m.workspaceNetwork(ctx, netName, e.subdir)
		if err != nil {
			return plan, err
		}
		plan.network, plan.proxyIP = netName, ip
		// Made while the container is: it must run before the container
		// is committed (create waits for it), never after.
		e.proxy = goPending(func(made func()) error {
			return m.runProxy(ctx, e.shared, proxyName, netName, e.subdir, ip, cfg, made)
		})
	}
	return plan, nil
}

// apply sets the plan on a new container's configuration: its network;
// for a proxied mode, its address on it, the proxy as its DNS server and
// in the proxy variables, raw sockets and IPv6 taken away.
func (p egressPlan) apply(cc *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) *network.NetworkingConfig {
	if p.network != "" {
		hc.NetworkMode = container.NetworkMode(p.network)
	}
	if !p.mode.Proxied() {
		return nc
	}
	// The address after its proxy's: it starts beside the proxy, and an
	// engine that takes addresses at start (20.10) must not give it the
	// proxy's.
	nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		p.network: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: p.proxyIP.Next().String()}},
	}}
	hc.DNS = []string{p.proxyIP.String()}
	hc.DNSSearch, hc.DNSOptions, hc.ExtraHosts = nil, nil, nil
	if !slices.ContainsFunc(hc.CapDrop, func(c string) bool { return strings.EqualFold(c, "ALL") }) {
		hc.CapDrop = append(slices.Clone(hc.CapDrop), "NET_RAW")
	}
	hc.Sysctls = map[string]string{"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
	url := "http://" + p.proxyIP.String() + ":" + strconv.Itoa(proxy.DefaultPorts.Proxy)
	cc.Env = append(slices.Clone(cc.Env),
		"HTTP_PROXY="+url, "HTTPS_PROXY="+url, "http_proxy="+url, "https_proxy="+url,
		"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1")
	return nc
}

// sharedNetwork makes sure the engine has the shared network name (open,
// or the proxies' egress), made by this tool: inter-container traffic
// off. A network of that name made otherwise is refused, not used.
func (m *Manager) sharedNetwork(ctx context.Context, s *sandbox.Shared, name, role string) error {
	if _, ok := m.sharedNets.Load(name); ok {
		return nil // checked by an earlier call of this Manager (a create that misses it forgets it)
	}
	_, err := s.Do("network:"+name, func() (any, error) {
		for range 2 {
			n, err := m.client.NetworkInspect(ctx, name, network.InspectOptions{})
			if err == nil {
				if err := checkShared(n, role); err != nil {
					return nil, err
				}
				m.sharedNets.Store(name, true)
				return nil, nil
			}
			if !cerrdefs.IsNotFound(err) {
				return nil, fmt.Errorf("inspect network %s: %w", name, err)
			}
			_, err = m.client.NetworkCreate(ctx, name, network.CreateOptions{
				Driver: "bridge", Options: map[string]string{optICC: "false"},
				Labels: map[string]string{sandbox.LabelEgress: role},
			})
			if err == nil || !cerrdefs.IsConflict(err) {
				return nil, wrapErr(err, "create network "+name)
			}
		}
		return nil, fmt.Errorf("network %s: made and removed meanwhile; try again", name)
	})
	return err
}

func checkShared(n network.Inspect, role string) error {
	if n.Labels[sandbox.LabelEgress] != role || n.Options[optICC] != "false" || n.Driver != "bridge" {
		return fmt.Errorf("%w: network %s was not made by this tool (a bridge with %s=false, labelled %s=%s): "+
			"its containers could reach each other; remove it or give another network", sandbox.ErrNotSupported, n.Name, optICC, sandbox.LabelEgress, role)
	}
	return nil
}

// egressNetworkOf makes sure the network the proxies reach out through
// exists: the configured one, or the tool's own.
func (m *Manager) egressNetworkOf(ctx context.Context, s *sandbox.Shared, cfg sandbox.Config) (string, error) {
	if cfg.EgressNetwork == "" {
		return egressNetwork, m.sharedNetwork(ctx, s, egressNetwork, "egress")
	}
	if _, err := m.client.NetworkInspect(ctx, cfg.EgressNetwork, network.InspectOptions{}); err != nil {
		return "", fmt.Errorf("egress network %s: %w", cfg.EgressNetwork, err)
	}
	return cfg.EgressNetwork, nil
}

// workspaceNetwork makes sure the workspace has its network (internal: no
// route out; no address of the host on it), and returns its proxy's
// address: the subnet's second one.
func (m *Manager) workspaceNetwork(ctx context.Context, name, subdir string) (netip.Addr, error) {
	for attempt := 0; ; attempt++ {
		n, err := m.client.NetworkInspect(ctx, name, network.InspectOptions{})
		if err == nil {
			if err := m.checkTempMembers(ctx, n, subdir); err != nil {
				return netip.Addr{}, err
			}
			return workspaceNetworkProxyIP(n, subdir)
		}
		if !cerrdefs.IsNotFound(err) {
			return netip.Addr{}, fmt.Errorf("inspect network %s: %w", name, err)
		}
		subnet, err := m.freeSubnet(ctx, name, attempt)
		if err != nil {
			return netip.Addr{}, err
		}
		no := false
		_, err = m.client.NetworkCreate(ctx, name, network.CreateOptions{
			Driver: "bridge", Internal: true, EnableIPv6: &no,
			IPAM:    &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet.String()}}},
			Options: map[string]string{optNoHostIP: "true", optICC: "true"},
			Labels:  map[string]string{sandbox.LabelEgress: "network", sandbox.LabelEgressOf: subdir},
		})
		if err != nil && ctx.Err() != nil {
			m.removeAbandonedNetwork(ctx, name, subdir)
			return netip.Addr{}, fmt.Errorf("create network %s: %w", name, err)
		}
		switch {
		case err == nil, cerrdefs.IsConflict(err) && attempt < subnetRetries:
			continue // look at what is there now
		case attempt < subnetRetries && strings.Contains(err.Error(), "overlaps"):
			continue // another network took the subnet meanwhile
		}
		return netip.Addr{}, fmt.Errorf("create network %s: %w", name, err)
	}
}

// workspaceNetworkProxyIP checks that network n is the one this tool made
// for subdir, with nothing else on it, and returns its proxy's address.
func workspaceNetworkProxyIP(n network.Inspect, subdir string) (netip.Addr, error) {
	if n.Labels[sandbox.LabelEgress] != "network" || n.Labels[sandbox.LabelEgressOf] != subdir || !n.Internal || n.Options[optNoHostIP] != "true" {
		return netip.Addr{}, fmt.Errorf("%w: network %s is not the one this tool makes for workspace %q (internal, no address of the host, labelled %s=%s)",
			sandbox.ErrNotSupported, n.Name, subdir, sandbox.LabelEgressOf, subdir)
	}
	// Nothing else on it: a container put there before (by whoever could
	// make a network of that name) would be the workspace's neighbour.
	name := sandbox.ContainerName(subdir)
	proxyName, _ := egressNames(name)
	for _, e := range n.Containers {
		if e.Name != name && e.Name != proxyName && !isTempName(e.Name) {
			return netip.Addr{}, strangerOn(n.Name, subdir, e.Name)
		}
	}
	for _, c := range n.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
			return p.Masked().Addr().Next().Next(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("network %s has no IPv4 subnet", n.Name)
}

// removeAbandonedNetwork removes the network of subdir that a create this
// process gave up on (interrupted) may still make, once it is made.
func (m *Manager) removeAbandonedNetwork(ctx context.Context, name, subdir string) {
	_ = m.cleanup(ctx, func(ctx context.Context) error {
		for range 20 {
			n, err := m.client.NetworkInspect(ctx, name, network.InspectOptions{})
			switch {
			case err == nil && n.Labels[sandbox.LabelEgressOf] == subdir && len(n.Containers) == 0:
				return m.client.NetworkRemove(ctx, n.ID)
			case !cerrdefs.IsNotFound(err):
				return err // another's, in use, or the engine does not answer
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		return nil
	})
}

func strangerOn(netName, subdir, ctr string) error {
	// Not the caller's input: the engine's state (exit 1, not 125).
	return fmt.Errorf("refused: network %s of workspace %q holds container %s, which is not the workspace's or its proxy's: remove it from the network",
		netName, subdir, ctr)
}

// checkTempMembers refuses a container on a workspace's network that only
// has the name of a temporary container of this tool: one of the
// workspace's is labelled with its subdir and never runs under that name.
func (m *Manager) checkTempMembers(ctx context.Context, n network.Inspect, subdir string) error {
	for _, e := range n.Containers {
		if !isTempName(e.Name) {
			continue
		}
		c, err := m.client.ContainerInspect(ctx, e.Name)
		if cerrdefs.IsNotFound(err) {
			continue // renamed or removed meanwhile
		}
		if err != nil || c.Config == nil || c.Config.Labels[sandbox.LabelSubdir] != subdir || (c.State != nil && c.State.Running) {
			return strangerOn(n.Name, subdir, e.Name)
		}
	}
	return nil
}

// freeSubnet is a /29 of the pool that no network of the engine overlaps:
// the first one from a place that name decides (attempt moves it on).
func (m *Manager) freeSubnet(ctx context.Context, name string, attempt int) (netip.Prefix, error) {
	nets, err := m.client.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list networks: %w", err)
	}
	var used []netip.Prefix
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, p.Masked())
			}
		}
	}
	pool := netip.MustParsePrefix(subnetPool)
	blocks := 1 << (subnetBits - pool.Bits())
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	start := int(h.Sum32()%uint32(blocks)) + attempt*7919
	for i := range blocks {
		p := nthSubnet(pool, (start+i)%blocks)
		if !slices.ContainsFunc(used, p.Overlaps) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d left in %s for network %s", subnetBits, subnetPool, name)
}

func nthSubnet(pool netip.Prefix, n int) netip.Prefix {
	b := pool.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n) << (32 - subnetBits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), subnetBits)
}

// runProxy makes sure the workspace's egress proxy runs: made (at ip, on
// the workspace's network and the egress network) when missing, made
// again when it runs another image than this program's or another
// configuration, started when it is not running. It calls made once the
// proxy exists, before it starts it.
func (m *Manager) runProxy(ctx context.Context, s *sandbox.Shared, name, netName, subdir string, ip netip.Addr, cfg sandbox.Config, made func()) error {
	img, err := m.proxyImage(ctx, s)
	if err != nil {
		return err
	}
	for range 3 {
		c, err := m.client.ContainerInspect(ctx, name)
		switch {
		case cerrdefs.IsNotFound(err):
			if err := m.makeProxy(ctx, s, name, netName, subdir, ip, img, cfg); err != nil && !errors.Is(err, errRace) {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("inspect container %s: %w", name, err)
		}
		if err := checkProxy(c, subdir); err != nil {
			return err
		}
		if c.Config.Image != img || !slices.Equal(c.Config.Cmd, m.proxyCmd(ctx, ip, subdir, cfg)) {
			// Another version, or another configuration (its rules changed
			// live are dropped with it: the configuration's are in force).
			if err := m.client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("remove the egress proxy %s of another version or configuration: %w", name, err)
			}
			continue
		}
		made()
		if c.State != nil && c.State.Running {
			return nil
		}
		if err := m.client.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("start the egress proxy %s: %w", name, err)
		}
		return nil
	}
	// A concurrent ensure of the workspace that lost its race took it back
	// meanwhile (new-user pass 12: one caller of several failed): the
	// ensure looks again, and finds the winner's.
	return fmt.Errorf("the egress proxy %s was removed while it was made: %w", name, errRace)
}

// checkProxy refuses a container of the proxy's name that this tool did
// not make for subdir.
func checkProxy(c container.InspectResponse, subdir string) error {
	if c.Config == nil || c.Config.Labels[sandbox.LabelEgress] != "proxy" || c.Config.Labels[sandbox.LabelEgressOf] != subdir {
		return fmt.Errorf("%w: container %s is not the egress proxy of workspace %q", sandbox.ErrNotThisWorkspace, trimSlash(c.Name), subdir)
	}
	return nil
}

func (m *Manager) makeProxy(ctx context.Context, s *sandbox.Shared, name, netName, subdir string, ip netip.Addr, img string, cfg sandbox.Config) error {
	outNet, err := m.egressNetworkOf(ctx, s, cfg)
	if err != nil {
		return err
	}
	labels := map[string]string{sandbox.LabelEgress: "proxy", sandbox.LabelEgressOf: subdir, sandbox.LabelCreator: thisProcess()}
	if cfg.ComposeProject != "" { // prune --filter compose-project= finds it once its workspace is gone
		labels[sandbox.LabelComposeProject] = cfg.ComposeProject
	}
	init := false
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(netName), CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges"}, ReadonlyRootfs: true,
		Sysctls:       map[string]string{"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ip_forward": "0"},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		Init:          &init,
		Resources:     container.Resources{Memory: proxyMemory, PidsLimit: ptr(int64(proxyPids))},
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: name, Target: proxy.StateDir,
			VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{sandbox.LabelEgress: "state", sandbox.LabelEgressOf: subdir}}}},
	}
	if cfg.EgressDNS != "" {
		hc.DNS = []string{cfg.EgressDNS}
	}
	cmd := m.proxyCmd(ctx, ip, subdir, cfg)
	endpoints := map[string]*network.EndpointSettings{netName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip.String()}}}
	// Both networks at once where the engine takes them (API 1.44+), else
	// the egress network after.
	connectAfter := versions.LessThan(m.client.ClientVersion(), apiMultipleNetworks)
	if !connectAfter {
		endpoints[outNet] = &network.EndpointSettings{}
	}
	resp, err := m.client.ContainerCreate(ctx, &container.Config{
		Image: img, User: fmt.Sprintf("%d:%d", proxyUID, proxyUID), Labels: labels,
		Cmd: cmd,
	}, hc, &network.NetworkingConfig{EndpointsConfig: endpoints}, nil, name)
	if cerrdefs.IsConflict(err) {
		return errRace // another ensure made it: look again
	}
	if err != nil {
		if ctx.Err() != nil {
			m.removeAbandoned(ctx, name, func(l map[string]string) bool {
				return l[sandbox.LabelEgressOf] == subdir && l[sandbox.LabelCreator] == thisProcess()
			})
		}
		return fmt.Errorf("create the egress proxy %s: %w", name, err)
	}
	if !connectAfter {
		return nil
	}
	if err := m.client.NetworkConnect(ctx, outNet, resp.ID, nil); err != nil {
		_ = m.cleanup(ctx, func(ctx context.Context) error {
			return m.client.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
		})
		return fmt.Errorf("connect the egress proxy %s to network %s: %w", name, outNet, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// engineHostAddrs are the public addresses of the engine's host: this
// host's, for a local engine; those its endpoint's host name resolves to,
// for a remote one (best effort: none when it does not resolve).
func engineHostAddrs(ctx context.Context, local bool, endpointHost string) []netip.Addr {
	var out []netip.Addr
	if local {
		ifaddrs, _ := net.InterfaceAddrs()
		for _, a := range ifaddrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p.Addr().Unmap())
			}
		}
	} else if host := hostOf(endpointHost); host != "" {
		if a, err := netip.ParseAddr(host); (err == nil && a.IsLoopback()) || host == "localhost" {
			return engineHostAddrs(ctx, true, "") // this host, through a port
		} else if err == nil {
			out = append(out, a.Unmap())
		} else {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			addrs, _ := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			for _, a := range addrs {
				out = append(out, a.Unmap())
			}
		}
	}
	return slices.DeleteFunc(out, func(a netip.Addr) bool { return !egress.PublicAddr(a) })
}

// hostOf is the host of an endpoint (tcp://HOST:PORT, ssh://USER@HOST);
// empty for a local one (unix://, npipe://).
func hostOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "unix" || u.Scheme == "npipe" {
		return ""
	}
	return u.Hostname()
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// proxyCmd is the command of the proxy of a workspace of cfg: its
// address, its policy, the addresses of the engine's host (as this
// process finds them: a proxy made with others is made again).
func (m *Manager) proxyCmd(ctx context.Context, ip netip.Addr, subdir string, cfg sandbox.Config) []string {
	cmd := []string{"serve", "--listen", ip.String(), "--workspace", subdir, "--policy", proxyPolicyArg(cfg)}
	if host := m.hostAddrs(ctx); len(host) > 0 {
		cmd = append(cmd, "--host-addrs", joinAddrs(host))
	}
	return cmd
}

// proxyPolicyArg is the --policy argument of the proxy of a workspace of
// cfg: the policy it starts from.
func proxyPolicyArg(cfg sandbox.Config) string {
	b, _ := json.Marshal(cfg.ProxyPolicy())
	return string(b)
}

// removeEgress removes what carried the egress of the workspace whose
// container is named name (its proxy, the proxy's state, its network),
// when the workspace has no container any more; never data of the
// workspace. What is gone already is fine.
func (m *Manager) removeEgress(ctx context.Context, name, subdir string) error {
	proxyName, netName := egressNames(name)
	return m.cleanup(ctx, func(ctx context.Context) error {
		if c, err := m.client.ContainerInspect(ctx, proxyName); err == nil && checkProxy(c, subdir) == nil {
			if err := m.client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("remove the egress proxy %s: %w", proxyName, err)
			}
		}
		if v, err := m.client.VolumeInspect(ctx, proxyName); err == nil && v.Labels[sandbox.LabelEgressOf] == subdir {
			if err := m.client.VolumeRemove(ctx, proxyName, true); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("remove volume %s: %w", proxyName, err)
			}
		}
		if n, err := m.client.NetworkInspect(ctx, netName, network.InspectOptions{}); err == nil && n.Labels[sandbox.LabelEgressOf] == subdir {
			if err := m.client.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("remove network %s: %w", netName, err)
			}
		}
		return nil
	})
}

// recordedEgress is the egress mode a container recorded (open for one
// that recorded none: it was made on a shared network).
func recordedEgress(labels map[string]string) egress.Mode {
	if s := recordedSpec(labels); s.Egress != "" {
		return s.Egress
	}
	return egress.ModeOpen
}

// recordedSpec is the spec a container recorded (zero when none).
func recordedSpec(labels map[string]string) sandbox.Spec {
	s, _ := sandbox.RecordedSpec(labels)
	return s
}

// proxyOf makes sure the egress proxy of an existing proxied workspace
// (its labels) runs: made again when it is gone, at its address, out
// through the network, with the DNS server and the rules the workspace
// recorded (and the rules changed live since, that its state kept).
func (m *Manager) proxyOf(ctx context.Context, s *sandbox.Shared, labels map[string]string, cfg sandbox.Config) error {
	spec := recordedSpec(labels)
	if !spec.Egress.Proxied() {
		return nil
	}
	subdir := labels[sandbox.LabelSubdir]
	proxyName, netName := egressNames(sandbox.ContainerName(subdir))
	ip, err := m.workspaceNetwork(ctx, netName, subdir)
	if err != nil {
		return err
	}
	cfg.Egress, cfg.Allow, cfg.EgressNetwork, cfg.EgressDNS = spec.Egress, spec.Allow, spec.EgressNetwork, spec.EgressDNS
	return m.runProxy(ctx, s, proxyName, netName, subdir, ip, cfg, func() {})
}

// stopProxy stops the egress proxy of a workspace that was stopped (best
// effort: a proxy left running only serves a stopped workspace).
func (m *Manager) stopProxy(ctx context.Context, labels map[string]string) {
	if !recordedEgress(labels).Proxied() {
		return
	}
	proxyName, _ := egressNames(sandbox.ContainerName(labels[sandbox.LabelSubdir]))
	_ = m.cleanup(ctx, func(ctx context.Context) error {
		t := 5
		return m.client.ContainerStop(ctx, proxyName, container.StopOptions{Timeout: &t})
	})
}

// orphanProxies are the egress proxies of this engine whose workspace has
// no container (left by an ensure that was killed, or a workspace removed
// by hand): at once when the process that made it ran on this host and is
// gone, else when it was made more than staleAfter ago.
func (m *Manager) orphanProxies(ctx context.Context) ([]container.Summary, error) {
	proxies, err := m.client.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelEgress+"=proxy"))})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	ours, err := m.listOurs(ctx)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, c := range ours {
		have[c.Labels[sandbox.LabelSubdir]] = true
	}
	var out []container.Summary
	for _, p := range proxies {
		if !have[p.Labels[sandbox.LabelEgressOf]] && (creatorGone(p.Labels[sandbox.LabelCreator]) || time.Since(time.Unix(p.Created, 0)) > staleAfter) {
			out = append(out, p)
		}
	}
	return out, nil
}

// wrapErr names what failed, or is nil.
func wrapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// undoEgress removes what a failed create of e made for its egress (the
// proxy and the network of a proxied mode), unless another container of
// the workspace (made, being made, or being replaced) uses it. self is the
// failed create's own container, if it made one.
func (m *Manager) undoEgress(ctx context.Context, e *ensurer, self string) {
	_ = e.waitProxy() // what it makes is removed once it is made
	if !e.cfg.EgressMode().Proxied() || m.othersMake(ctx, e.subdir, self) {
		return
	}
	_ = m.removeEgress(ctx, e.name, e.subdir)
}
