package engine

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress/proxy"
)

// engineStream is a sequence of engine events of containers, each
// "ID NAME ACTION [k=v...]", one second apart.
func engineStream(lines ...string) []events.Message {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var out []events.Message
	for i, l := range lines {
		f := strings.Fields(l)
		attrs := map[string]string{"name": f[1], sandbox.LabelSubdir: "a"}
		action := f[2]
		if strings.HasPrefix(action, "exec_") { // an exec: its command
			action = strings.Join(f[2:], " ")
		} else {
			for _, kv := range f[3:] {
				k, v, _ := strings.Cut(kv, "=")
				attrs[k] = v
			}
		}
		out = append(out, events.Message{Type: events.ContainerEventType, Action: events.Action(action),
			Actor: events.Actor{ID: f[0], Attributes: attrs}, TimeNano: t0.Add(time.Duration(i) * time.Second).UnixNano()})
	}
	return out
}

// decoded is what the decoder tells of a stream: "KIND REASON [exit=N]
// [detail=D] ID".
func decoded(msgs []events.Message) []string {
	var d eventDecoder
	var out []string
	for _, m := range msgs {
		ev, ok := d.decode(m)
		if !ok {
			continue
		}
		s := ev.Kind + " " + ev.Reason
		if ev.ExitCode != nil {
			s += " exit=" + strconv.Itoa(*ev.ExitCode)
		}
		if ev.Detail != "" {
			s += " detail=" + ev.Detail
		}
		out = append(out, s+" "+ev.ID)
	}
	return out
}

func TestEventsOfOneLife(t *testing.T) {
	got := decoded(engineStream(
		"n1 gws_new_0123456789ab create",
		"n1 gws-a rename oldName=/gws_new_0123456789ab",
		"n1 gws-a start",
		"n1 gws-a exec_create: true docker-workspace reason=reaper",
		"n1 gws-a pause",
		"n1 gws-a unpause",
		"n1 gws-a kill signal=15",
		"n1 gws-a stop", // the engine tells the stop first, here
		"n1 gws-a die exitCode=143",
		"n1 gws-a start",
		"n1 gws-a exec_start: sh", // an exec: not a lifecycle event
		"n1 gws-a die exitCode=3", // its main process ended by itself
		"n1 gws-a oom",
		"n1 gws-a update",
		"n1 gws-a exec_create: true docker-workspace drift=image,limits",
		"n1 gws-a destroy",
	))
	assert.Check(t, is.DeepEqual(got, []string{
		"created user n1", "started user n1",
		"paused reaper n1", "unpaused user n1",
		"stopped user n1",
		"started user n1",
		"died engine exit=3 n1",
		"oom engine n1", "updated user n1",
		"drift user detail=image,limits n1",
		"removed user n1",
	}))
}

func TestEventsOfARecreateAndAStopByTheReaper(t *testing.T) {
	got := decoded(engineStream(
		"o1 gws-a exec_create: true docker-workspace reason=reaper",
		"o1 gws-a kill signal=15",
		"o1 gws-a die exitCode=143", // the death first, this time
		"o1 gws-a stop",
		"o1 gws-a start",
		"n2 gws_new_0123456789ab create docker-workspace.compose-project=p",
		"o1 gws_old_0123456789ab rename oldName=/gws-a",
		"o1 gws_old_0123456789ab destroy",
		"n2 gws-a rename oldName=/gws_new_0123456789ab docker-workspace.compose-project=p",
		"n2 gws-a start docker-workspace.compose-project=p",
		"n2 gws-a kill signal=15 docker-workspace.compose-project=p", // compose stop, itself
		"n2 gws-a die exitCode=143 docker-workspace.compose-project=p",
		"h1 gws_helper_0123456789ab create",
		"h1 gws_helper_0123456789ab destroy",
	))
	assert.Check(t, is.DeepEqual(got, []string{
		"stopped reaper exit=143 o1", "started user o1",
		"recreated compose n2", "started compose n2", "stopped compose exit=143 n2",
	}))
}

func TestEventsOfAMarkThatCameTooLongBefore(t *testing.T) {
	msgs := engineStream(
		"c1 gws-a exec_create: true docker-workspace reason=compose",
		"c1 gws-a pause",
		"c1 gws-a exec_create: true docker-workspace reason=reaper",
		"c1 gws-a unpause",
		"c1 gws-a pause",
	)
	msgs[3].TimeNano += int64(markerTTL) // the reaper's mark, long before
	assert.Check(t, is.DeepEqual(decoded(msgs), []string{"paused compose c1", "unpaused user c1", "paused user c1"}))
}

func TestEventsOfSwarmTasks(t *testing.T) {
	got := decoded(engineStream(
		"t1 gws-a.1.x create com.docker.swarm.task.id=x",
		"t1 gws-a.1.x start com.docker.swarm.task.id=x",
		"t1 gws-a.1.x die exitCode=137 com.docker.swarm.task.id=x",
		"t1 gws-a.1.x start com.docker.swarm.task.id=x",
	))
	assert.Check(t, is.DeepEqual(got, []string{"created swarm t1", "started swarm t1", "died engine exit=137 t1", "started swarm t1"}))
}

func TestEventsOfOtherContainersAreLeftOut(t *testing.T) {
	var d eventDecoder
	msg := engineStream("x1 web start")[0]
	delete(msg.Actor.Attributes, sandbox.LabelSubdir)
	_, ok := d.decode(msg)
	assert.Check(t, !ok)
	msg = engineStream("x1 gws-a create")[0]
	msg.Type = events.NetworkEventType
	_, ok = d.decode(msg)
	assert.Check(t, !ok)
}

func TestEgressDeniedEvents(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ev, ok := deniedEvent(proxy.Entry{Time: at, Kind: "connect", Host: "evil.test", Port: 443, Decision: "deny", Rule: "evil.test"}, "team/a")
	assert.Assert(t, ok)
	assert.Check(t, is.DeepEqual(ev, sandbox.Event{Time: at, Kind: sandbox.EventEgressDenied, Reason: sandbox.ReasonPolicy, Subdir: "team/a",
		Name: "gws-team-a", Unit: "container", Detail: "connect evil.test:443 rule=evil.test"}))
	ev, ok = deniedEvent(proxy.Entry{Time: at, Kind: "dns", Host: "x.test", Decision: "deny", Reason: "no rule allows it"}, "a")
	assert.Check(t, ok && ev.Detail == "dns x.test (no rule allows it)", "%+v", ev)
	_, ok = deniedEvent(proxy.Entry{Time: at, Kind: "connect", Host: "ok.test", Port: 443, Decision: "allow"}, "a")
	assert.Check(t, !ok, "an allowed destination told")
}
