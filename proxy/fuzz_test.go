package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// berTLV encodes one BER element with a definite length.
func berTLV(id byte, content []byte) []byte {
	out := []byte{id}
	n := len(content)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, content...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// searchWithFilter wraps a raw Filter element into a complete SearchRequest
// message (ID 1, base ou=people, scope sub, attributes uid).
func searchWithFilter(filter []byte) []byte {
	op := berTLV(0x63, cat(
		berTLV(0x04, []byte("ou=people,"+testSuffix)),
		berTLV(0x0a, []byte{2}),
		berTLV(0x0a, []byte{0}),
		berTLV(0x02, []byte{0}),
		berTLV(0x02, []byte{0}),
		berTLV(0x01, []byte{0}),
		filter,
		berTLV(0x30, berTLV(0x04, []byte("uid"))),
	))
	return berTLV(0x30, cat(berTLV(0x02, []byte{1}), op))
}

// compiledFilter returns the BER of an RFC 4515 filter string (seeds).
func compiledFilter(tb testing.TB, s string) []byte {
	p, err := ldap.CompileFilter(s)
	if err != nil {
		tb.Fatalf("seed filter %q: %v", s, err)
	}
	return p.Bytes()
}

func filterDepth(p *ber.Packet) int {
	d := 0
	for _, ch := range p.Children {
		d = max(d, filterDepth(ch))
	}
	return d + 1
}

// FuzzFilterEval decodes an arbitrary Filter element the way a search
// request reaches the server, then walks it (filterIDs) and evaluates it
// against a person entry, a container, a group and the Root DSE. Nothing
// may panic; every ID the walker finds must come from the filter; NOT of a
// filter evaluates to the opposite; and the filter compiled back from its
// string form evaluates the same as the decoded one.
func FuzzFilterEval(f *testing.F) {
	for _, s := range []string{
		"(uid=CU1234567)",
		"(&(objectClass=person)(uid=cu1234567))",
		"(|(uid=jchan)(cn=20231234)(mail=x@example.edu))",
		"(!(uid=jchan))",
		"(uid=*)",
		"(cn=Na*me*123)",
		"(cn=*567)",
		"(uid>=a)",
		"(uid<=z)",
		"(cn~=name cu1234567)",
		"(memberOf=CN=julac,OU=groups,DC=library,DC=example,DC=edu)",
		"(memberOf=cn=julac , ou=groups,dc=library,dc=example,dc=edu)",
		"(uid:caseExactMatch:=x)",
		"(&)",
		"(|)",
		`(uid=x\29\28uid=\2a)`,
		"(entryUUID=uuid-CU1234567)",
		"(namingContexts=" + testSuffix + ")",
	} {
		f.Add(compiledFilter(f, s))
	}
	deep := "(uid=a)"
	for i := 0; i < 70; i++ {
		deep = "(!" + deep + ")"
	}
	if p, err := ldap.CompileFilter(deep); err == nil {
		f.Add(p.Bytes())
	}
	f.Add([]byte{0xa0, 0x00})
	f.Add([]byte{0xa3, 0x00})
	f.Add([]byte{0xa4, 0x05, 0x04, 0x01, 'u', 0x30, 0x00})

	srv := &Server{Suffix: testSuffix, UPNSuffix: "example.edu"}
	person := srv.personEntry(personDN("CU1234567"), &backend.Entry{
		ID: "CU1234567", CommonName: "Name CU1234567", Surname: "Sur", GivenName: "Given",
		Mail: "CU1234567@example.edu", Category: "julac", Institution: "Example U", UUID: "uuid-CU1234567",
		Extra:   map[string][]string{"telephoneNumber": {"+852 1234"}, "uid": {"clash"}},
		Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	entries := []*vEntry{person, containerEntry("ou=people," + testSuffix), containerEntry(testSuffix), srv.groupEntry("julac"), srv.rootDSE()}

	f.Fuzz(func(t *testing.T, filter []byte) {
		m, err := ldapwire.Decode(searchWithFilter(filter))
		if err != nil {
			return
		}
		req, ok := m.Op.(*ldapwire.SearchRequest)
		if !ok {
			t.Fatalf("decoded %T, want a search", m.Op)
		}
		p := req.Filter
		for _, id := range filterIDs(p) {
			if !bytes.Contains(filter, []byte(id)) {
				t.Fatalf("filterIDs invented %q, not in the filter", id)
			}
			if plausibleID(id) && strings.ContainsAny(id, "*()\\") {
				t.Fatalf("pattern-like ID accepted: %q", id)
			}
		}
		var back *ber.Packet
		if req.FilterString != "" {
			back, _ = ldap.CompileFilter(req.FilterString)
		}
		not := ber.Encode(ber.ClassContext, ber.TypeConstructed, ldap.FilterNot, nil, "not")
		not.AppendChild(p)
		shallow := filterDepth(p) < 60
		for _, e := range entries {
			got := matchFilter(p, e)
			if shallow && matchFilter(not, e) == got {
				t.Fatalf("(!%s) evaluates like %s on %s: %v", req.FilterString, req.FilterString, e.dn, got)
			}
			if back != nil && shallow && matchFilter(back, e) != got {
				t.Fatalf("%s: decoded filter says %v, recompiled string says %v on %s", req.FilterString, got, !got, e.dn)
			}
		}
	})
}

// countingHandler counts log records by message.
type countingHandler struct {
	slog.Handler
	panics *atomic.Int64
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "panic in operation" {
		h.panics.Add(1)
	}
	return nil
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

// FuzzServerRequest sends one arbitrary operation with arbitrary controls
// (everything after the message ID of an LDAPMessage) to a running server
// on a connection bound as a service account, then a WhoAmI. The server
// must not panic in any operation, must not answer 80 to anything, and
// must still answer the WhoAmI unless it closed the connection after a
// Notice of Disconnection.
func FuzzServerRequest(f *testing.F) {
	ppolicy := berTLV(0x30, berTLV(0x04, []byte(ldapwire.OIDPasswordPolicy)))
	paged := berTLV(0x30, cat(berTLV(0x04, []byte(ldapwire.OIDPagedResults)), berTLV(0x04, berTLV(0x30, cat(berTLV(0x02, []byte{10}), berTLV(0x04, nil))))))
	critical := berTLV(0x30, cat(berTLV(0x04, []byte("1.2.3.4")), berTLV(0x01, []byte{0xff})))
	badPaged := berTLV(0x30, cat(berTLV(0x04, []byte(ldapwire.OIDPagedResults)), berTLV(0x01, []byte{0xff}), berTLV(0x04, []byte{0x30, 0x05})))
	search := func(base, filter string) []byte {
		return berTLV(0x63, cat(berTLV(0x04, []byte(base)), berTLV(0x0a, []byte{2}), berTLV(0x0a, []byte{0}),
			berTLV(0x02, []byte{0}), berTLV(0x02, []byte{0}), berTLV(0x01, []byte{0}), compiledFilter(f, filter), berTLV(0x30, nil)))
	}
	pwmod := func(user, old, nw string) []byte {
		v := berTLV(0x30, cat(berTLV(0x80, []byte(user)), berTLV(0x81, []byte(old)), berTLV(0x82, []byte(nw))))
		return berTLV(0x77, cat(berTLV(0x80, []byte(ldapwire.OIDPasswordModify)), berTLV(0x81, v)))
	}
	ctls := func(cs ...[]byte) []byte { return berTLV(0xa0, cat(cs...)) }
	for _, s := range [][]byte{
		search("ou=people,"+testSuffix, "(uid=CU1234567)"),
		cat(search("ou=people,"+testSuffix, "(uid=CU1234567)"), ctls(paged)),
		cat(search("ou=people,"+testSuffix, "(uid=jchan)"), ctls(badPaged)),
		cat(search("", "(objectClass=*)"), ctls(critical)),
		cat(search(testSuffix, "(|(uid=jchan)(mail=CU1234567@example.edu))"), ctls(ppolicy, paged)),
		cat(berTLV(0x60, cat(berTLV(0x02, []byte{3}), berTLV(0x04, []byte(personDN("CU1234567"))), berTLV(0x80, []byte("right-pin-123")))), ctls(ppolicy)),
		cat(berTLV(0x6e, cat(berTLV(0x04, []byte(personDN("CU1234567"))), berTLV(0x30, cat(berTLV(0x04, []byte("cn")), berTLV(0x04, []byte("Name CU1234567")))))), ctls(critical)),
		cat(pwmod(personDN("CITYU5012345"), "", "New-PIN-2026x"), ctls(ppolicy)),
		pwmod("jchan", "a", "b"),
		berTLV(0x77, berTLV(0x80, []byte(ldapwire.OIDWhoAmI))),
		berTLV(0x77, berTLV(0x80, []byte("1.2.3"))),
		berTLV(0x66, cat(berTLV(0x04, []byte(personDN("CU1234567"))), berTLV(0x30, nil))),
		berTLV(0x50, []byte{0x01}),
		berTLV(0x7f, nil),
	} {
		f.Add(s)
	}

	var panics atomic.Int64
	pin, campus := newFake(), newFake()
	pin.add("CU1234567", "right-pin-123", "julac")
	pin.add("CITYU5012345", "other-pin-456", "julac")
	campus.add("jchan", "portal-pw", "staff")
	srv := &Server{
		Suffix:         testSuffix,
		UPNSuffix:      "example.edu",
		Logger:         slog.New(countingHandler{Handler: slog.NewTextHandler(io.Discard, nil), panics: &panics}),
		BackendTimeout: 2 * time.Second,
	}
	srv.SetRoutes(&Routes{
		List: []Route{
			{Name: "julac", Match: regexp.MustCompile(`^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{5,9}$`), Case: CaseUpper, BackendName: "pin", Backend: pin},
			{Name: "campus", Match: regexp.MustCompile(`^[a-z][a-z0-9]{1,15}$`), Case: CaseLower, BackendName: "campus", Backend: campusOnly{campus}},
		},
		ServiceAccounts: []ServiceAccount{
			{Name: "ils", Verify: password("ils-secret"), CanSearch: true, CanReset: true, Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		},
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go srv.Serve(l)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	bindSvc := berTLV(0x30, cat(berTLV(0x02, []byte{1}),
		berTLV(0x60, cat(berTLV(0x02, []byte{3}), berTLV(0x04, []byte(serviceDN("ils"))), berTLV(0x80, []byte("ils-secret"))))))
	whoAmI := berTLV(0x30, cat(berTLV(0x02, []byte{0x7f, 0xff, 0xff, 0xff}), berTLV(0x77, berTLV(0x80, []byte(ldapwire.OIDWhoAmI)))))

	f.Fuzz(func(t *testing.T, body []byte) {
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := nc.Write(bindSvc); err != nil {
			t.Fatal(err)
		}
		if p, err := ber.ReadPacket(nc); err != nil || len(p.Children) < 2 || resultCode(p) != 0 {
			t.Fatalf("service bind: %v", err)
		}
		before := panics.Load()
		msg := berTLV(0x30, cat(berTLV(0x02, []byte{5}), body))
		if _, err := nc.Write(append(msg, whoAmI...)); err != nil {
			return // the server already closed: a malformed request
		}
		for {
			p, err := ber.ReadPacket(nc)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("no answer to the WhoAmI and the connection is still open")
				}
				break // closed after a notice or a malformed request
			}
			if len(p.Children) < 2 {
				t.Fatalf("response without an operation: %v", p)
			}
			op := p.Children[1]
			if len(op.Children) > 0 && op.Tag != ldap.ApplicationSearchResultEntry && op.Tag != ldap.ApplicationSearchResultReference {
				if c := resultCode(p); c == ldap.LDAPResultOther {
					t.Fatalf("message %d answered 80 (tag %d)", msgID(p), op.Tag)
				}
			}
			if msgID(p) == 0x7fffffff || msgID(p) == 0 {
				break
			}
		}
		if n := panics.Load() - before; n != 0 {
			t.Fatalf("%d operations panicked", n)
		}
	})
}
