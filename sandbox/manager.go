package sandbox

import (
	"context"

	"github.com/docker/docker/pkg/jsonmessage"
)

// Manager manages workspace containers on one engine.
type Manager struct {
	client Client

	// PullOutput receives the progress of image pulls, rendered as
	// `docker run` renders it; nil discards it.
	PullOutput jsonmessage.Stream
	// RegistryAuth returns the encoded registry credentials to pull an
	// image with; nil pulls anonymously.
	RegistryAuth func(ctx context.Context, image string) (string, error)
	// Version, when set, is recorded on new containers (LabelVersion).
	Version string
}

// NewManager returns a Manager that talks to the engine through c.
func NewManager(c Client) *Manager {
	return &Manager{client: c}
}
