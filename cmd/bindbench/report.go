package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/go-ldap/ldap/v3"
)

// WriteJSON prints the report as one JSON document.
func WriteJSON(w io.Writer, rep *Report) error { return writeJSONValue(w, rep) }

func writeJSONValue(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}

// WriteTable prints one row per side per round, then the totals per side,
// the errors by code and the ratios.
func WriteTable(w io.Writer, rep *Report) {
	if rep.Label != "" {
		fmt.Fprintf(w, "%s\n", rep.Label)
	}
	fmt.Fprintf(w, "mode=%s conns=%d duration=%s warmup=%s reconnect=%d wrong=%g\n\n",
		rep.Mode, rep.Conns, rep.Duration, rep.Warmup, rep.Reconnect, rep.Wrong)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tside\tbinds/s\tok\texp_49\terrors\tp50 ms\tp90 ms\tp99 ms\tmax ms\tcpu µs/op\t+behind\tA/B\tcpu A/B\t")
	for _, rd := range rep.Rounds {
		row(tw, strconv.Itoa(rd.N), rd.A, "", "")
		if rd.B != nil {
			row(tw, strconv.Itoa(rd.N), rd.B, fmt.Sprintf("%.3f", rd.Ratio), cpuRatioText(rd.CPURatio, rd.CPURatioAll, rd.A, rd.B))
		}
	}
	row(tw, "all", rep.A, "", "")
	if rep.B != nil {
		cr := cpuRatioText(rep.MedianCPURatio, rep.MedianCPURatioAll, rep.A, rep.B)
		if cr != "" {
			cr += " (median)"
		}
		row(tw, "all", rep.B, fmt.Sprintf("%.3f", rep.MedianRatio)+" (median)", cr)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, s := range []*SideResult{rep.A, rep.B} {
		if s == nil {
			continue
		}
		fmt.Fprintf(w, "%s = %s", s.Side, s.URL)
		if len(s.ByCode) > 0 {
			fmt.Fprintf(w, "  errors: %s", formatCodes(s.ByCode))
		}
		if s.PrimeErr > 0 {
			fmt.Fprintf(w, "  (priming: %d binds failed)", s.PrimeErr)
		}
		if c := s.CPU; c != nil {
			fmt.Fprintf(w, "  server CPU: pid %d", c.PID)
			if c.hasAlso() {
				fmt.Fprintf(w, ", behind it pids %s", joinInts(c.AlsoPIDs))
			}
			if c.Error != "" {
				fmt.Fprintf(w, " (not read: %s)", c.Error)
			} else {
				fmt.Fprintf(w, ", %.2f s = %.2f cores", c.Seconds, c.Cores)
			}
		}
		fmt.Fprintln(w)
	}
	if rep.B != nil {
		parts := make([]string, len(rep.Ratios))
		for i, r := range rep.Ratios {
			parts[i] = fmt.Sprintf("%.3f", r)
		}
		fmt.Fprintf(w, "ratio A/B (binds/s) per round: %s; median %.3f\n", strings.Join(parts, " "), rep.MedianRatio)
		if len(rep.CPURatios) > 0 {
			fmt.Fprintf(w, "ratio A/B (server CPU per op) per round: %s; median %.3f\n", joinFloats(rep.CPURatios), rep.MedianCPURatio)
			if rep.A.CPU.hasAlso() || rep.B.CPU.hasAlso() {
				fmt.Fprintf(w, "ratio A/B (server CPU per op, with the processes behind) per round: %s; median %.3f\n",
					joinFloats(rep.CPURatiosAll), rep.MedianCPURatioAll)
			}
		}
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "FAIL:", f)
	}
}

func row(w io.Writer, round string, s *SideResult, ratio, cpuRatio string) {
	cpu, behind := cpuCells(s.CPU)
	fmt.Fprintf(w, "%s\t%s\t%.1f\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t\n",
		round, s.Side, s.PerSec, s.OK, s.Exp49, s.Errors,
		s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max, cpu, behind, ratio, cpuRatio)
}

// cpuCells formats a side's server CPU per op and that of the processes
// behind it ("-" when not measured or none).
func cpuCells(c *CPU) (cpu, behind string) {
	cpu, behind = "-", "-"
	if !c.usable() {
		return
	}
	cpu = fmt.Sprintf("%.1f", c.UsPerOp)
	if c.hasAlso() {
		behind = fmt.Sprintf("%.1f", c.AlsoPerOp)
	}
	return
}

// cpuRatioText is "0.612", or "0.612 / 1.230" when a side has processes
// behind it (the second ratio counts them); "" when not measured.
func cpuRatioText(own, all float64, a, b *SideResult) string {
	if own == 0 {
		return ""
	}
	if a.CPU.hasAlso() || b.CPU.hasAlso() {
		return fmt.Sprintf("%.3f / %.3f", own, all)
	}
	return fmt.Sprintf("%.3f", own)
}

func joinFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(parts, " ")
}

func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

// formatCodes prints "49 Invalid Credentials ×12, network ×1", sorted by label.
func formatCodes(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", describe(k), m[k])
	}
	return strings.Join(parts, ", ")
}

// describe adds the result code's name to a numeric label ("49" →
// "49 Invalid Credentials", "search:32" → "search:32 No Such Object").
func describe(label string) string {
	code := label[strings.LastIndex(label, ":")+1:]
	n, err := strconv.Atoi(code)
	if err != nil {
		return label
	}
	if name, ok := ldap.LDAPResultCodeMap[uint16(n)]; ok {
		return label + " " + name
	}
	return label
}
