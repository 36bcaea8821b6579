package sandboxtest

import (
	"encoding/json"
	"slices"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// ServeEgressProxies makes the execs of f act as the control program of
// egress proxies ("… ctl get|allow|deny RULE…" in a container made with
// "--policy JSON"): each proxy's policy is the one it was made with,
// changed by allow and deny, printed as the proxy prints it.
func (f *Engine) ServeEgressProxies() {
	policies := map[string]egress.Policy{}
	f.OnExec = func(c *Ctr, cmd []string) (string, string, int) {
		ctl := slices.Index(cmd, "ctl")
		if ctl < 0 || ctl+1 >= len(cmd) {
			return "", "not the egress proxy's ctl", 126
		}
		p, ok := policies[c.Name]
		if i := slices.Index(c.Cfg.Cmd, "--policy"); !ok && i >= 0 && i+1 < len(c.Cfg.Cmd) {
			if err := json.Unmarshal([]byte(c.Cfg.Cmd[i+1]), &p); err != nil {
				return "", "egress-proxy: " + err.Error(), 1
			}
		}
		if verb := cmd[ctl+1]; verb != "get" {
			rules, err := egress.ParseRules(cmd[ctl+2:])
			if err != nil {
				return "", "egress-proxy: " + err.Error(), 1
			}
			p = p.With(verb == "allow", rules)
		}
		policies[c.Name] = p
		b, _ := json.Marshal(p)
		return string(b) + "\n", "", 0
	}
}
