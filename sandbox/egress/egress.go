// Package egress is the network policy of a workspace: its mode, the rules
// that allow or deny a destination, and the decisions they make. It is
// pure: the engine backend builds the networks and the proxy that enforce
// it (package proxy serves it inside the proxy container).
package egress

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode is how a workspace reaches the network.
type Mode string

const (
	// ModeOpen is the internet by any protocol, but no other workspace (a
	// network on which workspaces cannot reach each other). The host's
	// services on the network's gateway and the LAN stay reachable.
	ModeOpen Mode = "open"
	// ModeNone is no network at all, loopback only.
	ModeNone Mode = "none"
	// ModeAllowlist is nothing but what the rules allow, through the
	// workspace's egress proxy, its only neighbour.
	ModeAllowlist Mode = "allowlist"
	// ModePublic is, through the egress proxy,, every public destination by name
	// over HTTP and HTTPS, and what the rules allow; never the host, the
	// LAN, a metadata address or another workspace.
	ModePublic Mode = "public"
)

// Modes are the modes, in the order the help lists them.
var Modes = []Mode{ModeOpen, ModeNone, ModeAllowlist, ModePublic}

// ParseMode accepts a mode's name, in any case.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = strconv.Quote(string(m))
	}
	return "", fmt.Errorf("invalid egress mode %q: must be %s or %s", s, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// Proxied says whether the mode's workspaces go out through an egress
// proxy (and take rules).
func (m Mode) Proxied() bool { return m == ModeAllowlist || m == ModePublic }
