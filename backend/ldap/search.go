package ldapbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// Listing limits.
const (
	DefaultSearchPage = 500
	maxSearchPage     = 5000
	maxCursors        = 32              // open upstream paged searches
	cursorIdle        = 2 * time.Minute // an unused cursor is closed after this
)

// Search lists people of the upstream directory (backend.Searcher). The
// filter is translated into an upstream filter (attribute names through
// the attribute mapping, values through ldap.EscapeFilter), combined with
// user_filter (its {id} becoming "*", so only entries with an ID are
// listed), and sent under base_dn (subtree) with the paged results control
// (RFC 2696). Each entry's ID is its id_attribute.
//
// A listing that continues holds its own upstream connection (bound as
// bind_dn) between pages, since an upstream paging cookie belongs to its
// connection: at most 32 at once (the least recently used is closed to
// make room), each closed after 2 minutes unused. The Cursor is a random
// handle to that state; an unknown or expired one wraps backend.ErrCursor.
func (b *Backend) Search(ctx context.Context, q backend.Query) (backend.Page, error) {
	size := q.PageSize
	if size <= 0 {
		size = DefaultSearchPage
	}
	size = min(size, maxSearchPage)
	ctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
	defer cancel()

	var cur *cursor
	if q.Cursor != "" {
		cur = b.cursors().take(q.Cursor)
		if cur == nil {
			return backend.Page{}, fmt.Errorf("ldap %s: search: %w", b.s.Name, backend.ErrCursor)
		}
	} else {
		filter, ok := b.upstreamFilter(q.Filter)
		if !ok {
			return backend.Page{}, nil // matches nothing: no need to ask
		}
		base := b.s.BaseDN
		if base == "" {
			base = templateParent(b.s.DNTemplate)
		}
		attrs := append(append([]string(nil), b.s.fetch...), b.s.IDAttribute)
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, b.timeLimit(), false,
			filter, attrs, nil)
		c, err := b.service.connect(ctx)
		if err != nil {
			return backend.Page{}, fmt.Errorf("ldap %s: search: %w", b.s.Name, unavailable("connect", err))
		}
		cur = &cursor{c: c, req: req}
	}

	paging := ldap.NewControlPaging(uint32(size))
	paging.SetCookie(cur.cookie)
	req := *cur.req
	req.Controls = []ldap.Control{paging}
	res, err := cur.c.search(ctx, &req)
	if err != nil && !ldap.IsErrorAnyOf(err, ldap.LDAPResultSizeLimitExceeded, ldap.LDAPResultTimeLimitExceeded) {
		go cur.c.close()
		return backend.Page{}, fmt.Errorf("ldap %s: search: %w", b.s.Name, unavailable("search", err))
	}
	var page backend.Page
	if res != nil {
		for _, e := range res.Entries {
			id := e.GetEqualFoldAttributeValue(b.s.IDAttribute)
			if id == "" {
				continue
			}
			page.Entries = append(page.Entries, b.toEntry(id, e))
		}
	}
	if err != nil {
		b.s.Logger.Warn("ldap listing cut short by the upstream's limits", "backend", b.s.Name, "filter", req.Filter, "err", err)
	}
	var next []byte
	if err == nil && res != nil {
		if pc, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
			next = pc.Cookie
		}
	}
	if len(next) == 0 {
		go cur.c.close()
		return page, nil
	}
	cur.cookie = next
	page.Cursor = b.cursors().put(cur)
	return page, nil
}

// templateParent is the parent DN of a DN template (where its entries
// live), or "" when it has none.
func templateParent(tmpl string) string {
	dn, err := ldap.ParseDN(strings.ReplaceAll(tmpl, placeholder, "x"))
	if err != nil || len(dn.RDNs) < 2 {
		return ""
	}
	return (&ldap.DN{RDNs: dn.RDNs[1:]}).String()
}

// upstreamFilter is the whole upstream filter of a listing; ok is false
// when the filter can match nothing.
func (b *Backend) upstreamFilter(f *backend.Filter) (string, bool) {
	users := strings.ReplaceAll(b.s.UserFilter, placeholder, "*")
	if !strings.HasPrefix(users, "(") {
		users = "(" + users + ")"
	}
	t := b.translate(f, true, 0)
	switch t {
	case absTrue:
		return users, true
	case absFalse:
		return "", false
	}
	return "(&" + users + t + ")", true
}

// Absolute true and false (RFC 4526), used while translating and then
// simplified away, so that upstreams without RFC 4526 never see them.
const (
	absTrue  = "(&)"
	absFalse = "(|)"
)

