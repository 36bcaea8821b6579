package engine

import (
	"context"
	"fmt"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
)

// Forget removes the record of a workspace that has no container: in its
// root (under the root's lock) or, through a helper, in its volume or on
// its engine's host (where the record is emptied: an empty record is
// none). A workspace that has a container is refused: remove it first.
// Nothing else is touched: its directory and data stay.
func (m *Manager) Forget(ctx context.Context, subdir string, cfg sandbox.Config) error {
	if err := sandbox.ValidateSubdir(subdir); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	err := m.forget(ctx, subdir, cfg)
	return sandbox.WorkspaceErr(subdir, "forget", err)
}

func (m *Manager) forget(ctx context.Context, subdir string, cfg sandbox.Config) error {
	name := sandbox.ContainerName(subdir)
	if _, found, err := m.inspectOwn(ctx, subdir); err != nil {
		return err
	} else if found {
		return fmt.Errorf("its container %s exists: remove it first (its data stays either way)", name)
	}
	plan, err := sandbox.PlanMounts(cfg, subdir, m.client.ClientVersion())
	if err != nil {
		return err
	}
	switch plan.Prepare {
	case sandbox.PrepareHere:
		root, err := hostfs.OpenRoot(cfg.WorkspaceRoot, false)
		if err != nil {
			return err
		}
		defer root.Close()
		unlock, err := root.Lock(ctx, m.limits.Write)
		if err != nil {
			return err
		}
		defer unlock()
		if !root.Unrecord(subdir) {
			return fmt.Errorf("%w: root %s holds no record of it", sandbox.ErrNothingToForget, cfg.WorkspaceRoot)
		}
		return nil
	case sandbox.PrepareHelper:
		img, err := m.ensureImage(ctx, cfg)
		if err != nil {
			return err
		}
		p, err := m.newHelperPreparer(ctx, subdir, cfg, img, plan)
		if err != nil {
			return err
		}
		defer p.close(ctx)
		if _, err := p.records(ctx); err != nil {
			return err
		}
		if !p.hadRecord {
			return fmt.Errorf("%w: %s holds no record of it", sandbox.ErrNothingToForget, p.where())
		}
		return p.emptyRecord(ctx)
	}
	return fmt.Errorf("%w: the engine cannot take a record back (API %s)", sandbox.ErrNotSupported, m.client.ClientVersion())
}
