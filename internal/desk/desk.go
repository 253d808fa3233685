// Package desk is what counter staff do with one typed ID, shared by
// binderyctl and the staff console (package web) so that both mean the
// same thing by it: resolve it through the configured routes to the PIN
// store that owns it (or say which directory owns it instead), and gather
// the facts behind "why can this ID not log in" (Facts). Each front end
// words the answer for its readers; the store calls themselves are the
// pinstore's. See README.md.
package desk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
)

// Desk resolves IDs against one configuration.
type Desk struct {
	Config *config.Config
	// Store returns the PIN store called name, opening it if need be.
	Store func(name string) (*pinstore.Store, error)
}

// Target is a typed ID resolved through the routes as a bind resolves it.
type Target struct {
	Typed       string // as typed
	ID          string // normalised by the route
	Route       *config.Route
	BackendName string
	Backend     *config.Backend
}

// ErrEmptyID: nothing was typed.
var ErrEmptyID = errors.New("desk: the ID is empty")

// ErrNoPinstore: the configuration has no pinstore backend.
var ErrNoPinstore = errors.New("desk: the configuration has no pinstore backend")

// NoRouteError: the ID matches no route, so every log-in with it fails.
type NoRouteError struct{ ID string }

func (e *NoRouteError) Error() string { return "desk: " + e.ID + " matches no route" }

// CampusError: the ID's password belongs to another directory (a campus
// login), not to a PIN store.
type CampusError struct{ Target *Target }

func (e *CampusError) Error() string {
	return fmt.Sprintf("desk: %s is a %s login: its password is checked by backend %s", e.Target.Typed, e.Target.Route.Name, e.Target.BackendName)
}

// SeveralPinstoresError: a command without an ID must be told which store.
type SeveralPinstoresError struct{ Names []string }

func (e *SeveralPinstoresError) Error() string {
	return fmt.Sprintf("desk: %d pinstore backends (%s): say which", len(e.Names), strings.Join(e.Names, ", "))
}

// NotPinstoreError: a backend named for a command is not a PIN store.
type NotPinstoreError struct{ Name string }

func (e *NotPinstoreError) Error() string {
	return fmt.Sprintf("desk: backend %q is not a pinstore backend", e.Name)
}

// Clean trims what a typist or a barcode scanner adds around an ID: spaces,
// tabs and line ends anywhere (a scanner may send a prefix or a suffix
// such as Tab or Enter). The case is left to the route.
func Clean(typed string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '\u00a0', '\u3000':
			return -1
		}
		return r
	}, typed)
}

// Resolve routes id; ok is false when it matches no route.
func (d *Desk) Resolve(id string) (*Target, bool) {
	r, nid, ok := d.Config.RouteFor(id)
	if !ok {
		return &Target{Typed: id}, false
	}
	return &Target{Typed: id, ID: nid, Route: r, BackendName: r.Backend, Backend: d.Config.Backends[r.Backend]}, true
}

// PinTarget resolves id to its PIN store and normalised ID. An ID of no
// route is a *NoRouteError, a campus login a *CampusError; but with
// patronRecord, a campus ID on a route with require_patron resolves to
// its library record in the route's patron backend (a record without a
// PIN: the campus directory checks the password).
func (d *Desk) PinTarget(id string, patronRecord bool) (*pinstore.Store, *Target, error) {
	if strings.TrimSpace(id) == "" {
		return nil, nil, ErrEmptyID
	}
	t, ok := d.Resolve(id)
	if !ok {
		return nil, nil, &NoRouteError{ID: id}
	}
	if t.Backend == nil || t.Backend.Type != "pinstore" {
		if !patronRecord || !t.Route.RequirePatron {
			return nil, nil, &CampusError{Target: t}
		}
		t.BackendName = d.PatronBackendOf(t.Route)
		t.Backend = d.Config.Backends[t.BackendName]
	}
	s, err := d.Store(t.BackendName)
	if err != nil {
		return nil, nil, err
	}
	return s, t, nil
}

