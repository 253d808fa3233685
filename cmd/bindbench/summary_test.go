package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummaryFromJSONReports(t *testing.T) {
	dir := t.TempDir()
	reps := []*Report{
		{Label: "1. cached", Mode: ModeBind, A: side("A", 2000, 0, 0, 1), B: side("B", 1000, 0, 0, 1), MedianRatio: 2},
		{Label: "only A", Mode: ModeSearchBind, A: side("A", 500, 0, 3, 1)},
	}
	var paths []string
	for i, r := range reps {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, string(rune('a'+i))+".json")
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var out, errOut bytes.Buffer
	if code := run(append([]string{"summary"}, paths...), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows:\n%s", out.String())
	}
	for _, want := range []string{"1. cached", "2000.0", "1000.0", "2.000"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row 1 lacks %q: %s", want, lines[1])
		}
	}
	if !strings.Contains(lines[2], "only A") || !strings.Contains(lines[2], "search-bind") || !strings.Contains(lines[2], "500.0") {
		t.Errorf("row 2: %s", lines[2])
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"x":1}`), 0o600)
	for _, args := range [][]string{{"summary"}, {"summary", bad}, {"summary", filepath.Join(dir, "missing.json")}} {
		if code := run(args, &out, &errOut); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}

func TestWriteTable(t *testing.T) {
	rep := &Report{Label: "x", Mode: ModeBind, Conns: 2, Duration: "1s", Warmup: "0s",
		Rounds: []Round{{N: 1, A: side("A", 100, 0, 2, 1), B: side("B", 50, 0, 0, 1), Ratio: 2}},
		A:      side("A", 100, 0, 2, 1), B: side("B", 50, 0, 0, 1), Ratios: []float64{2}, MedianRatio: 2,
		Failures: []string{"side A: too many"}}
	var out bytes.Buffer
	WriteTable(&out, rep)
	for _, want := range []string{"binds/s", "2.000 (median)", "52 Unavailable ×2", "ratio A/B (binds/s) per round: 2.000; median 2.000", "FAIL: side A"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
