// Package engine is the orchestrator of one Docker engine's containers:
// each workspace is a container named after its subdir (gws-…), made ready
// (its directories, their owner, its records) before it takes its name.
// It implements sandbox.Containers.
package engine

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/bounded"
)

// Options configure a Manager.
type Options struct {
	// PullOutput receives the progress of image pulls, rendered as
	// `docker run` renders it; nil discards it.
	PullOutput jsonmessage.Stream
	// RegistryAuth returns the encoded registry credentials to pull an
	// image with; nil pulls anonymously.
	RegistryAuth func(ctx context.Context, image string) (string, error)
	// Version, when set, is recorded on new containers (LabelVersion).
	Version string
	// Timeout bounds each engine call (0: sandbox.DefaultTimeout).
	Timeout time.Duration
	// Local says that the engine runs on this host (a unix socket): what a
	// start checks of a bind workspace's path is looked at here.
	Local bool
	// ProxyProgram is the path of the static Linux program that the egress
	// proxy's image runs as `PROGRAM egress-proxy serve …` (see
	// proxy.RunIfProxy); empty: this program.
	ProxyProgram string
	// EngineHost is the host of a remote engine's endpoint (tcp://HOST:PORT,
	// ssh://USER@HOST): its addresses, as those of this host for a local
	// engine, are never dialled by an egress proxy of the public mode.
	EngineHost string
}

// Manager manages the workspaces of one engine as containers. It is safe
// for concurrent use.
type Manager struct {
	client sandbox.Client // every call bounded
	limits bounded.Limits
	opts   Options
	proxy  proxyProgram // read once
	// hostAddrs are the public addresses of the engine's host, found once.
	hostAddrs func(context.Context) []netip.Addr
	// sharedNets are the shared networks (open, egress) checked already.
	sharedNets sync.Map
}

// New returns a Manager that talks to the engine through c.
func New(c sandbox.Client, opts Options) *Manager {
	limits := bounded.NewLimits(opts.Timeout)
	m := &Manager{client: boundedClient{c: c, limits: limits}, limits: limits, opts: opts}
	var once sync.Once
	var addrs []netip.Addr
	m.hostAddrs = func(ctx context.Context) []netip.Addr {
		once.Do(func() { addrs = engineHostAddrs(ctx, opts.Local, opts.EngineHost) })
		return addrs
	}
	return m
}

var _ sandbox.Containers = (*Manager)(nil)

// Traits says that a workspace is a container of this engine.
func (m *Manager) Traits() sandbox.Traits {
	return sandbox.Traits{Name: "engine", Unit: "container", StopOptions: true, BindMode: true}
}

// Validate refuses a configuration that can never work (see
// sandbox.Config.Validate).
func (m *Manager) Validate(cfg sandbox.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return diskQuota(cfg)
}
