package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// DefaultPorts are the ports of a rule that names none.
var DefaultPorts = []uint16{443, 80}

// Rule names destinations: a host name (Host), every name below a domain
// (Domain, from "*.DOMAIN"), or a range of addresses (Prefix, from a CIDR
// or an address); on Port, or on DefaultPorts when it is 0.
type Rule struct {
	Host   string
	Domain string
	Prefix netip.Prefix
	Port   uint16
}

// ParseRule parses HOST[:PORT], *.DOMAIN[:PORT] or CIDR[:PORT] (an address
// alone is a CIDR of one; an IPv6 one with a port is written in brackets:
// [2001:db8::/32]:443). Names are lower-cased; a trailing dot is dropped.
func ParseRule(s string) (Rule, error) {
	r, err := parseRule(strings.TrimSpace(s))
	if err != nil {
		return Rule{}, fmt.Errorf("invalid rule %q: %w", s, err)
	}
	return r, nil
}

func parseRule(s string) (Rule, error) {
	if s == "" {
		return Rule{}, errors.New("empty")
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok {
		return Rule{}, fmt.Errorf("a rule is HOST[:PORT], *.DOMAIN[:PORT] or CIDR[:PORT], not a URL: leave out %q", scheme+"://")
	}
	dest, port, err := splitPort(s)
	if err != nil {
		return Rule{}, err
	}
	r := Rule{Port: port}
	if p, ok := parsePrefix(dest); ok {
		r.Prefix = p
		return r, nil
	}
	name := strings.TrimSuffix(strings.ToLower(dest), ".")
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		if err := checkName(rest); err != nil {
			return Rule{}, err
		}
		r.Domain = rest
		return r, nil
	}
	if err := checkName(name); err != nil {
		return Rule{}, err
	}
	r.Host = name
	return r, nil
}

// splitPort splits DEST[:PORT]; an IPv6 destination with a port is in
// brackets, one without is not split.
func splitPort(s string) (string, uint16, error) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		dest, after, ok := strings.Cut(rest, "]")
		if !ok {
			return "", 0, errors.New("a [ without ]")
		}
		if after == "" {
			return dest, 0, nil
		}
		p, ok := strings.CutPrefix(after, ":")
		if !ok {
			return "", 0, errors.New("text after ]")
		}
		port, err := parsePort(p)
		return dest, port, err
	}
	if strings.Count(s, ":") > 1 { // an IPv6 address or CIDR, no port
		return s, 0, nil
	}
	dest, p, ok := strings.Cut(s, ":")
	if !ok {
		return s, 0, nil
	}
	port, err := parsePort(p)
	return dest, port, err
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q: must be a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// parsePrefix reads a CIDR or an address (a prefix of one address).
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// checkName accepts a DNS host name: labels of letters, digits and
// hyphens (not at either end), 63 bytes at most, 253 in all.
func checkName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("host name %q: must have 1 to 253 characters", name)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host name %q: each label must have 1 to 63 characters", name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host name %q: a label may not start or end with a hyphen", name)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("host name %q: only letters, digits, hyphens and dots (a wildcard is *.DOMAIN)", name)
			}
		}
	}
	if _, err := strconv.Atoi(strings.ReplaceAll(name, ".", "")); err == nil {
		return fmt.Errorf("host name %q: all digits; an address is written as an address or a CIDR", name)
	}
	return nil
}

// String is the rule as ParseRule reads it.
func (r Rule) String() string {
	var dest string
	switch {
	case r.Host != "":
		dest = r.Host
	case r.Domain != "":
		dest = "*." + r.Domain
	default:
		dest = r.Prefix.String()
		if r.Prefix.IsSingleIP() {
			dest = r.Prefix.Addr().String()
		}
		if r.Port != 0 && r.Prefix.Addr().Is6() {
			dest = "[" + dest + "]"
		}
	}
	if r.Port == 0 {
		return dest
	}
	return dest + ":" + strconv.Itoa(int(r.Port))
}

// Ports are the ports the rule names.
func (r Rule) Ports() []uint16 {
	if r.Port == 0 {
		return DefaultPorts
	}
	return []uint16{r.Port}
}

// OnPort says whether the rule names port.
func (r Rule) OnPort(port uint16) bool { return slices.Contains(r.Ports(), port) }

// MatchesName says whether the rule names host (a name, lower-case, no
// trailing dot), on any of its ports.
func (r Rule) MatchesName(host string) bool {
	switch {
	case r.Host != "":
		return host == r.Host
	case r.Domain != "":
		return strings.HasSuffix(host, "."+r.Domain)
	}
	return false
}

// MatchesAddr says whether the rule's range holds a.
func (r Rule) MatchesAddr(a netip.Addr) bool {
	return r.Prefix.IsValid() && r.Prefix.Contains(a.Unmap())
}

// ParseRules parses each rule; the first bad one is the error.
func ParseRules(in []string) ([]Rule, error) {
	out := make([]Rule, 0, len(in))
	for _, s := range in {
		r, err := ParseRule(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Strings are the rules as text, sorted, without repeats.
func Strings(rules []Rule) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}
