package main

import (
	"slices"
	"testing"

	"github.com/bindery/bindery/internal/config"
)

// TestRestartNeeded: [hashing] keys are applied on reload, so a change to
// them is never named as restart-only; a listener change is.
func TestRestartNeeded(t *testing.T) {
	old := &config.Config{Hashing: config.Hashing{Workers: 1, MaxWait: "10s"}}
	old.Server.Listen = "127.0.0.1:3893"
	n := *old
	n.Hashing = config.Hashing{Workers: 4, MaxWait: "30s"}
	if keys := restartNeeded(old, &n); len(keys) != 0 {
		t.Fatalf("a [hashing] change is named as restart-only: %v", keys)
	}
	n.Server.Listen = "127.0.0.1:3894"
	if keys := restartNeeded(old, &n); !slices.Contains(keys, "server.listen") {
		t.Fatalf("restartNeeded = %v, want server.listen", keys)
	}
}
