package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"
)

// pull pulls ref, rendering its progress to m.opts.PullOutput.
func (m *Manager) pull(ctx context.Context, ref string) error {
	var opts image.PullOptions
	if m.opts.RegistryAuth != nil {
		auth, err := m.opts.RegistryAuth(ctx, ref)
		if err != nil {
			return fmt.Errorf("pull image %s: %w", ref, err)
		}
		opts.RegistryAuth = auth
	}
	body, err := m.client.ImagePull(ctx, ref, opts)
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	defer body.Close()
	if m.opts.PullOutput != nil {
		err = jsonmessage.DisplayJSONMessagesToStream(body, m.opts.PullOutput, nil)
	} else {
		err = jsonmessage.DisplayJSONMessagesStream(body, io.Discard, 0, false, nil)
	}
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}
