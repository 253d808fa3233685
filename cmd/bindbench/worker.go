package main

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Modes.
const (
	ModeBind       = "bind"        // repeated binds as the users
	ModeSearchBind = "search-bind" // service bind, search by ID, bind as the found DN
)

// Target is one server under load and the users to bind as.
type Target struct {
	URL             string
	Users           []User
	ServiceDN       string // search-bind only
	ServicePassword string
	Base            string
	Filter          string // with %s for the ID
	// CPU, when not nil, is the server process whose CPU time is read
	// around each measured round (cpu.go).
	CPU *CPUWatch
}

// Load is how the load is shaped; the same for both sides.
type Load struct {
	Mode      string
	Conns     int
	Duration  time.Duration
	Warmup    time.Duration
	Reconnect int     // new connection every N ops; 0: never
	Wrong     float64 // share of ops with a wrong password
	Random    bool    // pick users at random instead of round-robin
	Seed      uint64
	Timeout   time.Duration // per LDAP request and dial
	Prime     bool          // bind every user once before the warm-up
	// Source is the local IP address connections are opened from ("":
	// the system's choice), so that several loads on one machine come
	// from distinct client addresses (127.0.0.2, 127.0.0.3, ...).
	Source string
}

// Outcome labels that are not errors.
const (
	outOK         = "ok"
	outExpected49 = "expected_49"
)

// labelDial is the error label of a connection that could not be opened.
const labelDial = "network:dial"

// worker is one goroutine with one persistent connection. Counters and the
// histogram are its own, so recording takes no lock and no allocation.
type worker struct {
	t         *Target
	l         *Load
	index     int
	conn      *ldap.Conn
	sinceDial int
	rng       *rand.Rand
	next      int // round-robin position

	hist     Histogram
	ok       uint64
	exp49    uint64
	errs     uint64
	errCodes map[string]uint64
}

func newWorker(t *Target, l *Load, i int) *worker {
	w := &worker{
		t:        t,
		l:        l,
		index:    i,
		rng:      rand.New(rand.NewPCG(l.Seed, uint64(i)+1)),
		next:     i * len(t.Users) / max(l.Conns, 1),
		errCodes: map[string]uint64{},
	}
	return w
}

// pick returns the next user and whether to send a wrong password.
func (w *worker) pick() (*User, bool) {
	var u *User
	if w.l.Random {
		u = &w.t.Users[w.rng.IntN(len(w.t.Users))]
	} else {
		u = &w.t.Users[w.next%len(w.t.Users)]
		w.next++
	}
	wrong := w.l.Wrong > 0 && w.rng.Float64() < w.l.Wrong
	return u, wrong
}

// dial (re)opens the connection.
func (w *worker) dial() error {
	w.close()
	d := &net.Dialer{Timeout: w.l.Timeout}
	if w.l.Source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(w.l.Source)}
	}
	c, err := ldap.DialURL(w.t.URL, ldap.DialWithDialer(d))
	if err != nil {
		return err
	}
	c.SetTimeout(w.l.Timeout)
	w.conn = c
	w.sinceDial = 0
	return nil
}

func (w *worker) close() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

// do runs one operation (a bind, or a search-bind flow) for u and returns
// its outcome label: outOK, outExpected49, or an error label.
func (w *worker) do(u *User, wrong bool) string {
	if w.conn == nil || (w.l.Reconnect > 0 && w.sinceDial >= w.l.Reconnect) {
		if err := w.dial(); err != nil {
			return labelDial
		}
	}
	w.sinceDial++
	pw := u.Password
	if wrong {
		pw = u.Wrong
	}
	dn := u.BindDN
	if w.l.Mode == ModeSearchBind {
		if err := w.conn.Bind(w.t.ServiceDN, w.t.ServicePassword); err != nil {
			return w.failed("service_bind:", err)
		}
		res, err := w.conn.Search(&ldap.SearchRequest{
			BaseDN:       w.t.Base,
			Scope:        ldap.ScopeWholeSubtree,
			DerefAliases: ldap.NeverDerefAliases,
			SizeLimit:    2,
			Filter:       u.Filter,
			Attributes:   noAttrs,
		})
		if err != nil {
			return w.failed("search:", err)
		}
		switch len(res.Entries) {
		case 1:
			dn = res.Entries[0].DN
		case 0:
			return "search:no_entry"
		default:
			return "search:several_entries"
		}
	}
	err := w.conn.Bind(dn, pw)
	switch {
	case err == nil && !wrong:
		return outOK
	case err == nil:
		return "wrong_password_accepted"
	case wrong && ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		return outExpected49
	}
	return w.failed("", err)
}

// noAttrs asks for no attributes (RFC 4511 "1.1").
var noAttrs = []string{"1.1"}

// failed labels err: the LDAP result code ("49"), or "network" for a
// transport failure or timeout, after which the connection is dropped.
func (w *worker) failed(prefix string, err error) string {
	var le *ldap.Error
	if !errors.As(err, &le) {
		w.close()
		return prefix + "other"
	}
	if le.ResultCode >= ldap.ErrorNetwork {
		w.close()
		if le.ResultCode == ldap.ErrorNetwork {
			return prefix + "network"
		}
		return prefix + "client_" + strconv.Itoa(int(le.ResultCode))
	}
	return prefix + strconv.Itoa(int(le.ResultCode))
}

// count records one measured op.
func (w *worker) count(out string, d time.Duration) {
	w.hist.Record(d)
	switch out {
	case outOK:
		w.ok++
	case outExpected49:
		w.exp49++
	default:
		w.errs++
		w.errCodes[out]++
	}
}

// loop runs ops until end; ops that start at or after measureFrom are
// counted. stop ends it early.
func (w *worker) loop(measureFrom, end time.Time, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		start := time.Now()
		if !start.Before(end) {
			return
		}
		u, wrong := w.pick()
		out := w.do(u, wrong)
		d := time.Since(start)
		if out == labelDial {
			if !start.Before(measureFrom) {
				w.count(out, d)
			}
			time.Sleep(10 * time.Millisecond) // do not spin on a dead server
			continue
		}
		if !start.Before(measureFrom) {
			w.count(out, d)
		}
	}
}
