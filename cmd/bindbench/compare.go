package main

import (
	"context"
	"fmt"
	"sort"
)

// Round is one round: side A, then side B when there is one.
type Round struct {
	N     int         `json:"round"`
	A     *SideResult `json:"a"`
	B     *SideResult `json:"b,omitempty"`
	Ratio float64     `json:"ratio_a_b,omitempty"` // A binds/s ÷ B binds/s; 0 when undefined
	// CPURatio is A's server CPU per op ÷ B's; CPURatioAll counts the
	// processes behind each side (--also-pid) too. 0 when not measured.
	CPURatio    float64 `json:"cpu_ratio_a_b,omitempty"`
	CPURatioAll float64 `json:"cpu_ratio_a_b_with_behind,omitempty"`
}

// Report is the whole run.
type Report struct {
	Label       string      `json:"label,omitempty"`
	Mode        string      `json:"mode"`
	Conns       int         `json:"conns"`
	Duration    string      `json:"duration"`
	Warmup      string      `json:"warmup"`
	Reconnect   int         `json:"reconnect"`
	Wrong       float64     `json:"wrong"`
	Rounds      []Round     `json:"rounds"`
	A           *SideResult `json:"a"`
	B           *SideResult `json:"b,omitempty"`
	Ratios      []float64   `json:"ratios,omitempty"`
	MedianRatio float64     `json:"median_ratio,omitempty"`
	// Server CPU per op, A ÷ B, per round and the median (0: not measured).
	CPURatios         []float64 `json:"cpu_ratios,omitempty"`
	MedianCPURatio    float64   `json:"median_cpu_ratio,omitempty"`
	CPURatiosAll      []float64 `json:"cpu_ratios_with_behind,omitempty"`
	MedianCPURatioAll float64   `json:"median_cpu_ratio_with_behind,omitempty"`
	Failures          []string  `json:"failures,omitempty"` // sides above --max-error-rate
}

// Ratio returns a/b, or 0 when b is not positive.
func Ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// Median returns the median of xs (the mean of the two middle values for an
// even count), 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Compare runs rounds of A then B (A B A B …; only A when b is nil) and
// summarises them. progress, when not nil, is called after each side.
func Compare(ctx context.Context, a, b *Target, l *Load, rounds int, progress func(*SideResult)) (*Report, error) {
	rep := &Report{
		Mode: l.Mode, Conns: l.Conns, Duration: l.Duration.String(), Warmup: l.Warmup.String(),
		Reconnect: l.Reconnect, Wrong: l.Wrong,
	}
	var as, bs []*SideResult
	for n := 1; n <= rounds; n++ {
		rd := Round{N: n}
		ra, err := RunSide(ctx, a, l)
		if err != nil {
			return nil, fmt.Errorf("round %d side A: %w", n, err)
		}
		ra.Side, ra.Round = "A", n
		rd.A, as = ra, append(as, ra)
		if progress != nil {
			progress(ra)
		}
		if b != nil {
			rb, err := RunSide(ctx, b, l)
			if err != nil {
				return nil, fmt.Errorf("round %d side B: %w", n, err)
			}
			rb.Side, rb.Round = "B", n
			rd.B, bs = rb, append(bs, rb)
			rd.Ratio = Ratio(ra.PerSec, rb.PerSec)
			rep.Ratios = append(rep.Ratios, rd.Ratio)
			if ca, cb := ra.CPU.usable(), rb.CPU.usable(); ca && cb {
				rd.CPURatio = Ratio(ra.CPU.UsPerOp, rb.CPU.UsPerOp)
				rd.CPURatioAll = Ratio(ra.CPU.UsPerOp+ra.CPU.AlsoPerOp, rb.CPU.UsPerOp+rb.CPU.AlsoPerOp)
				rep.CPURatios = append(rep.CPURatios, rd.CPURatio)
				rep.CPURatiosAll = append(rep.CPURatiosAll, rd.CPURatioAll)
			}
			if progress != nil {
				progress(rb)
			}
		}
		rep.Rounds = append(rep.Rounds, rd)
	}
	rep.A = Aggregate("A", as)
	if b != nil {
		rep.B = Aggregate("B", bs)
		rep.MedianRatio = Median(rep.Ratios)
		rep.MedianCPURatio = Median(rep.CPURatios)
		rep.MedianCPURatioAll = Median(rep.CPURatiosAll)
	}
	return rep, nil
}

// Check lists the sides whose unexpected errors exceed maxRate, or that
// measured nothing.
func (rep *Report) Check(maxRate float64) []string {
	var out []string
	for _, s := range []*SideResult{rep.A, rep.B} {
		if s == nil {
			continue
		}
		switch {
		case s.Ops == 0:
			out = append(out, fmt.Sprintf("side %s (%s): no operation completed", s.Side, s.URL))
		case s.ErrorRate() > maxRate:
			out = append(out, fmt.Sprintf("side %s (%s): %.2f%% unexpected errors (max %.2f%%)",
				s.Side, s.URL, 100*s.ErrorRate(), 100*maxRate))
		}
	}
	rep.Failures = out
	return out
}
