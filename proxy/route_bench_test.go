package proxy

import (
	"regexp"
	"testing"
)

// BenchmarkRoute matches login IDs against the three routes of
// configs/demo.toml (julac, campus, library-card): one ID for each, the
// last one after two failed patterns.
func BenchmarkRoute(b *testing.B) {
	d := &Routes{List: []Route{
		{Name: "julac", Match: regexp.MustCompile(`^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$`), Case: CaseUpper, BackendName: "pins"},
		{Name: "campus", Match: regexp.MustCompile(`^[a-z][a-z0-9]{1,15}$`), Case: CaseLower, BackendName: "campus"},
		{Name: "library-card", Match: regexp.MustCompile(`^[0-9]{6,14}$`), BackendName: "pins"},
	}}
	for _, tc := range []struct{ id, route string }{
		{"CU1234567", "julac"},
		{"cu1234567", "julac"}, // upper-cased first: one allocation
		{"jdoe", "campus"},
		{"20231234", "library-card"},
	} {
		b.Run(tc.id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r, _, ok := d.Route(tc.id); !ok || r.Name != tc.route {
					b.Fatalf("%s: route %v", tc.id, r)
				}
			}
		})
	}
}
