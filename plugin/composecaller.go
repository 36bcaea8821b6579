package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// composeCaller is what the Compose command that runs this provider was
// asked for and does not pass on (Compose 2.40 gives a provider only its
// options): --dry-run, and up's --force-recreate. They are read from the
// command line of the parent process, the Compose plugin that runs the
// provider (on Linux, /proc/PPID/cmdline; elsewhere nothing is known).
type composeCaller struct {
	dryRun, forceRecreate bool
	// context and host are the docker CLI's global --context and -H that
	// Compose runs under (`docker --context X compose up`), which it does
	// not pass on either.
	context, host string
}

// parentCmdline is the command line of this process's parent.
var parentCmdline = func() ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", os.Getppid()))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

func callingCompose() composeCaller {
	args, err := parentCmdline()
	if err != nil || len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "compose") {
		return composeCaller{}
	}
	var c composeCaller
	// Before the "compose" word (as the docker CLI runs its plugin) come
	// the docker CLI's global flags; docker-compose run alone has none.
	global := slices.Contains(args[1:], "compose")
	for i, a := range args[1:] {
		if a == "--" {
			break // what follows is a command's (compose run/exec)
		}
		if global {
			global = c.globalFlag(args[1:], i)
			continue
		}
		name, value, hasValue := strings.Cut(a, "=")
		on := true
		if hasValue {
			on, _ = strconv.ParseBool(value)
		}
		switch name {
		case "--dry-run":
			c.dryRun = on
		case "--force-recreate":
			c.forceRecreate = on
		}
	}
	return c
}

// globalFlag reads the docker CLI's global flag at args[i], if it is one
// that says where Compose runs; it says whether global flags go on (not
// past the "compose" word).
func (c *composeCaller) globalFlag(args []string, i int) bool {
	a := args[i]
	if a == "compose" {
		return false
	}
	name, value, hasValue := strings.Cut(a, "=")
	if !hasValue && i+1 < len(args) {
		value = args[i+1]
	}
	switch name {
	case "--context", "-c":
		c.context = value
	case "--host", "-H":
		c.host = value
	}
	return true
}
