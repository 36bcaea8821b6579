package sandbox

import (
	"context"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"
)

// Manager manages workspace containers on one engine. It is safe for
// concurrent use.
type Manager struct {
	client Client
	// onSwarm: a node's engine, on which a Swarm (swarm.go) prepares a
	// workspace that its tasks run.
	onSwarm bool

	// PullOutput receives the progress of image pulls, rendered as
	// `docker run` renders it; nil discards it.
	PullOutput jsonmessage.Stream
	// RegistryAuth returns the encoded registry credentials to pull an
	// image with; nil pulls anonymously.
	RegistryAuth func(ctx context.Context, image string) (string, error)
	// Version, when set, is recorded on new containers (LabelVersion).
	Version string
	// Timeout bounds each engine call that changes something; calls that
	// only read get a third of it (see DefaultTimeout, the default).
	Timeout time.Duration
}

// NewManager returns a Manager that talks to the engine through c.
func NewManager(c Client) *Manager {
	m := &Manager{Timeout: DefaultTimeout}
	m.client = boundedClient{c: c, m: m}
	return m
}
