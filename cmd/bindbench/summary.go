package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// WriteSummary prints one row per report (one comparison each): label,
// each side's binds/s and latency, errors, and the median ratio A/B.
func WriteSummary(w io.Writer, reps []*Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "comparison\tmode\tA binds/s\tA p50 ms\tA p99 ms\tA err\tA cpu µs/op\tA +behind\tB binds/s\tB p50 ms\tB p99 ms\tB err\tB cpu µs/op\tmedian A/B\tmedian cpu A/B")
	for _, r := range reps {
		label := r.Label
		if label == "" {
			label = "(no label)"
		}
		a := r.A
		aCPU, aBehind := cpuCells(a.CPU)
		bCols := "-\t-\t-\t-\t-\t-\t-"
		if r.B != nil {
			bCPU, _ := cpuCells(r.B.CPU)
			cr := cpuRatioText(r.MedianCPURatio, r.MedianCPURatioAll, r.A, r.B)
			if cr == "" {
				cr = "-"
			}
			bCols = fmt.Sprintf("%.1f\t%.3f\t%.3f\t%d\t%s\t%.3f\t%s", r.B.PerSec, r.B.Latency.P50, r.B.Latency.P99, r.B.Errors, bCPU, r.MedianRatio, cr)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.3f\t%.3f\t%d\t%s\t%s\t%s\n", label, r.Mode, a.PerSec, a.Latency.P50, a.Latency.P99, a.Errors, aCPU, aBehind, bCols)
	}
	tw.Flush()
}

// readReports decodes the JSON reports that `bindbench --json` wrote.
func readReports(paths []string) ([]*Report, error) {
	var reps []*Report
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("summary: %w", err)
		}
		var r Report
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("summary: %s: %w", p, err)
		}
		if r.A == nil {
			return nil, fmt.Errorf("summary: %s: not a bindbench report", p)
		}
		reps = append(reps, &r)
	}
	return reps, nil
}

func summaryMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: bindbench summary REPORT.json... (reports written by bindbench --json)")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	reps, err := readReports(args)
	if err != nil {
		fmt.Fprintln(stderr, "bindbench:", err)
		if errors.Is(err, os.ErrNotExist) {
			return 2
		}
		return 1
	}
	WriteSummary(stdout, reps)
	return 0
}
