package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// errDenied is a connection the policy refused (logged already).
var errDenied = errors.New("denied by the egress policy")

// dialChecked connects to host (a name or an address) on port, for a
// client through kind: the policy decides for the name before any lookup,
// then for each address it resolves to; the address dialled is one it
// allowed. Every decision is logged.
func (s *Server) dialChecked(ctx context.Context, kind, host string, port uint16) (net.Conn, error) {
	c := s.check()
	if a, err := netip.ParseAddr(host); err == nil {
		d := c.Addr(a, port)
		if !d.Allowed {
			s.log(kind, host, port, d, "")
			return nil, errDenied
		}
		return s.dial(ctx, kind, host, port, d, a)
	}
	d := c.Name(host, port)
	if !d.Allowed {
		s.log(kind, host, port, d, "")
		return nil, errDenied
	}
	addrs, err := s.cfg.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		s.logFailed(kind, host, port, d.Rule, "lookup failed: "+lookupReason(err), "")
		return nil, fmt.Errorf("lookup %s: %s", host, lookupReason(err))
	}
	refused := egress.Decision{Rule: d.Rule, Reason: "no address"}
	for _, a := range addrs {
		if ad := c.Answer(a, port); !ad.Allowed {
			refused = egress.Decision{Rule: firstNonEmpty(ad.Rule, d.Rule), Reason: ad.Reason}
			continue
		}
		return s.dial(ctx, kind, host, port, d, a)
	}
	s.log(kind, host, port, refused, "")
	return nil, errDenied
}

func (s *Server) dial(ctx context.Context, kind, host string, port uint16, d egress.Decision, a netip.Addr) (net.Conn, error) {
	addr := net.JoinHostPort(a.Unmap().String(), strconv.Itoa(int(port)))
	conn, err := s.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		s.logFailed(kind, host, port, d.Rule, "connect failed: "+err.Error(), addr)
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	s.log(kind, host, port, d, addr)
	return conn, nil
}

func lookupReason(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return "no such host"
	}
	return err.Error()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// normalName is a host name as the policy reads it: lower-case, without
// a trailing dot.
func normalName(host string) string { return strings.TrimSuffix(strings.ToLower(host), ".") }

// splitHostPort reads HOST[:PORT] (an IPv6 address in brackets) with def
// as the port when it names none.
func splitHostPort(hostport string, def uint16) (string, uint16, error) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return normalName(strings.Trim(hostport, "[]")), def, nil
		}
		return "", 0, err
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return normalName(host), uint16(n), nil
}
