package hostfs

import (
	"crypto/rand"
	"encoding/hex"
)

// Owner is the numeric owner of directories made for a container user.
type Owner struct {
	UID, GID int
	Set      bool
}

// tempSuffix names a file written aside before it is linked into place.
func tempSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
