package web

import (
	"html/template"

	"github.com/bindery/bindery/backend/pinstore"
)

// parseTemplates parses every page template with the functions both the
// PIN page and the console use.
func parseTemplates() (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{
		"fieldErrors": fieldErrors,
		"staffErrors": func(p *staffPage, field string) fieldErrorsView {
			return fieldErrorsView{Field: field, Texts: p.Errors[field], Prefix: p.T("error.prefix")}
		},
		"slipLangField": func(p *staffPage, id string) struct {
			P  *staffPage
			ID string
		} {
			return struct {
				P  *staffPage
				ID string
			}{p, id}
		},
		"deref": func(b *bool) bool { return b != nil && *b },
	}).ParseFS(templateFS, "templates/*.html")
}

// StateTone is the colour of the state box: ok, warn or bad.
func (p *staffPage) StateTone() string {
	v := p.Patron
	if v == nil {
		return "bad"
	}
	if v.Campus != nil {
		if v.Campus.RequirePatron && !v.Campus.PatronOK {
			return "bad"
		}
		return "ok"
	}
	if v.Account == nil {
		return "bad"
	}
	switch v.Account.State {
	case pinstore.StateActive:
		return "ok"
	case pinstore.StateMustChange, pinstore.StatePending, pinstore.StateNoPIN:
		return "warn"
	}
	return "bad"
}

func orUnknown(p *staffPage, s string) string {
	if s == "" {
		return p.T("staff.unknown")
	}
	return s
}

// StateLine says what the account's state means, with its dates and reasons.
func (p *staffPage) StateLine() string {
	e := p.Patron.Account
	if e == nil {
		return ""
	}
	switch e.State {
	case pinstore.StateSuperseded:
		return p.T("staff.text.superseded", e.SupersededBy, p.When(e.SupersededAt))
	case pinstore.StateSuspended:
		return p.T("staff.text.suspended", orUnknown(p, e.SuspendedBy), p.When(e.SuspendedAt), orUnknown(p, e.SuspendReason))
	case pinstore.StateExpired:
		if e.Expires.IsZero() || e.Expires.After(p.Now) {
			return p.T("staff.text.expired_status")
		}
		return p.T("staff.text.expired", p.Day(e.Expires))
	case pinstore.StatePending:
		return p.T("staff.text.pending", p.Day(e.ActiveFrom))
	case pinstore.StateNoPIN:
		return p.T("staff.text.no_pin")
	case pinstore.StateLocked:
		return p.T("staff.text.locked", p.When(e.LockedUntil), e.FailureCount, orUnknown(p, e.LastFailureAddr))
	case pinstore.StateMustChange:
		return p.T("staff.text.must_change")
	}
	return p.T("staff.text.active", p.When(e.LastSuccessAt))
}

// NextLine is the one next step for the clerk.
func (p *staffPage) NextLine() string {
	v := p.Patron
	if v.Campus != nil {
		switch {
		case !v.Campus.RequirePatron || v.Campus.PatronOK:
			return p.T("staff.next.campus")
		case v.Account == nil:
			return p.T("staff.next.campus_norecord")
		}
		return p.T("staff.next." + string(v.Account.State))
	}
	if v.Account == nil {
		return ""
	}
	if v.Account.State == pinstore.StateSuperseded {
		return p.T("staff.next.superseded", v.Account.SupersededBy)
	}
	return p.T("staff.next." + string(v.Account.State))
}

// PINText is the PIN row of the facts.
func (p *staffPage) PINText() string {
	e := p.Patron.Account
	switch {
	case e.Status == pinstore.StatusSuperseded:
		return p.T("staff.pin.moved", e.SupersededBy)
	case e.HasPIN && e.MustChange:
		return p.T("staff.pin.onetime")
	case e.HasPIN:
		return p.T("staff.pin.set")
	}
	return p.T("staff.pin.none")
}

// FailuresText is the failures row: count, last time and address.
func (p *staffPage) FailuresText() string {
	e := p.Patron.Account
	if e.LastFailureAt.IsZero() {
		return p.T("staff.failures.n", e.FailureCount)
	}
	return p.T("staff.failures.last", e.FailureCount, p.When(e.LastFailureAt), orUnknown(p, e.LastFailureAddr))
}

// LibraryText is a campus ID's library account row.
func (p *staffPage) LibraryText() string {
	c := p.Patron.Campus
	switch {
	case !c.RequirePatron:
		return p.T("staff.library.notrequired")
	case c.PatronOK:
		return p.T("staff.library.active", c.PatronBackend)
	case p.Patron.Account == nil:
		return p.T("staff.library.none", c.PatronBackend)
	}
	return p.T("staff.library.state", p.T("staff.state."+string(p.Patron.Account.State)), c.PatronBackend)
}
