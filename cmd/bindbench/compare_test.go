package main

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{2}, 2},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{0.9, 1.1}, 1},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.in...)
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Fatalf("Median modified its input")
			}
		}
	}
}

func TestRatio(t *testing.T) {
	tests := []struct{ a, b, want float64 }{
		{100, 50, 2},
		{50, 100, 0.5},
		{100, 0, 0},
		{0, 100, 0},
	}
	for _, tt := range tests {
		if got := Ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("Ratio(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func side(name string, ok, exp49, errs uint64, secs float64) *SideResult {
	r := &SideResult{Side: name, URL: "ldap://x", OK: ok, Exp49: exp49, Errors: errs,
		Seconds: secs, Elapsed: time.Duration(secs * float64(time.Second)), ByCode: map[string]uint64{}, hist: &Histogram{}}
	if errs > 0 {
		r.ByCode["52"] = errs
	}
	for i := uint64(0); i < ok+exp49+errs; i++ {
		r.hist.Record(time.Millisecond)
	}
	r.finish()
	return r
}

func TestAggregateAndCheck(t *testing.T) {
	agg := Aggregate("A", []*SideResult{side("A", 900, 100, 0, 1), side("A", 1900, 0, 100, 2)})
	if agg.OK != 2800 || agg.Exp49 != 100 || agg.Errors != 100 || agg.Ops != 3000 {
		t.Fatalf("counts: %+v", agg)
	}
	if agg.PerSec != 2900.0/3 {
		t.Errorf("binds/s %v, want %v", agg.PerSec, 2900.0/3)
	}
	if agg.ByCode["52"] != 100 {
		t.Errorf("by code: %v", agg.ByCode)
	}
	tests := []struct {
		name    string
		a, b    *SideResult
		max     float64
		wantErr string
	}{
		{"clean", side("A", 100, 0, 0, 1), side("B", 100, 0, 0, 1), 0.01, ""},
		{"at the limit", side("A", 99, 0, 1, 1), nil, 0.01, ""},
		{"above", side("A", 100, 0, 0, 1), side("B", 98, 0, 2, 1), 0.01, "side B"},
		{"expected 49 is no error", side("A", 10, 90, 0, 1), nil, 0, ""},
		{"nothing ran", side("A", 0, 0, 0, 1), nil, 0.01, "no operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{A: tt.a, B: tt.b}
			got := strings.Join(rep.Check(tt.max), "; ")
			if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("Check = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestIsBusy(t *testing.T) {
	tests := []struct {
		out  string
		want bool
	}{
		{"51", true}, {"service_bind:51", true}, {"search:51", true},
		{"49", false}, {"151", false}, {outOK, false}, {"network", false},
	}
	for _, tt := range tests {
		if got := isBusy(tt.out); got != tt.want {
			t.Errorf("isBusy(%q) = %v, want %v", tt.out, got, tt.want)
		}
	}
}
