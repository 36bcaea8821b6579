package engine

import (
	"fmt"
	"testing"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// decide, for every state a container can be found in, under every
// recreate policy, drifted or not, and before or after this call replaced
// it.
func TestDecide(t *testing.T) {
	// What a state asks for when nothing is to be replaced.
	keep := map[container.ContainerState]step{
		container.StateRunning:    stepKeep,
		container.StatePaused:     stepUnpause,
		container.StateCreated:    stepStart,
		container.StateExited:     stepStart,
		container.StateRestarting: stepWait,
		"unheard-of":              stepUnknown,
	}
	// Whether an existing container is replaced, by policy: drifted or
	// not, and not yet or already replaced by this call.
	type when struct{ drifted, replaced bool }
	recreates := map[sandbox.RecreatePolicy]map[when]bool{
		"":                        {{false, false}: false, {true, false}: false, {false, true}: false, {true, true}: false},
		sandbox.RecreateNever:     {{false, false}: false, {true, false}: false, {false, true}: false, {true, true}: false},
		sandbox.RecreateIfChanged: {{false, false}: false, {true, false}: true, {false, true}: false, {true, true}: true},
		sandbox.RecreateAlways:    {{false, false}: true, {true, false}: true, {false, true}: false, {true, true}: false},
	}
	for policy, byWhen := range recreates {
		for w, recreate := range byWhen {
			drifted, replaced := w.drifted, w.replaced
			{
				var drift []string
				if drifted {
					drift = []string{"image"}
				}
				name := fmt.Sprintf("policy=%q drifted=%v replaced=%v", policy, drifted, replaced)
				// No container: made, whatever the policy.
				assert.Check(t, is.Equal(decide(observed{missing: true, replaced: replaced}, policy), stepCreate), name)
				// Being removed, or dead: never replaced in place.
				assert.Check(t, is.Equal(decide(observed{state: container.StateRemoving, drift: drift, replaced: replaced}, policy), stepWaitRemoved), name)
				assert.Check(t, is.Equal(decide(observed{state: container.StateDead, drift: drift, replaced: replaced}, policy), stepRemoveDead), name)
				for state, want := range keep {
					if recreate {
						want = stepRecreate
					}
					got := decide(observed{state: state, drift: drift, replaced: replaced}, policy)
					assert.Check(t, is.Equal(got, want), "%s state=%s", name, state)
				}
			}
		}
	}
}
