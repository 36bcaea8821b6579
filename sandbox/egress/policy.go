package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Policy is what a workspace's egress proxy enforces: its mode and its
// rules (as ParseRule reads them). A deny rule wins over an allow rule.
type Policy struct {
	Mode  Mode     `json:"mode"`
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// Validate checks that the policy is one a proxy enforces.
func (p Policy) Validate() error {
	if !p.Mode.Proxied() {
		return fmt.Errorf("egress mode %q has no proxy", p.Mode)
	}
	_, err := p.Checker()
	return err
}

// With is the policy with rules added to its allow list (allow) or its
// deny list (!allow), taken out of the other one.
func (p Policy) With(allow bool, rules []Rule) Policy {
	texts := Strings(rules)
	add, drop := &p.Allow, &p.Deny
	if !allow {
		add, drop = drop, add
	}
	*add = canonical(append(slices.Clone(*add), texts...))
	*drop = slices.DeleteFunc(slices.Clone(*drop), func(s string) bool { return slices.Contains(texts, s) })
	if len(*drop) == 0 {
		*drop = nil
	}
	return p
}

// Canonical is the policy with its rules sorted, as a proxy keeps them.
func (p Policy) Canonical() Policy {
	p.Allow, p.Deny = canonical(p.Allow), canonical(p.Deny)
	return p
}

// canonical sorts rule texts (re-read) and drops repeats.
func canonical(in []string) []string {
	rules, err := ParseRules(in)
	if err != nil {
		return in
	}
	if len(rules) == 0 {
		return nil
	}
	return Strings(rules)
}

// Checker decides for a policy.
type Checker struct {
	mode        Mode
	allow, deny []Rule
	host        []netip.Addr // the engine host's own addresses
}

// OnHost gives the checker the addresses of the engine's host: public ones
// too are never an answer to dial, unless a CIDR rule names them (the host
// takes a packet to its own address for itself, past the isolation of its
// containers).
func (c *Checker) OnHost(addrs []netip.Addr) *Checker {
	c.host = addrs
	return c
}

// Checker parses the policy's rules.
func (p Policy) Checker() (*Checker, error) {
	allow, err := ParseRules(p.Allow)
	if err != nil {
		return nil, err
	}
	deny, err := ParseRules(p.Deny)
	if err != nil {
		return nil, err
	}
	return &Checker{mode: p.Mode, allow: allow, deny: deny}, nil
}

// Decision is what a policy says of a destination: allowed or not, by a
// rule (its text), or else for a reason.
type Decision struct {
	Allowed bool
	Rule    string
	Reason  string
}

func allowBy(r Rule) Decision  { return Decision{Allowed: true, Rule: r.String()} }
func denyBy(r Rule) Decision   { return Decision{Rule: r.String(), Reason: "denied by a rule"} }
func deny(why string) Decision { return Decision{Reason: why} }

// Name decides for a host name (lower-case, no trailing dot) on port,
// before any lookup.
func (c *Checker) Name(host string, port uint16) Decision {
	if r, ok := find(c.deny, func(r Rule) bool { return r.MatchesName(host) && r.denies(port) }); ok {
		return denyBy(r)
	}
	if r, ok := find(c.allow, func(r Rule) bool { return r.MatchesName(host) && r.OnPort(port) }); ok {
		return allowBy(r)
	}
	if c.mode == ModePublic && slices.Contains(DefaultPorts, port) {
		return Decision{Allowed: true, Reason: "public"}
	}
	return deny("no rule allows it")
}

// Addr decides for an address given as the destination: only a CIDR rule
// allows one.
func (c *Checker) Addr(a netip.Addr, port uint16) Decision {
	a = a.Unmap()
	if r, ok := find(c.deny, func(r Rule) bool { return r.MatchesAddr(a) && r.denies(port) }); ok {
		return denyBy(r)
	}
	if r, ok := find(c.allow, func(r Rule) bool { return r.MatchesAddr(a) && r.OnPort(port) }); ok {
		return allowBy(r)
	}
	return deny("an address is allowed only by a CIDR rule")
}

// Answer decides for an address that an allowed name resolved to (the
// name's rule allowed the port): a public one, or one in the range of a
// CIDR rule; never one a rule denies.
func (c *Checker) Answer(a netip.Addr, port uint16) Decision {
	a = a.Unmap()
	if r, ok := find(c.deny, func(r Rule) bool { return r.MatchesAddr(a) && r.denies(port) }); ok {
		return denyBy(r)
	}
	onHost := slices.Contains(c.host, a)
	if PublicAddr(a) && !onHost {
		return Decision{Allowed: true}
	}
	if r, ok := find(c.allow, func(r Rule) bool { return r.MatchesAddr(a) }); ok {
		return allowBy(r)
	}
	if onHost {
		return deny(fmt.Sprintf("it resolves to %s, an address of the engine's host", a))
	}
	return deny(fmt.Sprintf("it resolves to %s, not a public address", a))
}

// Explicit says whether an allow rule names host on exactly port: only
// such a rule lets other bytes than TLS through (github.com:22).
func (c *Checker) Explicit(host string, port uint16) bool {
	_, ok := find(c.allow, func(r Rule) bool { return r.Port == port && r.MatchesName(host) })
	return ok
}

// Resolvable says whether the proxy's DNS answers host: when some port
// could be allowed for it.
func (c *Checker) Resolvable(host string) bool { return c.Resolution(host).Allowed }

// Resolution is the decision for a question about host: allowed when host
// is allowed on some port; else the decision for the first default port,
// which names the deny rule that holds, if any.
func (c *Checker) Resolution(host string) Decision {
	ports := slices.Clone(DefaultPorts)
	for _, r := range c.allow {
		if r.MatchesName(host) {
			ports = append(ports, r.Ports()...)
		}
	}
	first := deny("no rule allows it")
	for i, p := range ports {
		d := c.Name(host, p)
		if d.Allowed {
			return d
		}
		if i == 0 {
			first = d
		}
	}
	return first
}

// denies says whether a deny rule holds for port: one without a port holds
// for every port.
func (r Rule) denies(port uint16) bool { return r.Port == 0 || r.Port == port }

func find(rules []Rule, ok func(Rule) bool) (Rule, bool) {
	for _, r := range rules {
		if ok(r) {
			return r, true
		}
	}
	return Rule{}, false
}

// ErrNoRules is the error of rules given for a mode without a proxy.
var ErrNoRules = errors.New("rules are for the allowlist and public modes")
