package main

import (
	"math"
	"sort"
	"testing"
	"time"
)

func TestBucketsContiguous(t *testing.T) {
	// Every value maps to a bucket whose upper bound is at least the value,
	// the previous bucket's upper bound is below it, and the width is at
	// most 1/64 of the value.
	prevHigh := int64(-1)
	for i := 0; i < histBuckets; i++ {
		high := bucketHigh(i)
		if int64(high) <= prevHigh {
			t.Fatalf("bucket %d: high %d not above previous %d", i, high, prevHigh)
		}
		low := uint64(prevHigh + 1)
		if bucketOf(low) != i || bucketOf(high) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf(low)=%d bucketOf(high)=%d", i, low, high, bucketOf(low), bucketOf(high))
		}
		if low >= 2*histSub && float64(high-low+1)/float64(low) > 1.0/histSub+1e-12 {
			t.Fatalf("bucket %d [%d,%d] too wide", i, low, high)
		}
		prevHigh = int64(high)
	}
	if bucketHigh(histBuckets-1) != histMaxValue {
		t.Fatalf("last bucket ends at %d, want %d", bucketHigh(histBuckets-1), histMaxValue)
	}
	if bucketOf(math.MaxUint64) != histBuckets-1 {
		t.Fatal("huge values must land in the last bucket")
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
	}{
		{"one value", []time.Duration{3 * time.Millisecond}},
		{"uniform 1..1000 µs", seq(1000, func(i int) time.Duration { return time.Duration(i+1) * time.Microsecond })},
		{"bimodal", append(seq(990, func(int) time.Duration { return 200 * time.Microsecond }),
			seq(10, func(int) time.Duration { return 40 * time.Millisecond })...)},
		{"small exact values", seq(100, func(i int) time.Duration { return time.Duration(i) })},
		{"huge outlier", append(seq(99, func(int) time.Duration { return time.Millisecond }), 300*time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tt.values {
				h.Record(v)
			}
			sorted := append([]time.Duration(nil), tt.values...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			if h.Count() != uint64(len(sorted)) {
				t.Fatalf("count %d, want %d", h.Count(), len(sorted))
			}
			if h.Max() != sorted[len(sorted)-1] {
				t.Errorf("max %v, want %v", h.Max(), sorted[len(sorted)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				rank := int(math.Ceil(q*float64(len(sorted)))) - 1
				want := sorted[rank]
				got := h.Quantile(q)
				// Never below the true value, at most one bucket (1/64) above.
				if got < want || float64(got-want) > float64(want)/histSub+1 {
					t.Errorf("q%.2f = %v, want %v (+1/64)", q, got, want)
				}
			}
		})
	}
}

func TestMergeAndEmpty(t *testing.T) {
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 || empty.Max() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	var a, b, all Histogram
	for i := 1; i <= 500; i++ {
		d := time.Duration(i) * 10 * time.Microsecond
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&empty)
	m.Merge(&b)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged q%.2f = %v, want %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != all.Count() || m.Mean() != all.Mean() || m.Max() != all.Max() {
		t.Errorf("merged count/mean/max %d/%v/%v, want %d/%v/%v", m.Count(), m.Mean(), m.Max(), all.Count(), all.Mean(), all.Max())
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	var h Histogram
	allocs := testing.AllocsPerRun(1000, func() { h.Record(1234567) })
	if allocs != 0 {
		t.Fatalf("Record allocates %v times", allocs)
	}
}

func seq(n int, f func(int) time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}
