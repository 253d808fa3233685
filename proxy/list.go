package proxy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Defaults of the listing limits.
const (
	DefaultSizeLimit = 500
	DefaultTimeLimit = 30 * time.Second
)

func (s *Server) sizeLimit() int           { return intOr(s.SizeLimit, DefaultSizeLimit) }
func (s *Server) timeLimit() time.Duration { return durationOr(s.TimeLimit, DefaultTimeLimit) }

// source is one backend that can list, searched once however many routes
// use it.
type source struct {
	name string
	s    backend.Searcher
}

// sources returns the distinct backends of the routes, in route order,
// that implement backend.Searcher (directly or behind the cache).
func (d *Routes) sources() []source {
	var out []source
	seen := map[string]bool{}
	for _, r := range d.List {
		if seen[r.BackendName] {
			continue
		}
		seen[r.BackendName] = true
		if s, ok := backend.As[backend.Searcher](r.Backend); ok {
			out = append(out, source{name: r.BackendName, s: s})
		}
	}
	return out
}

// listState is where a paged listing stands: the source being walked and
// that source's own cursor.
type listState struct {
	src    int
	cursor string
}

// errTimeLimit: the listing ran out of TimeLimit (or the client's).
var errTimeLimit = errors.New("time limit exceeded")

// listPeople answers a listing (a filter that names no ID) for a service
// account with CanList: every source is searched with the translated
// filter; each entry is kept only when its ID routes back to the backend
// that returned it (so a DN always binds through the source it came from,
// and a person held by two backends shows once), when it matches the whole
// filter as the reader sees it, and once per DN.
//
// Without paging, at most min(SizeLimit, the request's size limit)
// entries are sent, then 4. With the paged results control (RFC 2696) each
// page holds at most min(page size, SizeLimit, request size limit)
// entries, and the cookie carries the listState, sealed (see sealCookie).
func (c *conn) listPeople(o *op, req *ldapwire.SearchRequest, filter *ber.Packet) error {
	srv := c.srv
	limit := srv.sizeLimit()
	if req.SizeLimit > 0 && int(req.SizeLimit) < limit {
		limit = int(req.SizeLimit)
	}
	tl := srv.timeLimit()
	if req.TimeLimit > 0 && time.Duration(req.TimeLimit)*time.Second < tl {
		tl = time.Duration(req.TimeLimit) * time.Second
	}
	ident := c.identity()
	binding := cookieBinding(ident, req)
	var st listState
	ctl, paged := ldapwire.FindControl(o.msg.Controls, ldapwire.OIDPagedResults)
	want := limit + 1 // one more, to know whether the limit was exceeded
	if paged {
		size, cookie, err := ldapwire.DecodePagedResults(ctl.Value)
		if err != nil {
			return &ldapError{Code: ldap.LDAPResultProtocolError, Diag: "bad paged results control", Err: err}
		}
		if len(cookie) > 0 {
			var ok bool
			if st, ok = openCookie(cookie, binding); !ok {
				return newError(ldap.LDAPResultUnwillingToPerform, "paged results cookie is invalid")
			}
		}
		o.setPagedCookie(nil)
		if size == 0 {
			return nil // the client abandons the paged search
		}
		want = min(int(size), limit)
	}
	visible := o.visible(ident)
	tr := translator{parser: srv.parser(), visible: visible}
	q := tr.translate(filter, true, 0)
	srcs := o.routes.sources()

	ctx, cancel := context.WithTimeout(o.ctx, tl)
	defer cancel()
	seen := map[string]bool{}
	var entries []*vEntry
	var err error
	for len(entries) < want && st.src < len(srcs) {
		src := srcs[st.src]
		bctx, bcancel := context.WithTimeout(ctx, srv.backendTimeout())
		var page backend.Page
		page, err = src.s.Search(bctx, backend.Query{Filter: q, PageSize: want - len(entries), Cursor: st.cursor})
		bcancel()
		if err != nil {
			if ctx.Err() != nil && o.ctx.Err() == nil {
				err = errTimeLimit
			}
			break
		}
		for _, be := range page.Entries {
			if be == nil {
				continue
			}
			route, nid, ok := o.routes.Route(be.ID)
			if !ok || route.BackendName != src.name {
				continue
			}
			cp := *be
			cp.ID = nid
			e := srv.personEntry(srv.parser().PersonDN(nid), &cp)
			c.posixify(o, e, &cp)
			e = e.restrict(visible)
			key := strings.ToLower(e.dn)
			if seen[key] || !matchFilter(filter, e) {
				continue
			}
			seen[key] = true
			entries = append(entries, e)
		}
		if page.Cursor == "" {
			st = listState{src: st.src + 1}
		} else {
			st.cursor = page.Cursor
		}
	}
	o.log("listing", true, "sources", len(srcs), "paged", paged)
	switch {
	case errors.Is(err, errTimeLimit):
		o.emit(req, entries)
		o.code, o.diag = ldap.LDAPResultTimeLimitExceeded, "time limit exceeded"
		return nil
	case errors.Is(err, backend.ErrCursor):
		return &ldapError{Code: ldap.LDAPResultUnwillingToPerform, Diag: "paged results cookie is invalid", Err: err}
	case err != nil:
		return backendError(o.ctx, "search", err)
	}
	if !paged {
		if len(entries) > limit {
			o.emit(req, entries[:limit])
			o.code, o.diag = ldap.LDAPResultSizeLimitExceeded, "size limit exceeded"
			return nil
		}
		o.emit(req, entries)
		return nil
	}
	o.emit(req, entries)
	if st.src < len(srcs) {
		o.setPagedCookie(sealCookie(st, binding))
	}
	return nil
}

