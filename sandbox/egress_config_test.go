package sandbox

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// An egress configuration weaker than it says is refused: rules without
// a proxy, a network given to a workspace that must be alone, and what
// would let a proxied workspace go around its proxy.
func TestCheckEgress(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		err string
	}{
		{Config{}, ""},
		{Config{Egress: egress.ModeAllowlist, Allow: []string{"example.com", "*.pypi.org:8443", "10.0.0.0/8"}, CapAdd: []string{"CHOWN"}}, ""},
		{Config{Egress: "closed"}, `invalid egress mode "closed"`},
		{Config{Allow: []string{"example.com"}}, "egress mode open: rules are for the allowlist and public modes"},
		{Config{Egress: egress.ModeNone, Network: "n"}, "egress mode none has no network"},
		{Config{Egress: egress.ModeAllowlist, Network: "n"}, "a network may not be given"},
		{Config{Egress: egress.ModePublic, EgressDNS: "dns.example"}, "must be an IP address"},
		{Config{Egress: egress.ModeOpen, EgressNetwork: "n"}, "has no egress proxy"},
		{Config{Egress: egress.ModeAllowlist, Allow: []string{"exa_mple.com"}}, `invalid rule "exa_mple.com"`},
		{Config{Egress: egress.ModePublic, CapAdd: []string{"cap_net_raw"}}, "capability cap_net_raw would let the workspace go around its proxy"},
		{Config{Egress: egress.ModePublic, CapAdd: []string{"SYS_ADMIN"}}, "capability SYS_ADMIN would let"},
		{Config{Egress: egress.ModeAllowlist, CapAdd: []string{"ALL"}}, "capability ALL would let"},
		{Config{Egress: egress.ModeAllowlist, SecurityOpt: []string{"systempaths=unconfined"}}, "a writable /proc/sys"},
		{Config{Egress: egress.ModeAllowlist, Env: []string{"https_proxy=http://x:1"}}, "https_proxy is set to the workspace's proxy"},
		{Config{Egress: egress.ModeAllowlist, Env: []string{"All_Proxy=socks5://x:1"}}, "All_Proxy is set to the workspace's proxy"},
	} {
		err := tc.cfg.checkEgress()
		if tc.err == "" {
			assert.Check(t, err, "%+v", tc.cfg)
			continue
		}
		assert.Check(t, is.ErrorContains(err, tc.err), "%+v", tc.cfg)
	}
}
