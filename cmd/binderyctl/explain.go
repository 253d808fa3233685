package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/desk"
)

// explanation is explain's answer, for text and --json alike.
type explanation struct {
	ID           string `json:"id"` // as typed
	NormalisedID string `json:"normalised_id,omitempty"`
	Route        string `json:"route,omitempty"`
	RouteMatch   string `json:"route_match,omitempty"`
	Backend      string `json:"backend,omitempty"`
	BackendType  string `json:"backend_type,omitempty"`
	// State: a pinstore state (active, must_change, locked, no_pin, pending,
	// expired, suspended, superseded), or no_route, not_found, campus.
	State string `json:"state"`
	// Reason is what a bind with the right password gets now ("" = success).
	Reason   string `json:"reason,omitempty"`
	Text     string `json:"text"`
	NextStep string `json:"next_step"`

	Account *accountView `json:"account,omitempty"`
	Campus  *campusView  `json:"campus,omitempty"`

	known bool // the ID is an account bindery can name (for the exit status)
}

// accountView is the pinstore facts behind an explanation: the state in
// words and the account as patron show gives it.
type accountView struct {
	Backend  string `json:"backend"`
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Text     string `json:"text"`
	NextStep string `json:"next_step"`
	patronView
	CardHistory []cardChangeJS `json:"card_history,omitempty"`

	raw *pinstore.Explanation
}

type cardChangeJS struct {
	OldID    string    `json:"old_id"`
	NewID    string    `json:"new_id"`
	At       time.Time `json:"at"`
	Operator string    `json:"operator"`
}

// campusView is what bindery knows about an ID whose password another
// directory checks.
type campusView struct {
	Directory     string   `json:"directory"` // how the password is checked, in words
	URLs          []string `json:"urls,omitempty"`
	Listed        *bool    `json:"listed,omitempty"` // static backends: the ID is in the list
	RequirePatron bool     `json:"require_patron"`
	PatronBackend string   `json:"patron_backend,omitempty"`
	PatronOK      bool     `json:"patron_ok,omitempty"`
	PatronReason  string   `json:"patron_reason,omitempty"`
}

func accountOf(backendName string, e *pinstore.Explanation) *accountView {
	v := &accountView{
		Backend: backendName, State: string(e.State), Reason: string(e.Reason), Text: e.Text, NextStep: e.NextStep,
		patronView: viewOf(&e.Patron),
		raw:        e,
	}
	for _, h := range e.History {
		v.CardHistory = append(v.CardHistory, cardChangeJS{h.OldID, h.NewID, h.At, h.Operator})
	}
	return v
}

func cmdExplain(a *app, args []string) error {
	pos, err := parseArgs(newFlags("explain"), args, "ID")
	if err != nil {
		return err
	}
	ex, err := a.explain(pos[0])
	if err != nil {
		return err
	}
	if a.json {
		err = writeJSON(a.stdout, ex)
	} else {
		err = printExplanation(a.stdout, ex)
	}
	if err != nil {
		return err
	}
	if !ex.known {
		return errSilent // explained on stdout; exit 1 for scripts
	}
	return nil
}

// explain works out the answer for id from the desk's facts (the same
// facts the staff console shows), in binderyctl's words.
func (a *app) explain(id string) (*explanation, error) {
	if strings.TrimSpace(id) == "" {
		return nil, usagef("the ID is empty")
	}
	d, err := a.desk()
	if err != nil {
		return nil, err
	}
	f, err := d.Facts(a.ctx, id)
	if err != nil {
		return nil, a.clerkErr(err, nil, id)
	}
	ex := &explanation{ID: id}
	t := f.Target
	if t == nil {
		ex.State = "no_route"
		ex.Reason = string(backend.ReasonNoRoute)
		ex.Text = "this ID matches no route: no kind of account bindery knows looks like it, so every log-in with it fails"
		ex.NextStep = "check the number on the card (a letter or digit too many or too few, a space, O for 0); JULAC cards start with their university prefix"
		return ex, nil
	}
	ex.NormalisedID, ex.Route, ex.RouteMatch = t.ID, t.Route.Name, t.Route.Match
	ex.Backend, ex.BackendType = t.BackendName, t.Backend.Type
	if f.Campus == nil {
		explainPinstore(ex, f, t.BackendName, t.ID)
		return ex, nil
	}
	explainCampus(ex, f, t)
	return ex, nil
}

func explainPinstore(ex *explanation, f *desk.Facts, backendName, id string) {
	if f.NotFound {
		ex.State, ex.Reason = "not_found", string(backend.ReasonUnknownUser)
		ex.Text = fmt.Sprintf("not in the PIN store (backend %s): every log-in with it fails", backendName)
		ex.NextStep = fmt.Sprintf("check the number on the card; if it is right, add the patron with `binderyctl patron add %s --name ...` and set a PIN", id)
		if del := f.Deleted; del != nil {
			ex.Text = fmt.Sprintf("deleted from the PIN store by %s on %s: every log-in with it fails", del.Operator, when(del.At))
			ex.NextStep = fmt.Sprintf("see `binderyctl audit %s`; add the patron again only if they are entitled", id)
		}
		return
	}
	e := f.Account
	ex.known = true
	ex.Account = accountOf(backendName, e)
	ex.State, ex.Reason, ex.Text, ex.NextStep = string(e.State), string(e.Reason), e.Text, e.NextStep
}

