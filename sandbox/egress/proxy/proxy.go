// Package proxy is a workspace's egress proxy: it runs in a container of
// its own, the workspace's only neighbour on the workspace's internal
// network, and serves there an HTTP proxy (CONNECT included), a TLS
// listener routed by server name, an HTTP listener routed by Host, and the
// workspace's DNS. Every connection is decided by an egress.Policy before
// anything is looked up, and every decision is written, one JSON line
// each, to the log (the container's output).
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// Ports are the ports the proxy serves on its address.
type Ports struct {
	Proxy, TLS, HTTP, DNS int
}

// DefaultPorts are the ports a workspace's clients expect.
var DefaultPorts = Ports{Proxy: 3128, TLS: 443, HTTP: 80, DNS: 53}

// Resolver looks host names up (net.Resolver does).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config is what a proxy serves.
type Config struct {
	Listen    netip.Addr    // the address on the workspace's network
	Ports     Ports         // zero: DefaultPorts
	Workspace string        // named in each log line
	State     string        // the directory of the policy it keeps (and its control socket); "": none
	Policy    egress.Policy // the configured policy: in force unless State holds one changed live from it
	Host      []netip.Addr  // the addresses of the engine's host: never dialled but by a CIDR rule
	Log       io.Writer     // the decisions, a JSON line each
	Resolver  Resolver      // nil: net.DefaultResolver
	Dial      func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Server is a running proxy.
type Server struct {
	cfg     Config
	mu      sync.RWMutex
	policy  egress.Policy
	checker *egress.Checker
	tunnels map[*tunnel]struct{} // open connections, checked again when the policy changes
	logMu   sync.Mutex
	sockets *sockets // bound by Listen
}

// tunnel is an open connection to a destination: the host asked for,
// the port, and the address dialled.
type tunnel struct {
	host  string
	port  uint16
	addr  netip.Addr
	conns []io.Closer
}

// New makes a proxy of cfg, with the policy its state holds, or else
// cfg.Policy.
func New(cfg Config) (*Server, error) {
	if cfg.Ports == (Ports{}) {
		cfg.Ports = DefaultPorts
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	cfg.Policy = cfg.Policy.Canonical()
	s := &Server{cfg: cfg}
	kept, err := s.readState()
	switch {
	case err == nil && reflect.DeepEqual(kept.Configured, cfg.Policy):
		err = s.set(kept.Policy, false) // the rules changed live since
	case err == nil, errors.Is(err, os.ErrNotExist):
		err = s.set(cfg.Policy, true) // a new proxy, or a new configuration
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Policy is the policy in force.
func (s *Server) Policy() egress.Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.policy
}

// SetPolicy puts p in force, and keeps it in the state.
func (s *Server) SetPolicy(p egress.Policy) error { return s.set(p, true) }

func (s *Server) set(p egress.Policy, keep bool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	c, err := p.Checker()
	if err != nil {
		return err
	}
	c.OnHost(s.cfg.Host)
	if keep {
		if err := s.writeState(p); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.policy, s.checker = p, c
	var cut []*tunnel
	for t := range s.tunnels {
		if !t.allowed(c) {
			cut = append(cut, t)
		}
	}
	s.mu.Unlock()
	for _, t := range cut {
		for _, conn := range t.conns {
			_ = conn.Close()
		}
	}
	return nil
}

// allowed says whether the policy of c allows host (a name or an address)
// on port now.
func allowed(c *egress.Checker, host string, port uint16) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return c.Addr(a, port).Allowed
	}
	return c.Name(host, port).Allowed
}

// allowed says whether the policy of c allows the tunnel now: its host on
// its port, and the address it was dialled to.
func (t *tunnel) allowed(c *egress.Checker) bool {
	return allowed(c, t.host, t.port) && (!t.addr.IsValid() || c.Answer(t.addr, t.port).Allowed)
}

// track keeps an open connection to host:port, dialled to up's address,
// until untrack: a change of the policy that denies it closes conns.
func (s *Server) track(host string, port uint16, up net.Conn, conns ...io.Closer) (untrack func()) {
	t := &tunnel{host: host, port: port, addr: remoteAddr(up), conns: append([]io.Closer{up}, conns...)}
	s.mu.Lock()
	if s.tunnels == nil {
		s.tunnels = map[*tunnel]struct{}{}
	}
	s.tunnels[t] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.tunnels, t)
		s.mu.Unlock()
	}
}

// remoteAddr is the address a connection was dialled to (invalid when it
// is not an IP connection).
func remoteAddr(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// trackedConn is a connection tracked until it is closed.
type trackedConn struct {
	net.Conn
	untrack func()
}

func (c trackedConn) Close() error {
	c.untrack()
	return c.Conn.Close()
}

func (s *Server) check() *egress.Checker {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checker
}

const stateFile = "policy.json"

// state is what a proxy keeps: the policy in force, and the configured
// one it started from (a proxy started with another configuration starts
// from that instead).
type state struct {
	Configured egress.Policy `json:"configured"`
	Policy     egress.Policy `json:"policy"`
}

func (s *Server) readState() (state, error) {
	var st state
	if s.cfg.State == "" {
		return st, os.ErrNotExist
	}
	b, err := os.ReadFile(filepath.Join(s.cfg.State, stateFile))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("the kept policy: %w", err)
	}
	return st, nil
}

