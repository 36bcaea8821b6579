package main

import (
	"encoding/json"
	"testing"

	"gotest.tools/v3/assert"
)

// The bytes the entry point writes are the JSON of the plugin's metadata,
// whatever version the linker stamps.
func TestMetadataBytes(t *testing.T) {
	defer func(v string) { version = v }(version)
	for _, v := range []string{"dev", "v1.2.3", "v1.2.3-4-gabcdef0-dirty"} {
		version = v
		want, err := json.Marshal(pluginMetadata())
		assert.NilError(t, err)
		assert.Equal(t, metadataPrefix+version+metadataSuffix, string(want)+"\n")
	}
}
