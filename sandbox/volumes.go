package sandbox

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Volumes made with a driver configuration (VolumeDriver, VolumeOptions,
// SharedVolumeOptions) are checked where they are used, because an engine
// silently keeps what it has: a volume of that name that exists already is
// mounted as it is, whatever options a mount carries; and the local
// driver's bind volumes (o=bind, device=PATH) are host directories, open to
// the attacks on bind mode's directories.

// VolumeDriverName is the configured volume driver ("local" by default).
func (c Config) VolumeDriverName() string {
	if c.VolumeDriver == "" {
		return "local"
	}
	return c.VolumeDriver
}

// HasVolumeDriverConfig says whether volumes are made with a driver
// configuration.
func (c Config) HasVolumeDriverConfig() bool {
	return c.VolumeDriver != "" || len(c.VolumeOptions) > 0 || len(c.SharedVolumeOptions) > 0
}

// BindDevices are the host directories that local bind volumes name: the
// workspace volume's and the shared volume's ("" when not such a volume).
func (c Config) BindDevices() (ws, shared string) {
	dev := func(opts map[string]string) string {
		if c.VolumeDriverName() != "local" {
			return ""
		}
		for _, o := range strings.Split(opts["o"], ",") {
			if o == "bind" || o == "rbind" {
				return opts["device"]
			}
		}
		return ""
	}
	return dev(c.VolumeOptions), dev(c.SharedVolumeOptions)
}

// checkVolumeConfig refuses bind volumes whose directories are relative,
// unclean or overlap (the shared one would show every workspace, or the
// workspaces the shared one), and local volumes that mount host storage no
// check looks at.
func (c Config) checkVolumeConfig() error {
	ws, shared := c.BindDevices()
	for _, d := range []struct{ what, dir string }{{"the workspace volume's device", ws}, {"the shared volume's device", shared}} {
		switch {
		case d.dir == "":
		case !path.IsAbs(d.dir):
			return fmt.Errorf("%s %s: a bind volume's directory must be an absolute path", d.what, d.dir)
		case d.dir != path.Clean(d.dir):
			// The engine gives the path as it is to the kernel, which
			// resolves ".." after the symlinks before it: what is checked
			// (the clean path) must be what is mounted.
			return fmt.Errorf("%s %s: a bind volume's directory must be a clean path (no \"..\", \".\", \"//\" "+
				"or trailing \"/\"): the kernel would resolve it otherwise than it reads; give %s", d.what, d.dir, path.Clean(d.dir))
		case d.dir == "/":
			return fmt.Errorf("%s: a bind volume's directory cannot be /", d.what)
		}
	}
	if ws != "" && shared != "" && PathsOverlap(ws, shared) {
		return fmt.Errorf("the shared volume's directory %s overlaps the workspace volume's %s: every workspace "+
			"container would see the other's content; they must be apart (nothing was changed)", shared, ws)
	}
	if c.VolumeDriverName() != "local" {
		return nil
	}
	if err := checkLocalOptions("the workspace volume's", c.VolumeOptions, ws); err != nil {
		return err
	}
	return checkLocalOptions("the shared volume's", c.SharedVolumeOptions, shared)
}

// localNetworkTypes are the file systems of the local driver that name
// storage of the network, or none: they expose no host path.
var localNetworkTypes = map[string]bool{"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "tmpfs": true}

// checkLocalOptions refuses options of the local driver that name a host
// path or device in any other form than a bind directory (which is
// checked): an overlay's lowerdir/upperdir/workdir, a block device, any
// file system type but network storage and tmpfs. Such a volume would
// mount host files that no check here looks at.
func checkLocalOptions(whose string, opts map[string]string, bind string) error {
	if len(opts) == 0 || bind != "" {
		return nil
	}
	typ, dev, o := opts["type"], opts["device"], opts["o"]
	for _, k := range []string{"lowerdir=", "upperdir=", "workdir="} {
		if strings.Contains(o, k) {
			return fmt.Errorf("%s option o=%s: a local volume over host directories (%s…) is refused: use o=bind,device=DIR, a directory that is checked, or network storage (type=nfs, cifs)", whose, o, k)
		}
	}
	if !localNetworkTypes[typ] {
		return fmt.Errorf("%s option type=%s: a local volume of that type mounts host storage that no check here looks "+
			"at: use o=bind,device=DIR (checked), network storage (type=nfs, nfs4, cifs) or tmpfs; refused", whose, typ)
	}
	if strings.HasPrefix(dev, "/") && !strings.HasPrefix(dev, "//") {
		return fmt.Errorf("%s option device=%s: a host path is a bind volume's (o=bind) or nothing; refused", whose, dev)
	}
	return nil
}

// OptsString writes volume options as KEY=VALUE,… sorted; "(none)".
func OptsString(opts map[string]string) string {
	if len(opts) == 0 {
		return "(none)"
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + opts[k]
	}
	return strings.Join(keys, ",")
}