func (s *Server) writeState(p egress.Policy) error {
	if s.cfg.State == "" {
		return nil
	}
	b, err := json.Marshal(state{Configured: s.cfg.Policy, Policy: p})
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.cfg.State, stateFile+".new")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.cfg.State, stateFile))
}

// Entry is one decision, as the log records it.
type Entry struct {
	Time      time.Time `json:"time"`
	Workspace string    `json:"workspace,omitempty"`
	Kind      string    `json:"kind"` // dns, connect, tls, http
	Host      string    `json:"host"`
	Port      uint16    `json:"port,omitempty"`
	Decision  string    `json:"decision"` // allow, deny; error: allowed, but the lookup or the connection failed
	Rule      string    `json:"rule,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Addr      string    `json:"addr,omitempty"` // the address dialled
}

func (s *Server) log(kind, host string, port uint16, d egress.Decision, addr string) {
	decision := "deny"
	if d.Allowed {
		decision = "allow"
	}
	s.write(Entry{Kind: kind, Host: host, Port: port, Decision: decision, Rule: d.Rule, Reason: d.Reason, Addr: addr})
}

// logFailed records a destination the policy allowed (by rule) that could
// not be reached: an error of the network, never a denial.
func (s *Server) logFailed(kind, host string, port uint16, rule, reason, addr string) {
	s.write(Entry{Kind: kind, Host: host, Port: port, Decision: "error", Rule: rule, Reason: reason, Addr: addr})
}

func (s *Server) write(e Entry) {
	e.Time, e.Workspace = time.Now().UTC(), s.cfg.Workspace
	b, _ := json.Marshal(e)
	s.logMu.Lock()
	defer s.logMu.Unlock()
	_, _ = s.cfg.Log.Write(append(b, '\n'))
}

// sockets are the proxy's listeners, every one bound before any is
// served: a client that reaches one port finds them all.
type sockets struct {
	dnsUDP                         net.PacketConn
	dns, proxy, tls, http, control net.Listener
}

func (l *sockets) close() {
	if l.dnsUDP != nil {
		_ = l.dnsUDP.Close()
	}
	for _, ln := range []net.Listener{l.dns, l.proxy, l.tls, l.http, l.control} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// Listen binds every socket of the proxy (Serve then serves them): once
// it returns, the proxy answers on each of its ports. Serve calls it when
// it was not.
func (s *Server) Listen(ctx context.Context) error {
	addr := func(port int) string { return net.JoinHostPort(s.cfg.Listen.String(), strconv.Itoa(port)) }
	var lc net.ListenConfig
	l := &sockets{}
	var err error
	if l.dnsUDP, err = lc.ListenPacket(ctx, "udp", addr(s.cfg.Ports.DNS)); err != nil {
		return err
	}
	for _, b := range []struct {
		ln   *net.Listener
		port int
	}{{&l.dns, s.cfg.Ports.DNS}, {&l.proxy, s.cfg.Ports.Proxy}, {&l.tls, s.cfg.Ports.TLS}, {&l.http, s.cfg.Ports.HTTP}} {
		if *b.ln, err = lc.Listen(ctx, "tcp", addr(b.port)); err != nil {
			l.close()
			return err
		}
	}
	if s.cfg.State != "" {
		if l.control, err = s.listenControl(ctx); err != nil {
			l.close()
			return err
		}
	}
	s.sockets = l
	return nil
}

// Serve serves until ctx ends or a listener fails.
func (s *Server) Serve(parent context.Context) error {
	if s.sockets == nil {
		if err := s.Listen(parent); err != nil {
			return err
		}
	}
	l := s.sockets
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	serves := []func(context.Context) error{
		func(ctx context.Context) error { return s.serveDNS(ctx, l.dnsUDP, l.dns) },
		func(ctx context.Context) error { return s.serveProxy(ctx, l.proxy) },
		func(ctx context.Context) error { return s.serveTLS(ctx, l.tls) },
		func(ctx context.Context) error { return s.serveHTTP(ctx, l.http) },
	}
	if l.control != nil {
		serves = append(serves, func(ctx context.Context) error { return s.serveOn(ctx, l.control, s.control) })
	}
	var wg sync.WaitGroup
	var once sync.Once
	var err error
	for _, serve := range serves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := serve(ctx)
			once.Do(func() { err = e; cancel() }) // the first to end ends them all
		}()
	}
	wg.Wait()
	if parent.Err() != nil {
		return nil
	}
	return err
}