// setPagedCookie replaces the paged results response control.
func (o *op) setPagedCookie(cookie []byte) {
	ctls := o.controls[:0]
	for _, c := range o.controls {
		if c.OID != ldapwire.OIDPagedResults {
			ctls = append(ctls, c)
		}
	}
	o.controls = append(ctls, ldapwire.PagedResultsControl(0, cookie))
}

// emit encodes entries (already filtered) into the response.
func (o *op) emit(req *ldapwire.SearchRequest, entries []*vEntry) {
	for _, e := range entries {
		attrs := e.selectAttrs(req.Attributes)
		if req.TypesOnly {
			o.buf = ldapwire.AppendSearchEntryTypesOnly(o.buf, o.id, e.dn, attrs, nil)
		} else {
			o.buf = ldapwire.AppendSearchEntry(o.buf, o.id, e.dn, attrs, nil)
		}
	}
	o.log("entries", len(entries))
}

// Paged results cookies are self-contained: version, source index and the
// source's cursor, then an HMAC-SHA256 (truncated to 16 bytes) over them
// and the request they belong to (bound identity, base, scope, filter), with
// a key drawn at process start. A cookie cannot be forged, edited, or
// replayed by another identity or with another filter; it does not survive
// a restart (the client then gets 53 and starts over). The ldap backend's
// cursor inside is itself a handle to an upstream paged search that
// expires after two idle minutes.
var cookieKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(fmt.Sprintf("proxy: cookie key: %v", err))
	}
	return k
}()

const cookieVersion = 1

// cookieBinding digests what a cookie must be used with.
func cookieBinding(ident identity, req *ldapwire.SearchRequest) []byte {
	h := sha256.New()
	base := req.BaseDN
	if dn, err := ldap.ParseDN(base); err == nil {
		base = strings.ToLower(dn.String())
	}
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%d\x00%s", ident.kind, strings.ToLower(ident.id), base, req.Scope, req.FilterString)
	return h.Sum(nil)
}

func cookieMAC(body, binding []byte) []byte {
	m := hmac.New(sha256.New, cookieKey)
	m.Write(binding)
	m.Write(body)
	return m.Sum(nil)[:16]
}

// sealCookie encodes and authenticates a listState.
func sealCookie(st listState, binding []byte) []byte {
	body := []byte{cookieVersion}
	body = binary.AppendUvarint(body, uint64(st.src))
	body = append(body, st.cursor...)
	return append(body, cookieMAC(body, binding)...)
}

// openCookie checks and decodes a cookie; ok is false for anything that
// sealCookie did not make for this request.
func openCookie(cookie, binding []byte) (listState, bool) {
	if len(cookie) < 1+1+16 || len(cookie) > 4096 {
		return listState{}, false
	}
	body, mac := cookie[:len(cookie)-16], cookie[len(cookie)-16:]
	if !hmac.Equal(mac, cookieMAC(body, binding)) || body[0] != cookieVersion {
		return listState{}, false
	}
	src, n := binary.Uvarint(body[1:])
	if n <= 0 || src > 1<<16 {
		return listState{}, false
	}
	return listState{src: int(src), cursor: string(body[1+n:])}, true
}
