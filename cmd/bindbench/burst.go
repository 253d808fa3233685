package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// BurstResult is what a burst measured: every connection's one bind,
// started at the same instant.
type BurstResult struct {
	URL     string            `json:"url"`
	N       int               `json:"n"`
	Source  string            `json:"source,omitempty"`
	ByCode  map[string]uint64 `json:"by_code"` // "0", "49", "51", "network", ...
	OK      int               `json:"ok"`
	First   time.Duration     `json:"-"`
	Last    time.Duration     `json:"-"`         // to the last success
	P50     time.Duration     `json:"-"`         // of the successes
	LastAny time.Duration     `json:"-"`         // to the last answer of any kind
	LastS   float64           `json:"last_s"`    // Last in seconds
	P50S    float64           `json:"p50_s"`     // P50 in seconds
	Dial    time.Duration     `json:"-"`         // to open every connection, before the instant
	DialS   float64           `json:"dial_s"`    // Dial in seconds
	Refused int               `json:"refused"`   // answered 51
	Wrong49 int               `json:"wrong_49"`  // a right password answered 49
	Elapsed float64           `json:"elapsed_s"` // LastAny in seconds
}

// RunBurst opens n connections to t (users t.Users[offset:offset+n], one
// each, so every bind is a distinct patron), waits until all are open,
// then sends every bind at the same instant with the right password and
// waits for every answer (each bounded by l.Timeout). The cache must be
// empty for these users for the burst to measure hashing (a fresh server,
// or users not bound since it started).
func RunBurst(ctx context.Context, t *Target, l *Load, n, offset int) (*BurstResult, error) {
	if offset < 0 || n < 1 || offset+n > len(t.Users) {
		return nil, fmt.Errorf("burst: %d users from %d, but the file has %d", n, offset, len(t.Users))
	}
	conns := make([]*ldap.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	dialStart := time.Now()
	// Open the connections a few hundred at a time, as a gateway's pool
	// would have them open already.
	sem := make(chan struct{}, 256)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w := &worker{t: t, l: l}
			errs[i] = w.dial()
			conns[i] = w.conn
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("burst: connect: %w", err)
	}
	dial := time.Since(dialStart)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	type answer struct {
		label string
		at    time.Duration
	}
	answers := make([]answer, n)
	gate := make(chan struct{})
	var start time.Time
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := &t.Users[offset+i]
			<-gate
			err := c.Bind(u.BindDN, u.Password)
			answers[i] = answer{label: burstLabel(err), at: time.Since(start)}
		}()
	}
	start = time.Now()
	close(gate)
	wg.Wait()

	r := &BurstResult{URL: t.URL, N: n, Source: l.Source, ByCode: map[string]uint64{}, Dial: dial}
	var oks []time.Duration
	for _, a := range answers {
		r.ByCode[a.label]++
		r.LastAny = max(r.LastAny, a.at)
		switch a.label {
		case "0":
			oks = append(oks, a.at)
		case "49":
			r.Wrong49++
		case "51":
			r.Refused++
		}
	}
	r.OK = len(oks)
	if len(oks) > 0 {
		sort.Slice(oks, func(i, j int) bool { return oks[i] < oks[j] })
		r.First, r.Last, r.P50 = oks[0], oks[len(oks)-1], oks[len(oks)/2]
	}
	r.LastS, r.P50S, r.DialS, r.Elapsed = r.Last.Seconds(), r.P50.Seconds(), r.Dial.Seconds(), r.LastAny.Seconds()
	return r, nil
}

// burstLabel is the LDAP result code of a bind ("0" for success), or
// "network" for a transport failure or timeout.
func burstLabel(err error) string {
	if err == nil {
		return "0"
	}
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork {
		return strconv.Itoa(int(le.ResultCode))
	}
	return "network"
}

// WriteBurst prints a burst's counts by result and its times, then one
// line of key=value for scripts.
func WriteBurst(w io.Writer, r *BurstResult, label string) {
	if label != "" {
		fmt.Fprintln(w, label)
	}
	src := ""
	if r.Source != "" {
		src = " from " + r.Source
	}
	fmt.Fprintf(w, "burst: %d binds at the same instant, %d distinct users%s, to %s (connections opened in %.3f s before)\n",
		r.N, r.N, src, r.URL, r.Dial.Seconds())
	codes := make([]string, 0, len(r.ByCode))
	for c := range r.ByCode {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		a, errA := strconv.Atoi(codes[i])
		b, errB := strconv.Atoi(codes[j])
		if errA == nil && errB == nil {
			return a < b
		}
		return codes[i] < codes[j]
	})
	for _, c := range codes {
		name := c
		if n, err := strconv.Atoi(c); err == nil {
			name = fmt.Sprintf("%d %s", n, ldap.LDAPResultCodeMap[uint16(n)])
		}
		fmt.Fprintf(w, "  %-28s %6d\n", name, r.ByCode[c])
	}
	if r.OK > 0 {
		fmt.Fprintf(w, "successes: first %.3f s, median %.3f s, last %.3f s after the instant\n",
			r.First.Seconds(), r.P50.Seconds(), r.Last.Seconds())
	} else {
		fmt.Fprintln(w, "successes: none")
	}
	fmt.Fprintf(w, "every answer within %.3f s\n", r.LastAny.Seconds())
	var kv []string
	for _, c := range codes {
		kv = append(kv, "code_"+c+"="+strconv.FormatUint(r.ByCode[c], 10))
	}
	fmt.Fprintf(w, "burst n=%d ok=%d refused_51=%d wrong_49=%d last_success_s=%.3f median_s=%.3f all_s=%.3f %s\n",
		r.N, r.OK, r.Refused, r.Wrong49, r.Last.Seconds(), r.P50.Seconds(), r.LastAny.Seconds(), strings.Join(kv, " "))
}
