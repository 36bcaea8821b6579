package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/docker-workspace/docker-workspace/sandbox/egress"
)

// Command is the first argument that makes a program the egress proxy:
// the proxy's image runs a static Go program (the docker-workspace binary,
// or a gateway's own) as `PROGRAM egress-proxy serve …`.
const Command = "egress-proxy"

// StateDir is where the proxy keeps its policy, in its container.
const StateDir = "/state"

// RunIfProxy runs the egress proxy and exits when the program was started
// as one (its first argument is Command); it returns at once otherwise.
// A program that makes workspaces with an egress proxy from its own binary
// calls it first thing in main.
func RunIfProxy() {
	if len(os.Args) > 1 && os.Args[1] == Command {
		os.Exit(Main(os.Args[2:], os.Stdout, os.Stderr))
	}
}

// Main is the proxy's command line: `serve --listen ADDR --workspace NAME
// --policy JSON [--state DIR]`, or `ctl get|allow|deny [RULE...]` against
// the proxy that serves from the state directory. It returns the exit
// status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprintln(stderr, "usage: egress-proxy serve|ctl …")
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout)
	case "ctl":
		err = ctl(args[1:], stdout)
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "egress-proxy:", err)
		return 1
	}
	return 0
}

func serve(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "", "the address to serve on (the workspace's network)")
	workspace := fs.String("workspace", "", "the workspace, named in the log")
	policy := fs.String("policy", "", "the policy (JSON) when the state holds none")
	state := fs.String("state", StateDir, "the directory of the kept policy and the control socket")
	hostAddrs := fs.String("host-addrs", "", "the addresses of the engine's host, comma-separated: never dialled but by a CIDR rule")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var host []netip.Addr
	for _, a := range strings.FieldsFunc(*hostAddrs, func(r rune) bool { return r == ',' }) {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return fmt.Errorf("--host-addrs: %w", err)
		}
		host = append(host, ip.Unmap())
	}
	addr, err := netip.ParseAddr(*listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	var p egress.Policy
	if err := json.Unmarshal([]byte(*policy), &p); err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	s, err := New(Config{Listen: addr, Workspace: *workspace, State: *state, Policy: p, Host: host, Log: stdout})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return s.Serve(ctx)
}

func ctl(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	state := fs.String("state", StateDir, "the proxy's state directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("ctl get|allow|deny [RULE...]")
	}
	p, err := Control(context.Background(), *state, Request{Op: fs.Arg(0), Rules: fs.Args()[1:]})
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(p)
}
