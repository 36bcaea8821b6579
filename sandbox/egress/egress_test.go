package egress

import (
	"net/netip"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		rule     Rule
	}{
		{in: "Example.COM", want: "example.com", rule: Rule{Host: "example.com"}},
		{in: "api.example.com.:8443", want: "api.example.com:8443", rule: Rule{Host: "api.example.com", Port: 8443}},
		{in: "*.example.com", want: "*.example.com", rule: Rule{Domain: "example.com"}},
		{in: "*.example.com:22", want: "*.example.com:22", rule: Rule{Domain: "example.com", Port: 22}},
		{in: "10.1.2.3/8", want: "10.0.0.0/8", rule: Rule{Prefix: netip.MustParsePrefix("10.0.0.0/8")}},
		{in: "203.0.113.7:5432", want: "203.0.113.7:5432", rule: Rule{Prefix: netip.MustParsePrefix("203.0.113.7/32"), Port: 5432}},
		{in: "2001:db8::/32", want: "2001:db8::/32", rule: Rule{Prefix: netip.MustParsePrefix("2001:db8::/32")}},
		{in: "[2001:db8::/32]:443", want: "[2001:db8::/32]:443", rule: Rule{Prefix: netip.MustParsePrefix("2001:db8::/32"), Port: 443}},
		{in: "localhost", want: "localhost", rule: Rule{Host: "localhost"}},
	} {
		r, err := ParseRule(tc.in)
		assert.NilError(t, err, tc.in)
		assert.Check(t, r == tc.rule, "%s: %+v", tc.in, r)
		assert.Check(t, is.Equal(r.String(), tc.want), tc.in)
		again, err := ParseRule(r.String())
		assert.NilError(t, err)
		assert.Check(t, again == r, "%s does not read back", r)
	}
	for in, want := range map[string]string{
		"":                  "empty",
		"example.com:0":     "port",
		"example.com:65536": "port",
		"example.com:http":  "port",
		"exa_mple.com":      "only letters",
		"*example.com":      "only letters",
		"a.*.example.com":   "only letters",
		"-bad.example.com":  "hyphen",
		"a..b":              "1 to 63",
		"1.2.3":             "all digits",
		"[2001:db8::1":      "without ]",
		"https://x.com":     "not a URL",
		"x.com/path":        "only letters",
	} {
		_, err := ParseRule(in)
		assert.Check(t, is.ErrorContains(err, want), "%q", in)
	}
}

func TestPublicAddr(t *testing.T) {
	for a, want := range map[string]bool{
		"1.1.1.1": true, "8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.20.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "255.255.255.255": false, "224.0.0.1": false, "203.0.113.5": false,
		"::1": false, "fe80::1": false, "fd00:ec2::254": false, "::ffff:127.0.0.1": false, "::ffff:1.1.1.1": true,
		"64:ff9b::a9fe:a9fe": false, "64:ff9b::101:101": true, "::": false,
	} {
		assert.Check(t, is.Equal(PublicAddr(netip.MustParseAddr(a)), want), a)
	}
}

func TestCheckerAllowlist(t *testing.T) {
	c, err := Policy{Mode: ModeAllowlist, Allow: []string{"allowed.test", "*.api.test", "github.com:22", "10.9.0.0/16:5432"}, Deny: []string{"bad.api.test"}}.Checker()
	assert.NilError(t, err)
	for _, tc := range []struct {
		host    string
		port    uint16
		allowed bool
		rule    string
	}{
		{"allowed.test", 443, true, "allowed.test"},
		{"allowed.test", 80, true, "allowed.test"},
		{"allowed.test", 8443, false, ""},
		{"sub.allowed.test", 443, false, ""},
		{"x.api.test", 443, true, "*.api.test"},
		{"a.b.api.test", 80, true, "*.api.test"},
		{"api.test", 443, false, ""},
		{"bad.api.test", 443, false, "bad.api.test"},
		{"github.com", 22, true, "github.com:22"},
		{"github.com", 443, false, ""},
		{"denied.test", 443, false, ""},
	} {
		d := c.Name(tc.host, tc.port)
		assert.Check(t, is.Equal(d.Allowed, tc.allowed), "%s:%d", tc.host, tc.port)
		assert.Check(t, is.Equal(d.Rule, tc.rule), "%s:%d", tc.host, tc.port)
		if !d.Allowed {
			assert.Check(t, d.Reason != "", "%s:%d: a denial says why", tc.host, tc.port)
		}
	}
	assert.Check(t, c.Explicit("github.com", 22))
	assert.Check(t, !c.Explicit("allowed.test", 443), "a rule without a port is not explicit")
	assert.Check(t, c.Resolvable("allowed.test"))
	assert.Check(t, c.Resolvable("github.com"))
	assert.Check(t, !c.Resolvable("bad.api.test"))
	assert.Check(t, !c.Resolvable("denied.test"))
	// A question refused by a deny rule names it (third new-user pass: it
	// was logged as "no rule allows it").
	d := c.Resolution("bad.api.test")
	assert.Check(t, is.Equal(d.Rule, "bad.api.test"))
	assert.Check(t, is.Equal(d.Reason, "denied by a rule"))
	assert.Check(t, is.Equal(c.Resolution("denied.test").Reason, "no rule allows it"))

	// Addresses: only a CIDR rule allows one given as the destination;
	// answers of an allowed name must be public or in an allowed CIDR.
	assert.Check(t, c.Addr(netip.MustParseAddr("10.9.1.1"), 5432).Allowed)
	assert.Check(t, !c.Addr(netip.MustParseAddr("10.9.1.1"), 443).Allowed)
	assert.Check(t, !c.Addr(netip.MustParseAddr("1.1.1.1"), 443).Allowed)
	assert.Check(t, c.Answer(netip.MustParseAddr("1.1.1.1"), 443).Allowed)
	assert.Check(t, !c.Answer(netip.MustParseAddr("169.254.169.254"), 80).Allowed)
	assert.Check(t, is.Contains(c.Answer(netip.MustParseAddr("127.0.0.1"), 443).Reason, "not a public address"))
	assert.Check(t, c.Answer(netip.MustParseAddr("10.9.3.3"), 5432).Allowed)
}

