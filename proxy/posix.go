package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
	lru "github.com/hashicorp/golang-lru/v2"
)

// POSIX is the optional POSIX view of the directory (RFC 2307), for Linux
// clients such as nslcd and SSSD: people also become posixAccount with
// uidNumber, gidNumber, homeDirectory and loginShell, and the groups of the
// categories in GIDNumbers become posixGroup with gidNumber (and memberUid
// for the IDs a filter asserts). See README.md, "POSIX view".
type POSIX struct {
	// UIDMin and UIDMax bound the uidNumbers (inclusive).
	UIDMin, UIDMax int64
	// GIDNumbers maps a category (case-insensitive) to the gidNumber of
	// its group.
	GIDNumbers map[string]int64
	// DefaultGID is the gidNumber of people whose category is not in
	// GIDNumbers.
	DefaultGID int64
	// HomeDirectory, with "{id}" replaced by the login ID; "" means
	// "/nonexistent".
	HomeDirectory string
	// LoginShell; "" means "/usr/sbin/nologin".
	LoginShell string
	// Numbers keeps each account's uidNumber (a PIN store). It must not
	// change after Serve: SetNumbers replaces it (on reload).
	Numbers backend.UIDNumbers

	swapped atomic.Pointer[backend.UIDNumbers]
	once    sync.Once
	cache   *lru.Cache[string, int64] // entryUUID → uidNumber; numbers never change
}

// Defaults of the POSIX view.
const (
	DefaultHomeDirectory = "/nonexistent"
	DefaultLoginShell    = "/usr/sbin/nologin"
	posixCacheEntries    = 100000
)

// candidate is the try-th uidNumber candidate of an account: a SHA-256 of
// its entryUUID (and, after the first try, of the try number) reduced into
// [UIDMin, UIDMax]. The first candidate is the same on every bindery for
// the same account; later ones are only needed when it is taken.
func (p *POSIX) candidate(uuid string, try int) int64 {
	h := sha256.New()
	h.Write([]byte(strings.ToLower(uuid)))
	if try > 0 {
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(try)))
	}
	sum := h.Sum(nil)
	size := uint64(p.UIDMax - p.UIDMin + 1)
	return p.UIDMin + int64(binary.BigEndian.Uint64(sum[:8])%size)
}

// SetNumbers replaces the store of the uidNumbers while serving (a reload
// opens the PIN store again). The numbers themselves do not change.
func (p *POSIX) SetNumbers(n backend.UIDNumbers) { p.swapped.Store(&n) }

func (p *POSIX) numbers() backend.UIDNumbers {
	if n := p.swapped.Load(); n != nil {
		return *n
	}
	return p.Numbers
}

// uidNumber returns the account's uidNumber, from the cache or the store.
func (p *POSIX) uidNumber(ctx context.Context, be *backend.Entry) (int64, error) {
	p.once.Do(func() { p.cache, _ = lru.New[string, int64](posixCacheEntries) })
	key := strings.ToLower(be.UUID)
	if n, ok := p.cache.Get(key); ok {
		return n, nil
	}
	numbers := p.numbers()
	if numbers == nil {
		return 0, errors.New("posix: no store for uidNumbers")
	}
	n, err := numbers.UIDNumber(ctx, backend.NumberedAccount{UUID: be.UUID, ID: be.ID},
		func(try int) int64 { return p.candidate(be.UUID, try) })
	if err != nil {
		return 0, err
	}
	p.cache.Add(key, n)
	return n, nil
}

// gid returns the gidNumber of a category's group (ok false: none).
func (p *POSIX) gid(category string) (int64, bool) {
	for c, n := range p.GIDNumbers {
		if strings.EqualFold(c, category) {
			return n, true
		}
	}
	return 0, false
}

// categories returns the categories with a gidNumber, sorted.
func (p *POSIX) categories() []string {
	out := make([]string, 0, len(p.GIDNumbers))
	for c := range p.GIDNumbers {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// posixify adds the posixAccount attributes to a person entry. An entry
// without entryUUID, or a store that cannot give a number, leaves the entry
// as it is (logged): the person then does not resolve on Linux clients,
// and nothing else changes.
func (c *conn) posixify(o *op, e *vEntry, be *backend.Entry) {
	p := c.srv.POSIX
	if p == nil || e == nil || be == nil || be.UUID == "" {
		return
	}
	ctx, cancel := o.backendCtx()
	n, err := p.uidNumber(ctx, be)
	cancel()
	if err != nil {
		o.log("posix_error", err.Error())
		return
	}
	gid, ok := p.gid(be.Category)
	if !ok {
		gid = p.DefaultGID
	}
	home := p.HomeDirectory
	if home == "" {
		home = DefaultHomeDirectory
	}
	shell := p.LoginShell
	if shell == "" {
		shell = DefaultLoginShell
	}
	e.appendValues("objectClass", "posixAccount")
	e.add("uidNumber", strconv.FormatInt(n, 10))
	e.add("gidNumber", strconv.FormatInt(gid, 10))
	e.add("homeDirectory", strings.ReplaceAll(home, "{id}", be.ID))
	e.add("loginShell", shell)
}

// posixAttributes are the attributes of the POSIX view (lower case): a
// backend cannot filter on them, the proxy computes them.
var posixAttributes = map[string]bool{
	"uidnumber": true, "gidnumber": true, "homedirectory": true, "loginshell": true, "memberuid": true,
}

// uidOwners returns the login IDs of the accounts holding the uidNumbers
// that the filter asserts by equality in its positive part (a reverse
// look-up such as SSSD's "(&(uidNumber=1234567)(objectClass=posixAccount))").
// An ID is returned as last seen; the entry then must still carry that
// number to match the filter.
func (c *conn) uidOwners(o *op, filterValues []string) ([]string, error) {
	p := c.srv.POSIX
	if p == nil || p.numbers() == nil {
		return nil, nil
	}
	if len(filterValues) > maxFilterIDs {
		return nil, newError(ldap.LDAPResultAdminLimitExceeded, fmt.Sprintf("filter names more than %d IDs", maxFilterIDs))
	}
	var ids []string
	for _, v := range filterValues {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < p.UIDMin || n > p.UIDMax {
			continue
		}
		ctx, cancel := o.backendCtx()
		acct, err := p.numbers().UIDOwner(ctx, n)
		cancel()
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, backendError(o.ctx, "uid owner", err)
		}
		ids = append(ids, acct.ID)
	}
	return ids, nil
}
