package plugin

import (
	"bytes"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// Two contexts of one engine tell each event twice: it is written once,
// with the first context's name; without --all-contexts nothing is
// dropped.
func TestEventWriterWritesAnEventOnce(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ev := sandbox.Event{Time: at, Kind: sandbox.EventStopped, Reason: sandbox.ReasonUser, Subdir: "a", Name: "gws-a", ID: "0123456789abcdef", Unit: "container"}
	var out bytes.Buffer
	w := &eventWriter{out: &out, contexts: true}
	assert.NilError(t, w.write(eventRow{Event: ev, Context: "default"}))
	assert.NilError(t, w.write(eventRow{Event: ev, Context: "modern"}))
	later := ev
	later.Time = at.Add(time.Second)
	assert.NilError(t, w.write(eventRow{Event: later, Context: "modern"}))
	assert.Check(t, is.Equal(out.String(),
		"2026-12-03T12:00:00.000000000Z stopped a (container=gws-a, id=0123456789ab, reason=user, context=default)\n"+
			"2026-12-03T12:00:01.000000000Z stopped a (container=gws-a, id=0123456789ab, reason=user, context=modern)\n"))

	out.Reset()
	w = &eventWriter{out: &out}
	assert.NilError(t, w.write(eventRow{Event: ev}))
	assert.NilError(t, w.write(eventRow{Event: ev}))
	assert.Check(t, is.Equal(bytes.Count(out.Bytes(), []byte("\n")), 2))
}
