package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values (nanoseconds) below 2*histSub are counted
// exactly; above that, every power of two is split into histSub buckets, so
// a bucket's width is at most 1/histSub (1.6%) of its lower bound. Values
// above histMaxValue land in the last bucket (Max stays exact).
const (
	histSubBits  = 6
	histSub      = 1 << histSubBits // 64
	histMaxShift = 30               // values up to 2^37 ns ≈ 137 s
	histBuckets  = histSub*histMaxShift + 2*histSub
	histMaxValue = uint64(1)<<(histMaxShift+histSubBits+1) - 1
)

// Histogram counts latencies in log-linear buckets (HDR-like). Record never
// allocates; the zero value is ready to use. It is not safe for concurrent
// use: give every goroutine its own and Merge them afterwards.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64
	min    uint64
	max    uint64
}

// bucketOf returns the bucket index of v (nanoseconds).
func bucketOf(v uint64) int {
	if v > histMaxValue {
		v = histMaxValue
	}
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - histSubBits // ≥ 1
	return histSub*shift + int(v>>uint(shift))
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i/histSub - 1
	m := uint64(i - histSub*shift)
	return (m+1)<<uint(shift) - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the arithmetic mean (exact), 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the upper bound of
// the bucket holding the ceil(q·n)-th smallest value, never above Max. It
// overstates the true value by at most one bucket width (1.6%). It is 0
// when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := bucketHigh(i)
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
