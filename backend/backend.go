// Package backend defines what bindery asks of an identity source: the
// virtual directory entry of a person, the three-way authentication result,
// and the sentinel errors that the LDAP front turns into result codes.
//
// It imports no concrete backend; the proxy depends on this package only.
package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Entry is one person as bindery presents them under ou=people.
type Entry struct {
	ID          string // login ID, normalised by its route; the uid= of the DN
	CommonName  string // cn
	Surname     string // sn
	GivenName   string // givenName
	Mail        string // mail
	Category    string // employeeType; also the virtual group cn=<category>
	Institution string // o
	UUID        string // entryUUID, stable for the life of the account
	Created     time.Time
	Modified    time.Time
	// Extra holds further attributes (e.g. mapped from the campus directory),
	// keyed by attribute name as it should be shown.
	Extra map[string][]string
}

// Reason says why an authentication did not succeed (or, for MustChange,
// what the success carries). It is for logs, audit, `binderyctl explain` and
// the optional Active Directory style diagnostics; by default the wire shows
// only 49 for every failure reason.
type Reason string

// Reasons a bind can fail or be qualified with.
const (
	ReasonNone           Reason = ""
	ReasonBadCredentials Reason = "bad_credentials" // wrong password
	ReasonUnknownUser    Reason = "unknown_user"    // no such account (never shown as different from a wrong password)
	ReasonNoRoute        Reason = "no_route"        // the ID matches no route
	ReasonNoPIN          Reason = "no_pin"          // first-time set-up needed
	ReasonMustChange     Reason = "must_change"     // success, but the PIN must be changed now
	ReasonPending        Reason = "pending"         // active_from in the future
	ReasonExpired        Reason = "expired"         // expires in the past
	ReasonSuspended      Reason = "suspended"       // staff action
	ReasonLocked         Reason = "locked"          // too many failures
	ReasonSuperseded     Reason = "superseded"      // card replaced by another number
	ReasonNoPatron       Reason = "no_patron"       // require_patron and no active library account
)

// Credentials is one authentication attempt.
type Credentials struct {
	ID         string // login ID, normalised by the route
	Password   string
	ClientAddr string // remote address of the LDAP client, for lockout records
	// NoEntry: the caller reads nothing of Result.Entry (an LDAP bind), so
	// a cache may answer a hit with Entry nil instead of rebuilding it.
	// A backend may ignore it and return the entry anyway.
	NoEntry bool
}

// Result is what an Authenticator found out. On success Entry is set; on
// failure Reason says why.
type Result struct {
	Entry      *Entry
	Reason     Reason
	MustChange bool   // success that restricts the session to a PIN change
	Generation uint64 // account generation; changes on PIN change, reset, lock, suspend, card change
	// LegacyRehash is informational: the stored hash was upgraded during this bind.
	LegacyRehash bool
	// Cached is informational: the answer came from a cache in front of the
	// backend (a positive hit, a negative hit, or a stale success served
	// while the backend was unavailable), not from the backend itself.
	Cached bool
}

// Authenticator is an identity source that can check a password.
//
// Authenticate follows the three-way convention: a wrong password or an
// account that may not log in is ok=false with err=nil (Result.Reason says
// which); only a backend that cannot answer returns an error, wrapping
// ErrUnavailable (or ErrBusy).
type Authenticator interface {
	Authenticate(ctx context.Context, c Credentials) (Result, bool, error)
	// Lookup returns the entry for a normalised ID, or an error wrapping
	// ErrNotFound. It never expands wildcards: id is a literal value.
	Lookup(ctx context.Context, id string) (*Entry, error)
	Close() error
}

// PasswordChange is a request to change or set a password.
type PasswordChange struct {
	ID         string
	Old        string // the current password; ignored when Force
	New        string // empty: generate one that meets the rules
	Force      bool   // an authorised reset: no old password needed
	MustChange bool   // with Force: the new password is one-time and must be changed at next login
	Operator   string // who asked, for the audit trail
	ClientAddr string
}

