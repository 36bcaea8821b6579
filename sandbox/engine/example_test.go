package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/docker/docker/client"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
)

// A gateway makes sure the sandbox of one workspace runs, on the engine
// of DOCKER_HOST, its directories under /srv/gateway (bind mode).
func ExampleNew() {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		log.Fatal(err)
	}
	var ws sandbox.Orchestrator = engine.New(c, engine.Options{Local: true})
	cfg := sandbox.Config{
		Image:          "agent/workspace:latest",
		Mode:           sandbox.ModeBind,
		WorkspaceRoot:  "/srv/gateway/workspaces",
		SharedDir:      "/srv/gateway/shared",
		CreateHostDirs: true,
	}
	if err := ws.Validate(cfg); err != nil {
		log.Fatal(err) // wraps sandbox.ErrInvalidConfig
	}
	res, err := ws.Ensure(context.Background(), "team-a/alice", cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Name, res.Action)
}
