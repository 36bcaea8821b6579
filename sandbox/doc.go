// Package sandbox manages the long-lived sandbox container of a workspace on
// a Docker engine: it names it, mounts the workspace and the shared directory
// into it, creates, starts, stops and lists it.
//
// It holds the engine logic only: no command line, no printing. A program
// (the docker-workspace CLI plugin, or an agent gateway written in Go) builds
// a [Manager] over any Docker API client that satisfies [Client]:
//
//	apiClient, _ := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
//	m := sandbox.NewManager(apiClient)
//	res, err := m.Ensure(ctx, "alice", sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeBind, ...})
package sandbox
