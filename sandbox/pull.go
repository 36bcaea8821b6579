package sandbox

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"
)

// pull pulls ref, rendering its progress to m.PullOutput.
func (m *Manager) pull(ctx context.Context, ref string) error {
	var opts image.PullOptions
	if m.RegistryAuth != nil {
		auth, err := m.RegistryAuth(ctx, ref)
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
	if m.PullOutput != nil {
		err = jsonmessage.DisplayJSONMessagesToStream(body, m.PullOutput, nil)
	} else {
		err = jsonmessage.DisplayJSONMessagesStream(body, io.Discard, 0, false, nil)
	}
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}
