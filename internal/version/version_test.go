package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		settings []debug.BuildSetting
		commit   string
	}{
		{nil, "unknown"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}, "0123456789ab"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}, "0123456789ab+dirty"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}, "abc"},
	} {
		got := fromBuildInfo("9.9.9", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: tc.settings})
		if got.Commit != tc.commit || got.Version != "9.9.9" || got.GoVersion != "go1.26.8" {
			t.Errorf("settings %v: got %+v, want commit %q", tc.settings, got, tc.commit)
		}
	}
	if s := (Info{"1.2.3", "abc", "go1.26.8"}).String(); s != "1.2.3 (commit abc, go1.26.8)" {
		t.Errorf("String = %q", s)
	}
}

func TestGetInTestBinary(t *testing.T) {
	in := Get()
	if in.Version != Version || !strings.HasPrefix(in.GoVersion, "go") {
		t.Fatalf("Get() = %+v", in)
	}
}