// PasswordChanger is implemented by backends that own passwords.
type PasswordChanger interface {
	// ChangePassword sets a new password and returns it when it was
	// generated. Errors: ErrWrongOldPassword, *PolicyError, ErrNotPermitted,
	// ErrNotFound, ErrUnavailable.
	ChangePassword(ctx context.Context, req PasswordChange) (generated string, err error)
}

// PatronChecker is implemented by backends that keep library accounts; a
// campus route with require_patron asks it whether the person may use the
// library. ok=false carries the reason.
type PatronChecker interface {
	CheckPatron(ctx context.Context, id string) (Reason, bool, error)
}

// Invalidator is implemented by backends whose accounts change (PIN
// change, reset, lock, suspend, card change): it calls fn with the ID each
// time an account's generation changes, in this process or (when it can see
// them) in others. The ID "" means every account: changes may have been
// missed (e.g. a PostgreSQL listener reconnected), so whatever is cached
// must go. fn must be quick and must not call back into the backend.
type Invalidator interface {
	OnInvalidate(fn func(id string))
}

// Pinger is implemented by backends that can check that their source
// answers (/readyz, `bindery --check --connect`).
type Pinger interface {
	Ping(ctx context.Context) error
}

// UpstreamState is what a backend knows of one upstream server.
type UpstreamState struct {
	URL       string
	Up        bool   // the last dial or operation on this URL worked
	LastError string // the last failure, "" if none yet
}

// UpstreamReporter is implemented by backends that talk to upstream
// servers (the campus directory), one state per configured URL.
type UpstreamReporter interface {
	State() []UpstreamState
}

// As finds the first value in a's chain of decorators that is a T: a
// itself, then what a's Unwrap method returns, and so on (as errors.As
// walks errors). It is the one way to reach a capability (PasswordChanger,
// Searcher, Pinger...) or a decorator (the bind cache) behind another.
func As[T any](a Authenticator) (T, bool) {
	for a != nil {
		if t, ok := a.(T); ok {
			return t, true
		}
		u, ok := a.(interface{ Unwrap() Authenticator })
		if !ok {
			break
		}
		a = u.Unwrap()
	}
	var zero T
	return zero, false
}

// FilterOp is the kind of a Filter node.
type FilterOp int

// Filter node kinds.
const (
	FilterAnd       FilterOp = iota // every child matches; no children: true
	FilterOr                        // some child matches; no children: false
	FilterNot                       // the one child does not match
	FilterEqual                     // Attr has a value equal to Value (case-insensitive)
	FilterPresent                   // Attr has a value
	FilterSubstring                 // Attr has a value matching Initial*Any[0]*...*Final (case-insensitive)
)

// Filter is a backend-neutral search filter over the VIRTUAL attribute
// names of Entry as the proxy presents it (uid, cn, sn, givenName, mail,
// employeeType, o, employeeNumber, entryUUID, objectClass, or a name of
// Entry.Extra). Values are literal: no wildcard or escape syntax is left in
// them; backends escape them where they enter SQL or an upstream filter.
type Filter struct {
	Op       FilterOp
	Children []*Filter // And, Or, Not
	Attr     string    // Equal, Present, Substring
	Value    string    // Equal
	Initial  string    // Substring: the part before the first *, may be ""
	Any      []string  // Substring: the parts between stars
	Final    string    // Substring: the part after the last *, may be ""
}

// PersonObjectClasses are the objectClass values of every person entry
// bindery presents, whichever backend owns the person.
var PersonObjectClasses = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}

