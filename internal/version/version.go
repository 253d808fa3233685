// Package version says which bindery this is: the release version (set
// at build time with -ldflags), the VCS commit and the Go version (both
// read from the binary's build information). bindery --version,
// binderyctl --version, the Root DSE's vendorVersion and the
// bindery_build_info metric all print the same three values. See
// README.md in this folder.
package version

import (
	"runtime/debug"
	"sync"
)

// Version is the release version. scripts/package.sh sets it with
//
//	go build -ldflags "-X github.com/bindery/bindery/internal/version.Version=1.2.3"
var Version = "0.1.0-dev"

// Info is what a binary knows about its own build.
type Info struct {
	Version   string // Version
	Commit    string // vcs.revision (12 hex digits), "+dirty" appended when modified; "unknown" without VCS info
	GoVersion string // the Go toolchain that built the binary
}

var (
	once sync.Once
	info Info
)

// Get returns the build information of the running binary.
func Get() Info {
	once.Do(func() {
		info = Info{Version: Version, Commit: "unknown", GoVersion: "unknown"}
		if bi, ok := debug.ReadBuildInfo(); ok {
			info = fromBuildInfo(Version, bi)
		}
	})
	return info
}

func fromBuildInfo(v string, bi *debug.BuildInfo) Info {
	in := Info{Version: v, Commit: "unknown", GoVersion: bi.GoVersion}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		in.Commit = rev
	}
	return in
}

// String is the one-line form: "1.2.3 (commit 0123456789ab, go1.26.8)".
func (i Info) String() string {
	return i.Version + " (commit " + i.Commit + ", " + i.GoVersion + ")"
}
