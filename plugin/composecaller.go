package plugin

import (
	"fmt"
	"os"
	"path/filepath"
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
	for _, a := range args[1:] {
		if a == "--" {
			break // what follows is a command's (compose run/exec)
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
