// Package configs holds bindery's example configurations. demo.toml is
// embedded in the binary and is what `bindery` runs without --config; every
// file here is loaded by a test.
package configs

import "embed"

// Files holds every *.toml in this folder.
//
//go:embed *.toml
var Files embed.FS

// Demo is the embedded demo configuration.
//
//go:embed demo.toml
var Demo []byte