// PatronBackendOf is the pinstore that holds the library records of a
// require_patron route: its patron_backend, or the only pinstore.
func (d *Desk) PatronBackendOf(r *config.Route) string { return d.Config.PatronBackendOf(r) }

func (d *Desk) pinstores() []string { return d.Config.BackendsOfType("pinstore") }

// OnlyPinstore picks the store of a command without an ID (import,
// export, listings): the one named, or the only one in the configuration.
func (d *Desk) OnlyPinstore(name string) (*pinstore.Store, string, error) {
	if name == "" {
		names := d.pinstores()
		switch len(names) {
		case 0:
			return nil, "", ErrNoPinstore
		case 1:
			name = names[0]
		default:
			return nil, "", &SeveralPinstoresError{Names: names}
		}
	}
	if b, ok := d.Config.Backends[name]; !ok || b.Type != "pinstore" {
		return nil, "", &NotPinstoreError{Name: name}
	}
	s, err := d.Store(name)
	return s, name, err
}

// Facts is what bindery knows about one typed ID, for an explanation.
type Facts struct {
	Typed  string
	Target *Target // nil: the ID matches no route
	// Account is the PIN store's account: the ID's own (a PIN-store route)
	// or its library record (a campus route with require_patron).
	Account        *pinstore.Explanation
	AccountBackend string
	// NotFound: the store that should hold the account has none; Deleted is
	// the audit row of its deletion when it was deleted.
	NotFound bool
	Deleted  *pinstore.AuditEntry
	// Campus is set for an ID whose password another directory checks.
	Campus *Campus
}

// Campus is what bindery knows of an ID whose password another backend
// (the campus directory, a static list) checks.
type Campus struct {
	Type          string   // the backend's type: ldap, static
	URLs          []string // ldap: the upstream URLs
	Listed        *bool    // static: whether the ID is in the list
	RequirePatron bool
	PatronBackend string
	PatronOK      bool           // require_patron: the library account is active
	PatronReason  backend.Reason // ... or why not
}

// Facts gathers the facts of id. Errors are the store's (unavailable,
// read-only); an unknown or campus ID is a fact, not an error.
func (d *Desk) Facts(ctx context.Context, id string) (*Facts, error) {
	if strings.TrimSpace(id) == "" {
		return nil, ErrEmptyID
	}
	f := &Facts{Typed: id}
	t, ok := d.Resolve(id)
	if !ok {
		return f, nil
	}
	f.Target = t
	if t.Backend.Type == "pinstore" {
		return f, d.account(ctx, f, t.BackendName, t.ID)
	}
	cv := &Campus{Type: t.Backend.Type, RequirePatron: t.Route.RequirePatron}
	f.Campus = cv
	if lc := t.Backend.LDAP(); lc != nil {
		cv.URLs = lc.URLs
	}
	if sc := t.Backend.Static(); sc != nil {
		listed := false
		for _, u := range sc.Users {
			if u.ID == t.ID {
				listed = true
			}
		}
		cv.Listed = &listed
	}
	if !t.Route.RequirePatron {
		return f, nil
	}
	cv.PatronBackend = d.PatronBackendOf(t.Route)
	s, err := d.Store(cv.PatronBackend)
	if err != nil {
		return nil, err
	}
	reason, active, err := s.CheckPatron(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	cv.PatronOK, cv.PatronReason = active, reason
	return f, d.account(ctx, f, cv.PatronBackend, t.ID)
}

func (d *Desk) account(ctx context.Context, f *Facts, backendName, id string) error {
	s, err := d.Store(backendName)
	if err != nil {
		return err
	}
	f.AccountBackend = backendName
	e, err := s.Explain(ctx, id)
	if errors.Is(err, pinstore.ErrNotFound) {
		f.NotFound = true
		if hist, herr := s.AuditLog(ctx, id, 1); herr == nil && len(hist) > 0 && hist[0].Action == "delete" {
			f.Deleted = &hist[0]
		}
		return nil
	}
	if err != nil {
		return err
	}
	f.Account = e
	return nil
}
