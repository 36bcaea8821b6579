package engine

import "github.com/docker-workspace/docker-workspace/sandbox/internal/enginemsg"

// The conditions this backend tells by an engine's words (package
// enginemsg holds the words).
var (
	staleTask         = enginemsg.StaleTask
	extractRace       = enginemsg.ExtractRace
	missingBindSource = enginemsg.MissingBindSource
)
