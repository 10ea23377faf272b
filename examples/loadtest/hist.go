package main

import (
	"math/bits"
	"time"
)

// The histogram's buckets are log-linear, like an HDR histogram with two
// significant digits: values below 2·histSub nanoseconds have a bucket each,
// and every power of two above that is split into histSub buckets, so a
// bucket is never wider than 1/histSub (1.6%) of its values. Values from
// 2^histMaxBits ns (about 18 minutes) up share the last bucket.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histMaxBits = 40
	histBuckets = (histMaxBits-histSubBits+1)*histSub + 1 // the last one for overflow
)

// histogram counts latencies in fixed buckets: its memory (18 KiB) does not
// grow with the number of requests.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

// bucketOf returns the bucket of a value in nanoseconds.
func bucketOf(v uint64) int {
	if v >= 1<<histMaxBits {
		return histBuckets - 1 // its range starts at 2^histMaxBits
	}
	shift := max(bits.Len64(v)-histSubBits-1, 0)
	return shift*histSub + int(v>>shift)
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (low, width uint64) {
	if i < 2*histSub {
		return uint64(i), 1
	}
	shift := i/histSub - 1
	return uint64(i-shift*histSub) << shift, 1 << shift
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the latency below which a fraction q of the recorded ones
// fall, as the middle of its bucket; 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(i)
			return time.Duration(low + width/2)
		}
	}
	return 0 // unreachable: the counts add up to n
}