// MatchConstant evaluates a leaf f on an attribute whose values are the
// same for every entry (objectClass): match, or decided=false when the
// leaf cannot be told from the values alone (a substring).
func MatchConstant(f *Filter, values []string) (match, decided bool) {
	switch f.Op {
	case FilterPresent:
		return true, true
	case FilterEqual:
		for _, v := range values {
			if strings.EqualFold(v, f.Value) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

// Query asks a Searcher for one page of a listing.
type Query struct {
	Filter *Filter
	// PageSize is the most entries to return; 0 means the backend's default.
	PageSize int
	// Cursor is "" for the first page, else the Cursor of the previous Page.
	Cursor string
}

// Page is one page of a listing.
type Page struct {
	Entries []*Entry
	// Cursor continues the listing; "" when there is nothing more.
	Cursor string
}

// Searcher is implemented by backends that can list their people (staff
// look-ups, sync jobs). Search returns, in an order that is stable from
// page to page, every entry that matches q.Filter and possibly others: a
// backend may treat what it cannot translate exactly as "maybe" (the
// caller checks each entry against the filter again). Each entry's ID is
// its login ID. An unknown or expired cursor is an error wrapping
// ErrCursor; a source that cannot answer, one wrapping ErrUnavailable.
type Searcher interface {
	Search(ctx context.Context, q Query) (Page, error)
}

// Sentinel errors. Backends wrap them with %w and an op prefix.
var (
	// ErrUnavailable: the source cannot answer now (down, timing out). LDAP 52.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrBusy: the source refuses work because it is overloaded. LDAP 51.
	ErrBusy = errors.New("backend busy")
	// ErrNotFound: no such entry.
	ErrNotFound = errors.New("no such entry")
	// ErrWrongOldPassword: a password change gave the wrong current password. LDAP 53.
	ErrWrongOldPassword = errors.New("wrong old password")
	// ErrNotPermitted: the account may not do this (e.g. its category may not change PINs). LDAP 50.
	ErrNotPermitted = errors.New("not permitted")
	// ErrReadOnly: the store cannot be written (read-only file, disk full). LDAP 80.
	ErrReadOnly = errors.New("store cannot be written")
	// ErrCursor: a listing cursor is unknown or has expired. LDAP 53.
	ErrCursor = errors.New("invalid or expired cursor")
)

// PolicyProblem is one way a PIN fails the rules.
type PolicyProblem struct {
	Code     string // "too_short", "too_long", "too_few_classes", "bad_char"
	Position int    // 1-based position of a bad character (bad_char only)
	Message  string // plain words for a person; never contains the PIN
}

// PolicyError lists every rule a proposed PIN breaks. LDAP 19.
type PolicyError struct {
	Problems []PolicyProblem
}

func (e *PolicyError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return fmt.Sprintf("PIN fails the rules: %s", strings.Join(msgs, "; "))
}

// TooShort reports whether length was among the problems (the ppolicy
// passwordTooShort error rather than insufficientPasswordQuality).
func (e *PolicyError) TooShort() bool {
	for _, p := range e.Problems {
		if p.Code == "too_short" {
			return true
		}
	}
	return false
}

// NumberedAccount is an account as a UIDNumbers keeper knows it.
type NumberedAccount struct {
	UUID string // entryUUID: the account's identity
	ID   string // its login ID when last seen (a card replacement changes it)
}

// UIDNumbers keeps the POSIX uidNumber of every account for the POSIX view
// of the directory (nslcd, SSSD). A number, once given to an account (by
// its entryUUID), stays with it for the life of the account, and is never
// given to another account, even after the first one is deleted.
type UIDNumbers interface {
	// UIDNumber returns the number of acct. An account seen for the first
	// time gets candidate(0), or, when another account holds that,
	// candidate(1), candidate(2) ...: the first free one (at most 64
	// tries, then an error). acct.ID is recorded when it changed.
	UIDNumber(ctx context.Context, acct NumberedAccount, candidate func(try int) int64) (int64, error)
	// UIDOwner returns the account holding n, or an error wrapping
	// ErrNotFound.
	UIDOwner(ctx context.Context, n int64) (NumberedAccount, error)
}