// translate renders f as an upstream filter. sup=true: it matches every
// entry that f matches (and maybe others); sup=false: only entries that f
// matches. Negation swaps the two. Attribute names go through the mapping;
// virtual attributes the backend never fills match nothing.
func (b *Backend) translate(f *backend.Filter, sup bool, depth int) string {
	if f == nil {
		return absTrue
	}
	if depth > 64 {
		return maybeFilter(sup)
	}
	switch f.Op {
	case backend.FilterAnd, backend.FilterOr:
		var parts []string
		for _, c := range f.Children {
			t := b.translate(c, sup, depth+1)
			switch {
			case f.Op == backend.FilterAnd && t == absFalse, f.Op == backend.FilterOr && t == absTrue:
				return t
			case f.Op == backend.FilterAnd && t == absTrue, f.Op == backend.FilterOr && t == absFalse:
				continue
			}
			parts = append(parts, t)
		}
		switch {
		case len(parts) == 0 && f.Op == backend.FilterAnd:
			return absTrue
		case len(parts) == 0:
			return absFalse
		case len(parts) == 1:
			return parts[0]
		case f.Op == backend.FilterAnd:
			return "(&" + strings.Join(parts, "") + ")"
		}
		return "(|" + strings.Join(parts, "") + ")"
	case backend.FilterNot:
		if len(f.Children) != 1 {
			return maybeFilter(sup)
		}
		switch t := b.translate(f.Children[0], !sup, depth+1); t {
		case absTrue:
			return absFalse
		case absFalse:
			return absTrue
		default:
			return "(!" + t + ")"
		}
	}
	attr := strings.ToLower(f.Attr)
	if attr == "objectclass" {
		match, decided := backend.MatchConstant(f, backend.PersonObjectClasses)
		switch {
		case !decided:
			return maybeFilter(sup)
		case match:
			return absTrue
		}
		return absFalse
	}
	up, ok := b.upstreamAttr(attr)
	if !ok {
		return absFalse
	}
	if up == "" {
		return maybeFilter(sup)
	}
	switch f.Op {
	case backend.FilterEqual:
		if f.Value == "" {
			return absFalse
		}
		return "(" + up + "=" + ldap.EscapeFilter(f.Value) + ")"
	case backend.FilterPresent:
		return "(" + up + "=*)"
	case backend.FilterSubstring:
		var s strings.Builder
		s.WriteString("(" + up + "=" + ldap.EscapeFilter(f.Initial) + "*")
		for _, a := range f.Any {
			if a != "" {
				s.WriteString(ldap.EscapeFilter(a) + "*")
			}
		}
		s.WriteString(ldap.EscapeFilter(f.Final) + ")")
		return s.String()
	}
	return maybeFilter(sup)
}

// upstreamAttr maps a lower-case virtual attribute to the upstream one.
// ok=false: the virtual entry never has it; "" with ok: it has it, but
// it cannot be searched upstream (computed, binary).
func (b *Backend) upstreamAttr(virt string) (string, bool) {
	for v, up := range b.s.attrs {
		if strings.EqualFold(v, virt) {
			return up, true
		}
	}
	switch virt {
	case "uid":
		return b.s.IDAttribute, true
	case "employeenumber":
		// The proxy shows the ID as employeeNumber unless it is mapped.
		return b.s.IDAttribute, true
	case "entryuuid":
		if strings.EqualFold(b.s.UUIDAttribute, "objectGUID") {
			return "", true
		}
		return b.s.UUIDAttribute, true
	case "createtimestamp", "modifytimestamp", "memberof":
		return "", true
	}
	return "", false
}

func maybeFilter(sup bool) string {
	if sup {
		return absTrue
	}
	return absFalse
}

// cursor is an upstream paged search kept open between pages.
type cursor struct {
	c      *conn
	req    *ldap.SearchRequest
	cookie []byte
	used   time.Time
}

// cursorTable holds the open cursors by handle.
type cursorTable struct {
	mu sync.Mutex
	m  map[string]*cursor
}

func (b *Backend) cursors() *cursorTable {
	b.cur.mu.Lock()
	defer b.cur.mu.Unlock()
	if b.cur.m == nil {
		b.cur.m = map[string]*cursor{}
	}
	return &b.cur
}

// closeCursors closes every open cursor (Close).
func (b *Backend) closeCursors() {
	b.cur.mu.Lock()
	defer b.cur.mu.Unlock()
	for h, c := range b.cur.m {
		go c.c.close()
		delete(b.cur.m, h)
	}
}

// take removes and returns the cursor of a handle (nil when unknown or
// expired); the caller puts it back under a new handle when it continues.
func (t *cursorTable) take(h string) *cursor {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(time.Now())
	c := t.m[h]
	delete(t.m, h)
	return c
}

// put stores a cursor under a fresh random handle, closing the least
// recently used one when the table is full.
func (t *cursorTable) put(c *cursor) string {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		go c.c.close()
		return ""
	}
	h := hex.EncodeToString(raw[:])
	now := time.Now()
	c.used = now
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	for len(t.m) >= maxCursors {
		var oldest string
		for k, v := range t.m {
			if oldest == "" || v.used.Before(t.m[oldest].used) {
				oldest = k
			}
		}
		go t.m[oldest].c.close()
		delete(t.m, oldest)
	}
	t.m[h] = c
	return h
}

func (t *cursorTable) expire(now time.Time) {
	for h, c := range t.m {
		if now.Sub(c.used) > cursorIdle {
			go c.c.close()
			delete(t.m, h)
		}
	}
}