func explainCampus(ex *explanation, f *desk.Facts, t *target) {
	c := f.Campus
	cv := &campusView{URLs: c.URLs, RequirePatron: c.RequirePatron, Listed: c.Listed}
	ex.Campus = cv
	ex.State = "campus"
	ex.known = true
	switch c.Type {
	case "ldap":
		cv.Directory = fmt.Sprintf("checked by the campus directory (backend %s, %s)", t.BackendName, strings.Join(c.URLs, ", "))
	case "static":
		cv.Directory = fmt.Sprintf("checked by the campus directory (backend %s, a static list in the configuration)", t.BackendName)
		ex.known = *c.Listed
	default:
		cv.Directory = fmt.Sprintf("checked by backend %s (%s)", t.BackendName, c.Type)
	}
	ex.Text = "password " + cv.Directory
	ex.NextStep = "bindery does not hold this password: for a forgotten or expired password send the patron to the campus IT help desk"
	if cv.Listed != nil && !*cv.Listed {
		ex.Text += "; this ID is not in that list, so every log-in with it fails"
		ex.NextStep = "check the login name; campus accounts are managed in the campus directory, not with binderyctl"
	}
	if !c.RequirePatron {
		return
	}
	cv.PatronBackend = c.PatronBackend
	cv.PatronOK, cv.PatronReason = c.PatronOK, string(c.PatronReason)
	if c.PatronOK {
		ex.Text += fmt.Sprintf("; the route also needs a library account in %s, and it has an active one", cv.PatronBackend)
	} else {
		ex.Reason = string(c.PatronReason)
	}
	switch {
	case f.NotFound:
		ex.Text += fmt.Sprintf("; the route also needs a library account in %s, and there is none: log-ins fail even with the right campus password", cv.PatronBackend)
		ex.NextStep = fmt.Sprintf("if the person may use the library, add them with `binderyctl patron add %s --name ...` (no PIN needed: they log in with the campus password)", t.ID)
	default:
		e := f.Account
		ex.Account = accountOf(cv.PatronBackend, e)
		if !c.PatronOK {
			ex.Text += fmt.Sprintf("; the route also needs an active library account in %s, and it is %s: %s", cv.PatronBackend, e.State, e.Text)
			ex.NextStep = e.NextStep
		}
	}
}

// printExplanation writes the text form of explain.
func printExplanation(w io.Writer, ex *explanation) error {
	t := newTable(w)
	row := func(k, v string) { fmt.Fprintf(t, "%s\t%s\n", k, v) }
	id := ex.ID
	if ex.NormalisedID != "" && ex.NormalisedID != ex.ID {
		id = fmt.Sprintf("%s (typed as %s)", ex.NormalisedID, ex.ID)
	}
	row("ID", id)
	if ex.Route == "" {
		row("Route", "none matches")
	} else {
		row("Route", fmt.Sprintf("%s (%s)", ex.Route, ex.RouteMatch))
		row("Backend", fmt.Sprintf("%s (%s)", ex.Backend, ex.BackendType))
	}
	switch {
	case ex.Campus != nil:
		row("State", "campus login: the campus directory owns the password") // the README's table
		row("Password", ex.Campus.Directory)
		if ex.Campus.Listed != nil {
			row("In the list", yesNo(*ex.Campus.Listed))
		}
		if !ex.Campus.RequirePatron {
			row("Library account", "not required by this route")
		} else {
			switch {
			case ex.Campus.PatronOK:
				row("Library account", fmt.Sprintf("active in %s (required by this route)", ex.Campus.PatronBackend))
			case ex.Account == nil:
				row("Library account", fmt.Sprintf("none in %s (required by this route): log-ins fail", ex.Campus.PatronBackend))
			default:
				row("Library account", fmt.Sprintf("%s in %s (required by this route): log-ins fail", ex.Account.State, ex.Campus.PatronBackend))
			}
			if ex.Account != nil {
				accountRows(row, ex.Account, true)
			}
		}
	case ex.Account != nil:
		row("State", ex.State)
		row("", ex.Text)
		accountRows(row, ex.Account, false)
	default:
		row("State", ex.State)
		row("", ex.Text)
	}
	row("Next step", ex.NextStep)
	return t.Flush()
}

// accountRows writes the facts of a pinstore account.
func accountRows(row func(k, v string), v *accountView, campus bool) {
	if campus {
		row("  State", v.State+": "+v.Text)
	} else {
		bind := "works with the right PIN"
		switch {
		case v.Reason == string(backend.ReasonMustChange):
			bind = "works, but only to change the PIN"
		case v.Reason != "":
			bind = "fails even with the right PIN (" + v.Reason + ")"
		}
		row("Log-in now", bind)
	}
	e := v.raw
	row("  Status", v.Status)
	if !campus {
		pin := "none (first-time set-up needed)"
		if e.Status == pinstore.StatusSuperseded {
			pin = "none (it moved to " + e.SupersededBy + ")"
		}
		if e.HasPIN {
			pin = "set"
			if e.MustChange {
				pin = "one-time PIN: must change at next login"
			}
		}
		row("  PIN", pin)
	}
	row("  Active from", day(e.ActiveFrom))
	row("  Expires", day(e.Expires))
	if !campus {
		fail := fmt.Sprintf("%d", e.FailureCount)
		if !e.LastFailureAt.IsZero() {
			fail += fmt.Sprintf(", last %s from %s", when(e.LastFailureAt), dash(e.LastFailureAddr))
		}
		row("  Recent failures", fail)
		if !e.LockedUntil.IsZero() {
			row("  Locked until", when(e.LockedUntil))
		}
		row("  Last success", when(e.LastSuccessAt))
	}
	for _, h := range e.History {
		row("  Card change", fmt.Sprintf("%s -> %s on %s by %s", h.OldID, h.NewID, when(h.At), h.Operator))
	}
}
