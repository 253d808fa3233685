package proxy

import (
	"context"
	"net/netip"
	"regexp"
	"strings"

	"github.com/bindery/bindery/backend"
)

// Routes is what the server routes by: the list that sends each login ID
// to its backend (first match wins), and the service accounts that may
// search. It is swapped as a whole with [Server.SetRoutes]; a Routes must
// not be modified once it has been handed to a server.
type Routes struct {
	List            []Route
	ServiceAccounts []ServiceAccount
}

// Case is how a route normalises a login ID before matching it.
type Case int

// Case normalisations.
const (
	CaseNone  Case = iota // the ID as typed
	CaseUpper             // upper-cased (e.g. JULAC IDs: cu1234567 → CU1234567)
	CaseLower             // lower-cased (e.g. campus UIDs)
)

// Apply returns id normalised by c.
func (c Case) Apply(id string) string {
	switch c {
	case CaseUpper:
		return strings.ToUpper(id)
	case CaseLower:
		return strings.ToLower(id)
	default:
		return id
	}
}

// Route sends the login IDs it matches to one backend.
type Route struct {
	Name string
	// Match is applied to the normalised ID; nil matches every ID (a
	// catch-all route, which should come last).
	Match *regexp.Regexp
	// Case is applied to the ID before matching; the normalised ID is what
	// the backend sees and what the DN shows.
	Case        Case
	BackendName string
	// Backend checks the route's passwords: in the server, the backend
	// behind its bind cache (backend/cache); backend.As reaches what the
	// cache wraps.
	Backend backend.Authenticator
	// RequirePatron, when non-nil, must also confirm after a successful
	// password check that the ID is an active patron; otherwise the bind
	// fails with 49 and the checker's reason.
	RequirePatron backend.PatronChecker
}

// ServiceAccount is a non-person identity (the ILS, the gateway) that binds
// as cn=<Name>,ou=services,<suffix> and may look people up.
type ServiceAccount struct {
	Name string
	// Verify checks a password in constant time (an argon2id hash behind
	// it); ctx is the bind's and client its address (for the hashing
	// pool's turns).
	Verify func(ctx context.Context, client, password string) (bool, error)
	// CanSearch allows look-ups whose filter names IDs (equality on uid,
	// cn, mail or employeeNumber), base reads of person DNs, and Compare.
	CanSearch bool
	// CanList (with CanSearch) also allows listings: filters that name no
	// ID (presence, substrings, (objectClass=person) alone), merged over
	// every backend that can list, with paged results (sync jobs, staff
	// look-ups by name).
	CanList bool
	// Attributes, when not empty, are the only attributes of people the
	// account may read, match in filters or compare (case-insensitive;
	// objectClass and uid are always readable, the DN shows the uid).
	// Operational attributes must be named too.
	Attributes []string
	// CanReset allows Password Modify on another user's entry without the
	// old password.
	CanReset bool
	// Networks the account may bind from; empty means any source address.
	Networks []netip.Prefix
}

// Route returns the first route whose pattern matches id after the route's
// case normalisation, and the normalised ID. ok is false when no route
// matches (or d is nil).
func (d *Routes) Route(id string) (route *Route, normalisedID string, ok bool) {
	if d == nil || id == "" {
		return nil, "", false
	}
	for i := range d.List {
		r := &d.List[i]
		nid := r.Case.Apply(id)
		if r.Match == nil || r.Match.MatchString(nid) {
			return r, nid, true
		}
	}
	return nil, "", false
}

// Service returns the service account with the given name, compared
// case-insensitively.
func (d *Routes) Service(name string) (*ServiceAccount, bool) {
	if d == nil {
		return nil, false
	}
	for i := range d.ServiceAccounts {
		if strings.EqualFold(d.ServiceAccounts[i].Name, name) {
			return &d.ServiceAccounts[i], true
		}
	}
	return nil, false
}

// allowedFrom reports whether addr (host:port as net.Conn reports it) is in
// one of the account's networks. An empty list allows every address; an
// address that cannot be parsed is allowed only then.
func (a *ServiceAccount) allowedFrom(addr string) bool {
	if len(a.Networks) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range a.Networks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
