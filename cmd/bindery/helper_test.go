package main

import (
	"os"
	"testing"

	"github.com/bindery/bindery/internal/hashproc"
)

// TestMain lets this test binary serve as its own hashing helper, as the
// bindery binary does, should a test start the server in-process.
func TestMain(m *testing.M) {
	hashproc.ServeIfHelper()
	os.Exit(m.Run())
}
