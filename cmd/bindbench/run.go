package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// SideResult is one side's measurement in one round.
type SideResult struct {
	Side     string            `json:"side"` // "A" or "B"
	URL      string            `json:"url"`
	Round    int               `json:"round"`
	Elapsed  time.Duration     `json:"-"`
	Seconds  float64           `json:"seconds"`
	Ops      uint64            `json:"ops"`         // every measured op
	OK       uint64            `json:"ok"`          // successful binds (flows)
	Exp49    uint64            `json:"expected_49"` // wrong passwords answered 49
	Errors   uint64            `json:"errors"`      // everything else
	ByCode   map[string]uint64 `json:"errors_by_code"`
	PerSec   float64           `json:"binds_per_sec"` // (ok + expected_49) / seconds
	Latency  Latency           `json:"latency_ms"`
	PrimeErr uint64            `json:"prime_errors,omitempty"`
	CPU      *CPU              `json:"server_cpu,omitempty"` // nil when not measured
	hist     *Histogram
}

// Latency is the summary of a histogram, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func latencyOf(h *Histogram) Latency {
	return Latency{
		P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
}

// ErrorRate is Errors / Ops (0 when nothing ran).
func (r *SideResult) ErrorRate() float64 {
	if r.Ops == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Ops)
}

// RunSide puts the load on one target: it opens l.Conns connections, binds
// every user once when l.Prime is set, runs l.Warmup (not counted), then
// l.Duration (counted), and returns the merged result.
func RunSide(ctx context.Context, t *Target, l *Load) (*SideResult, error) {
	if len(t.Users) == 0 {
		return nil, fmt.Errorf("run %s: no users", t.URL)
	}
	workers := make([]*worker, l.Conns)
	for i := range workers {
		workers[i] = newWorker(t, l, i)
	}
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	// Connect all first, so that the warm-up starts with every connection up.
	if err := eachWorker(workers, func(w *worker) error { return w.dial() }); err != nil {
		return nil, fmt.Errorf("run %s: connect: %w", t.URL, err)
	}
	var primeErr uint64
	if l.Prime {
		primeErr = prime(workers, t)
	}

	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			close(stop)
		case <-stop:
		}
	}()
	start := time.Now()
	measureFrom := start.Add(l.Warmup)
	end := measureFrom.Add(l.Duration)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(measureFrom, end, stop)
		}()
	}
	// The server's CPU is read when the measured time starts (after the
	// warm-up) and when the last measured operation has been answered.
	warm := time.NewTimer(time.Until(measureFrom))
	select {
	case <-warm.C:
	case <-stop:
		warm.Stop()
	}
	cpuBefore := t.CPU.sample()
	wg.Wait()
	cpuAfter := t.CPU.sample()
	elapsed := time.Since(measureFrom)
	select {
	case <-stop:
		return nil, fmt.Errorf("run %s: %w", t.URL, ctx.Err())
	default:
		close(stop)
	}

	r := &SideResult{URL: t.URL, Elapsed: elapsed, Seconds: elapsed.Seconds(), ByCode: map[string]uint64{}, PrimeErr: primeErr, hist: &Histogram{}}
	for _, w := range workers {
		r.hist.Merge(&w.hist)
		r.OK += w.ok
		r.Exp49 += w.exp49
		r.Errors += w.errs
		for k, v := range w.errCodes {
			r.ByCode[k] += v
		}
	}
	r.finish()
	r.CPU = cpuBetween(t.CPU, cpuBefore, cpuAfter, r.Ops, elapsed)
	return r, nil
}

// finish derives Ops, PerSec and Latency from the counts and histogram.
func (r *SideResult) finish() {
	r.Ops = r.OK + r.Exp49 + r.Errors
	if r.Seconds > 0 {
		r.PerSec = float64(r.OK+r.Exp49) / r.Seconds
	}
	r.Latency = latencyOf(r.hist)
}

// Priming retries a bind that got 51 busy (a server that sheds load while
// it hashes, as bindery does) up to primeRetries times, waiting a little
// longer each time: priming is there to fill the cache, not to measure.
const (
	primeRetries = 50
	primeBackoff = 20 * time.Millisecond
)

// prime binds as every user once with the right password, the users shared
// out among the workers; it returns how many failed.
func prime(workers []*worker, t *Target) uint64 {
	var mu sync.Mutex
	var failed uint64
	_ = eachWorker(workers, func(w *worker) error {
		var n uint64
		for i := w.index; i < len(t.Users); i += len(workers) {
			out := w.do(&t.Users[i], false)
			for try := 1; try <= primeRetries && isBusy(out); try++ {
				time.Sleep(time.Duration(try) * primeBackoff)
				out = w.do(&t.Users[i], false)
			}
			if out != outOK {
				n++
			}
		}
		mu.Lock()
		failed += n
		mu.Unlock()
		return nil
	})
	return failed
}

// eachWorker runs f for every worker concurrently and returns the first error.
func eachWorker(workers []*worker, f func(*worker) error) error {
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(w)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Aggregate merges the rounds of one side.
func Aggregate(side string, rounds []*SideResult) *SideResult {
	a := &SideResult{Side: side, ByCode: map[string]uint64{}, hist: &Histogram{}}
	for _, r := range rounds {
		a.URL = r.URL
		a.Elapsed += r.Elapsed
		a.OK += r.OK
		a.Exp49 += r.Exp49
		a.Errors += r.Errors
		a.PrimeErr += r.PrimeErr
		for k, v := range r.ByCode {
			a.ByCode[k] += v
		}
		a.hist.Merge(r.hist)
		if r.CPU != nil {
			if a.CPU == nil {
				a.CPU = &CPU{PID: r.CPU.PID, AlsoPIDs: r.CPU.AlsoPIDs, TickHz: r.CPU.TickHz}
			}
			a.CPU.Seconds += r.CPU.Seconds
			a.CPU.AlsoSecs += r.CPU.AlsoSecs
			if r.CPU.Error != "" {
				a.CPU.Error = r.CPU.Error
			}
		}
	}
	a.Seconds = a.Elapsed.Seconds()
	a.finish()
	if a.CPU != nil && a.CPU.Error == "" {
		a.CPU.finish(a.Ops, a.Elapsed)
	}
	return a
}

// isBusy reports whether an outcome label is a 51 busy (of the bind or of
// the service bind before it).
func isBusy(out string) bool {
	return out == "51" || strings.HasSuffix(out, ":51")
}
