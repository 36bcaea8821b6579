// Package meta is the plugin's metadata, and answers the docker CLI's
// request for it — which the docker CLI makes before every `docker
// workspace` command — from its init function, before the packages the
// commands need are initialised.
//
// The Go specification initialises packages one at a time, "the first
// uninitialized package in the list [of all packages, sorted by import
// path] for which all imports (if any) are already initialized". This
// package imports the standard library and docker's metadata types (a
// package with no imports) only, and its path sorts before those of
// docker/cli, the Engine client, OpenTelemetry, gRPC and protobuf: the
// answer costs the start of the Go runtime and of part of the standard
// library, not the initialisation of some 500 packages (regular
// expressions compiled, protobuf registries built). TestMetadataIsAnsweredEarly
// checks which packages an answer initialises.
package meta

import (
	"encoding/json"
	"os"

	"github.com/docker/cli/cli-plugins/metadata"
)

// Stamped by the linker (see the Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

// Version is the version of this build, Commit its commit.
func Version() string { return version }

// Commit is the commit this build was made from.
func Commit() string { return commit }

// Metadata is what the plugin tells the docker CLI of itself.
func Metadata() metadata.Metadata {
	return metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           "docker-workspace",
		Version:          version,
		ShortDescription: "Manage workspace sandbox containers",
		URL:              "https://github.com/docker-workspace/docker-workspace",
	}
}

func init() {
	if len(os.Args) != 2 || os.Args[1] != metadata.MetadataSubcommandName {
		return
	}
	b, err := json.Marshal(Metadata())
	if err == nil {
		_, err = os.Stdout.Write(append(b, '\n'))
	}
	if err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}