func TestCheckerPublic(t *testing.T) {
	c, err := Policy{Mode: ModePublic, Allow: []string{"db.example.com:5432"}, Deny: []string{"*.evil.test"}}.Checker()
	assert.NilError(t, err)
	assert.Check(t, c.Name("anything.example", 443).Allowed)
	assert.Check(t, c.Name("anything.example", 80).Allowed)
	assert.Check(t, !c.Name("anything.example", 22).Allowed, "other ports need a rule")
	assert.Check(t, c.Name("db.example.com", 5432).Allowed)
	assert.Check(t, !c.Name("x.evil.test", 443).Allowed)
	assert.Check(t, !c.Resolvable("x.evil.test"))
	assert.Check(t, !c.Answer(netip.MustParseAddr("192.168.1.10"), 443).Allowed, "never the LAN")
	assert.Check(t, !c.Addr(netip.MustParseAddr("1.1.1.1"), 443).Allowed, "an address needs a CIDR rule")
}

func TestPolicyWith(t *testing.T) {
	p := Policy{Mode: ModeAllowlist, Allow: []string{"a.test"}}
	r, err := ParseRules([]string{"B.test", "c.test:22"})
	assert.NilError(t, err)
	p = p.With(true, r)
	assert.Check(t, is.DeepEqual(p.Allow, []string{"a.test", "b.test", "c.test:22"}))
	d, _ := ParseRules([]string{"a.test"})
	p = p.With(false, d)
	assert.Check(t, is.DeepEqual(p.Allow, []string{"b.test", "c.test:22"}))
	assert.Check(t, is.DeepEqual(p.Deny, []string{"a.test"}))
	p = p.With(true, d)
	assert.Check(t, is.DeepEqual(p.Allow, []string{"a.test", "b.test", "c.test:22"}))
	assert.Check(t, is.Len(p.Deny, 0))
}

func TestParseMode(t *testing.T) {
	m, err := ParseMode("AllowList")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(m, ModeAllowlist))
	_, err = ParseMode("closed")
	assert.Check(t, is.Error(err, `invalid egress mode "closed": must be "open", "none", "allowlist" or "public"`))
}

// The engine host's own addresses are no answer to dial in public mode,
// public as they may be (the host takes them for itself), unless a CIDR
// rule names them.
func TestHostAddressesAreNoAnswer(t *testing.T) {
	host := netip.MustParseAddr("44.77.0.1")
	c, err := Policy{Mode: ModePublic}.Checker()
	assert.NilError(t, err)
	assert.Check(t, c.Answer(host, 443).Allowed)
	c.OnHost([]netip.Addr{host})
	d := c.Answer(host, 443)
	assert.Check(t, !d.Allowed)
	assert.Check(t, is.Equal(d.Reason, "it resolves to 44.77.0.1, an address of the engine's host"))
	assert.Check(t, c.Answer(netip.MustParseAddr("44.77.0.2"), 443).Allowed)
	c, err = Policy{Mode: ModePublic, Allow: []string{"44.77.0.1/32"}}.Checker()
	assert.NilError(t, err)
	assert.Check(t, c.OnHost([]netip.Addr{host}).Answer(host, 443).Allowed)
}
