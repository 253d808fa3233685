package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/desk"
)

// patronView is one ID's screen: what bindery knows and what staff may do.
type patronView struct {
	Typed   string
	ID      string // normalised; "" when no route matches
	Route   string
	Backend string
	NoRoute bool
	// Campus: the password belongs to another directory.
	Campus *campusView
	// The PIN store's account (the ID's own, or a campus ID's library
	// record); nil when there is none (NotFound).
	Account  *pinstore.Explanation
	Patron   *pinstore.Patron
	Store    string
	NotFound bool
	Deleted  *pinstore.AuditEntry
	// PINActions: the account has a PIN of its own (unlock, reset, set-up
	// code, card replacement make sense); RecordActions: dates, suspend.
	PINActions    bool
	RecordActions bool
	CanAdd        bool
	Audit         []pinstore.AuditEntry
}

type campusView struct {
	Type          string
	URLs          []Upstream
	Listed        *bool
	Entry         *backend.Entry
	EntryErr      bool // the directory could not be asked
	RequirePatron bool
	PatronBackend string
	PatronOK      bool
	PatronReason  string
}

// StateKey is the message key of the account's state.
func (v *patronView) StateKey() string {
	if v.Account == nil {
		return ""
	}
	return "staff.state." + string(v.Account.State)
}

// home is the console's front page: the look-up box.
func (h *Staff) home(rq *request) {
	rq.p.Kind, rq.p.Title = "home", "staff.home.title"
	if rq.role >= roleAdmin {
		rq.p.Stores = pinstoreNames(rq.cfg.Desk)
	}
	h.render(rq, http.StatusOK)
}

// patron answers a look-up: GET /staff/patron?id=... (a scanner types the
// number and Enter into the look-up box, a GET form).
func (h *Staff) patron(rq *request) {
	typed := desk.Clean(rq.r.URL.Query().Get("id"))
	if typed == "" {
		h.home(rq)
		return
	}
	p := rq.p
	if done := rq.r.URL.Query().Get("done"); doneNotices[done] != "" {
		p.Notice = doneNotices[done]
	}
	v, err := h.view(rq, typed)
	if err != nil {
		h.storeFail(rq, "lookup", typed, err)
		return
	}
	p.Kind, p.Title, p.TitleArg, p.Patron = "patron", "staff.patron.title", v.ID, v
	if v.ID == "" {
		p.TitleArg = typed
	}
	h.o.Count("lookup", "ok")
	h.logAction(rq, "lookup", typed, "ok")
	h.render(rq, http.StatusOK)
}

// doneNotices are the notices a redirect after an action may show.
var doneNotices = map[string]string{
	"unlock": "staff.done.unlock", "add": "staff.done.add", "dates": "staff.done.dates",
	"suspend": "staff.done.suspend", "resume": "staff.done.resume", "replace": "staff.done.replace",
}

// view gathers the screen of typed.
func (h *Staff) view(rq *request, typed string) (*patronView, error) {
	ctx := rq.r.Context()
	d := rq.cfg.Desk
	f, err := d.Facts(ctx, typed)
	if err != nil {
		return nil, err
	}
	v := &patronView{Typed: typed, Account: f.Account, NotFound: f.NotFound, Deleted: f.Deleted, Store: f.AccountBackend}
	if f.Target == nil {
		v.NoRoute = true
		return v, nil
	}
	v.ID, v.Route, v.Backend = f.Target.ID, f.Target.Route.Name, f.Target.BackendName
	if c := f.Campus; c != nil {
		cv := &campusView{Type: c.Type, Listed: c.Listed, RequirePatron: c.RequirePatron,
			PatronBackend: c.PatronBackend, PatronOK: c.PatronOK, PatronReason: string(c.PatronReason)}
		if h.o.Upstream != nil {
			cv.URLs = h.o.Upstream(v.Backend)
		}
		if len(cv.URLs) == 0 {
			for _, u := range c.URLs {
				cv.URLs = append(cv.URLs, Upstream{URL: u, Up: true})
			}
		}
		if h.o.Lookup != nil {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			e, err := h.o.Lookup(lctx, v.Backend, v.ID)
			cancel()
			switch {
			case err == nil:
				cv.Entry = e
			case !errors.Is(err, backend.ErrNotFound):
				cv.EntryErr = true
			}
		}
		v.Campus = cv
		v.RecordActions = c.RequirePatron && f.Account != nil
		v.CanAdd = c.RequirePatron && f.NotFound
	} else {
		v.PINActions = f.Account != nil
		v.RecordActions = f.Account != nil
		v.CanAdd = f.NotFound
	}
	if v.Store != "" {
		st, err := d.Store(v.Store)
		if err != nil {
			return nil, err
		}
		if f.Account != nil {
			if v.Patron, err = st.GetPatron(ctx, v.ID); err != nil {
				return nil, err
			}
		}
		if v.Audit, err = st.AuditLog(ctx, v.ID, 20); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// target resolves the form's id for an action: its store and normalised
// ID, or an answer already sent (false).
func (h *Staff) target(rq *request, action, field string, patronRecord bool) (*pinstore.Store, *desk.Target, bool) {
	typed := desk.Clean(rq.r.PostFormValue(field))
	if typed == "" {
		h.fail(rq, action, "invalid", http.StatusUnprocessableEntity, "staff.err.noid")
		return nil, nil, false
	}
	st, t, err := rq.cfg.Desk.PinTarget(typed, patronRecord)
	var nr *desk.NoRouteError
	var ce *desk.CampusError
	switch {
	case errors.As(err, &nr):
		h.logAction(rq, action, typed, "no route")
		h.fail(rq, action, "not_found", http.StatusNotFound, "staff.err.noroute", typed)
		return nil, nil, false
	case errors.As(err, &ce):
		h.logAction(rq, action, typed, "campus")
		h.fail(rq, action, "refused", http.StatusConflict, "staff.err.campus", ce.Target.ID)
		return nil, nil, false
	case err != nil:
		h.storeFail(rq, action, typed, err)
		return nil, nil, false
	}
	return st, t, true
}

// freshForm refuses a form whose nonce was already acted on (a double
// click, the browser re-sending the form on reload).
func (h *Staff) freshForm(rq *request, action, id string) bool {
	n := rq.r.PostFormValue("nonce")
	if n == "" || !rq.sess.useNonce(n) {
		h.logAction(rq, action, id, "repeated form")
		rq.p.TitleArg = id
		h.fail(rq, action, "repeated", http.StatusConflict, "staff.err.repeated", id)
		return false
	}
	return true
}

// storeFail answers a store error in words a clerk can act on: never the
// store's own text, never a stack trace.
func (h *Staff) storeFail(rq *request, action, id string, err error) {
	var p *pinstore.Patron
	switch {
	case errors.Is(err, pinstore.ErrNotFound):
		h.logAction(rq, action, id, "not found")
		h.fail(rq, action, "not_found", http.StatusNotFound, "staff.err.notinstore", id)
	case errors.Is(err, pinstore.ErrExists):
		h.logAction(rq, action, id, "exists")
		h.fail(rq, action, "refused", http.StatusConflict, "staff.err.exists", id)
	case errors.Is(err, backend.ErrReadOnly):
		h.log.Warn("web: staff "+action+": store cannot be written", "id", id, "err", err)
		h.fail(rq, action, "unavailable", http.StatusServiceUnavailable, "staff.err.readonly")
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, backend.ErrBusy), errors.Is(err, context.DeadlineExceeded):
		h.log.Warn("web: staff "+action+": store unavailable", "id", id, "err", err)
		h.fail(rq, action, "unavailable", http.StatusServiceUnavailable, "staff.err.unavailable")
	case errors.Is(err, backend.ErrNotPermitted):
		h.logAction(rq, action, id, "not permitted")
		if st, t, terr := rq.cfg.Desk.PinTarget(id, true); terr == nil {
			p, _ = st.GetPatron(rq.r.Context(), t.ID)
		}
		if p != nil && p.Status == pinstore.StatusSuperseded {
			h.fail(rq, action, "refused", http.StatusConflict, "staff.err.superseded", p.ID, p.SupersededBy)
			return
		}
		h.fail(rq, action, "refused", http.StatusConflict, "staff.err.notpermitted", id)
	default:
		h.log.Error("web: staff "+action, "id", id, "addr", clientHost(rq.r), "err", err)
		h.fail(rq, action, "error", http.StatusInternalServerError, "staff.err.internal")
	}
}

// done counts and logs a finished action.
func (h *Staff) done(rq *request, action, id string) {
	h.o.Count(action, "ok")
	h.logAction(rq, action, id, "ok")
}

func (h *Staff) unlock(rq *request) {
	st, t, ok := h.target(rq, "unlock", "id", false)
	if !ok || !h.freshForm(rq, "unlock", t.ID) {
		return
	}
	if err := st.Unlock(rq.storeCtx(), t.ID, rq.sess.uid); err != nil {
		h.storeFail(rq, "unlock", t.ID, err)
		return
	}
	h.done(rq, "unlock", t.ID)
	h.redirect(rq, t.ID, "unlock")
}

// slipView is a printable slip: a one-time PIN and/or a set-up code,
// shown once and never again retrievable (nothing but their hashes is
// kept).
type slipView struct {
	Lang        string // the patron's choice, independent of the console's
	ID, Name    string
	PIN         string
	Code        string
	CodeExpires time.Time
	CodeFailed  bool // the PIN was reset but no code could be issued
	URL         string
	Issued      time.Time
	By          string
}

// T translates key into the slip's language.
func (s *slipView) T(key string, args ...any) string { return T(s.Lang, key, args...) }

// Day is the code's expiry date in the slip.
func (s *slipView) Day(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }

func (h *Staff) slipLang(rq *request) string {
	if l, ok := exactLang(rq.r.PostFormValue("slip_lang")); ok {
		return l
	}
	return rq.p.Lang
}

func (h *Staff) reset(rq *request) {
	st, t, ok := h.target(rq, "reset", "id", false)
	if !ok || !h.freshForm(rq, "reset", t.ID) {
		return
	}
	ctx := rq.storeCtx()
	pin, err := st.ResetPIN(ctx, t.ID, rq.sess.uid)
	if err != nil {
		h.storeFail(rq, "reset", t.ID, err)
		return
	}
	slip := h.newSlip(rq, st, t.ID)
	slip.PIN = pin
	code, exp, err := st.IssueSetupCode(ctx, t.ID, rq.cfg.SetupCodeTTL, rq.sess.uid)
	if err != nil {
		h.log.Warn("web: staff reset: no set-up code", "id", t.ID, "err", err)
		slip.CodeFailed = true
	} else {
		slip.Code, slip.CodeExpires = code, exp
	}
	h.done(rq, "reset", t.ID)
	h.showSlip(rq, slip, "staff.slip.reset.title")
}

func (h *Staff) setupCode(rq *request) {
	st, t, ok := h.target(rq, "setup_code", "id", false)
	if !ok || !h.freshForm(rq, "setup_code", t.ID) {
		return
	}
	code, exp, err := st.IssueSetupCode(rq.storeCtx(), t.ID, rq.cfg.SetupCodeTTL, rq.sess.uid)
	if err != nil {
		h.storeFail(rq, "setup_code", t.ID, err)
		return
	}
	slip := h.newSlip(rq, st, t.ID)
	slip.Code, slip.CodeExpires = code, exp
	h.done(rq, "setup_code", t.ID)
	h.showSlip(rq, slip, "staff.slip.code.title")
}

func (h *Staff) newSlip(rq *request, st *pinstore.Store, id string) *slipView {
	s := &slipView{Lang: h.slipLang(rq), ID: id, URL: rq.cfg.PINPageURL, Issued: h.o.Now(), By: rq.sess.uid}
	if s.URL == "" && rq.cfg.PINPage {
		scheme := "http"
		if h.o.Secure {
			scheme = "https"
		}
		s.URL = scheme + "://" + rq.r.Host + "/pin/setup"
	}
	if p, err := st.GetPatron(rq.r.Context(), id); err == nil {
		s.Name = p.Name
	}
	return s
}

// showSlip answers the slip itself (200, no-store): a reload would send
// the form again, which the nonce refuses.
func (h *Staff) showSlip(rq *request, s *slipView, title string) {
	rq.p.Kind, rq.p.Title, rq.p.TitleArg, rq.p.Slip = "slip", title, s.ID, s
	h.render(rq, http.StatusOK)
}

// confirmView asks before a destructive action; Fields go back as hidden
// inputs with confirm=yes.
type confirmView struct {
	Action   string // form action path
	Question string // message key
	Args     []any
	Fields   [][2]string
	Submit   string // message key of the button
	Back     string // the patron to go back to
}

// QuestionText is the question in the page's language.
func (p *staffPage) QuestionText() string {
	return p.T(p.Confirm.Question, p.Confirm.Args...)
}

func (h *Staff) confirm(rq *request, c *confirmView, id string) {
	rq.p.Kind, rq.p.Title, rq.p.TitleArg, rq.p.Confirm = "confirm", "staff.confirm.title", id, c
	h.render(rq, http.StatusOK)
}

func (h *Staff) replace(rq *request) {
	st, old, ok := h.target(rq, "replace_card", "id", false)
	if !ok {
		return
	}
	typedNew := desk.Clean(rq.r.PostFormValue("new"))
	if typedNew == "" {
		rq.p.TitleArg = old.ID
		h.fail(rq, "replace_card", "invalid", http.StatusUnprocessableEntity, "staff.err.nonew")
		return
	}
	st2, nw, err := rq.cfg.Desk.PinTarget(typedNew, false)
	var nr *desk.NoRouteError
	switch {
	case errors.As(err, &nr):
		h.fail(rq, "replace_card", "invalid", http.StatusUnprocessableEntity, "staff.err.noroute", typedNew)
		return
	case err != nil:
		h.fail(rq, "replace_card", "invalid", http.StatusUnprocessableEntity, "staff.err.newcampus", typedNew)
		return
	case st2 != st:
		h.fail(rq, "replace_card", "invalid", http.StatusUnprocessableEntity, "staff.err.otherstore", old.ID, nw.ID)
		return
	case nw.ID == old.ID:
		h.fail(rq, "replace_card", "invalid", http.StatusUnprocessableEntity, "staff.err.samecard", old.ID)
		return
	}
	p, err := st.GetPatron(rq.r.Context(), old.ID)
	if err != nil {
		h.storeFail(rq, "replace_card", old.ID, err)
		return
	}
	if rq.r.PostFormValue("confirm") != "yes" {
		h.confirm(rq, &confirmView{Action: "/staff/replace", Question: "staff.confirm.replace", Args: []any{old.ID, p.Name, nw.ID},
			Fields: [][2]string{{"id", old.ID}, {"new", nw.ID}}, Submit: "staff.replace.yes", Back: old.ID}, old.ID)
		return
	}
	if !h.freshForm(rq, "replace_card", old.ID) {
		return
	}
	if err := st.ReplaceCard(rq.storeCtx(), old.ID, nw.ID, rq.sess.uid); err != nil {
		id := old.ID
		if errors.Is(err, pinstore.ErrExists) {
			id = nw.ID
		}
		h.storeFail(rq, "replace_card", id, err)
		return
	}
	h.done(rq, "replace_card", old.ID+" -> "+nw.ID)
	h.redirect(rq, nw.ID, "replace")
}

// parseDay reads an <input type="date"> value (YYYY-MM-DD, local time);
// "" is no date.
func parseDay(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.ParseInLocation(time.DateOnly, s, time.Local)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func (h *Staff) add(rq *request) {
	st, t, ok := h.target(rq, "add", "id", true)
	if !ok {
		return
	}
	r, p := rq.r, rq.p
	name := strings.TrimSpace(r.PostFormValue("name"))
	from, okFrom := parseDay(r.PostFormValue("active_from"))
	exp, okExp := parseDay(r.PostFormValue("expires"))
	if name == "" {
		p.addError("name", "staff.err.required.name")
	}
	if !okFrom {
		p.addError("active_from", "staff.err.date")
	}
	if !okExp {
		p.addError("expires", "staff.err.date")
	}
	if len(p.Errors) > 0 {
		h.o.Count("add", "invalid")
		h.renderPatronWithErrors(rq, t.Typed)
		return
	}
	if !h.freshForm(rq, "add", t.ID) {
		return
	}
	pt := pinstore.Patron{ID: t.ID, Name: name, Email: strings.TrimSpace(r.PostFormValue("email")),
		Category: strings.TrimSpace(r.PostFormValue("category")), ActiveFrom: from, Expires: exp,
		Institution: pinstore.InstitutionFor(t.ID)}
	ctx := rq.storeCtx()
	if err := st.AddPatron(ctx, pt, rq.sess.uid); err != nil {
		h.storeFail(rq, "add", t.ID, err)
		return
	}
	h.done(rq, "add", t.ID)
	isPIN := t.Backend != nil && t.Backend.Type == "pinstore" && t.Route.Backend == t.BackendName
	if r.PostFormValue("setup_code") == "yes" && isPIN {
		code, exp, err := st.IssueSetupCode(ctx, t.ID, rq.cfg.SetupCodeTTL, rq.sess.uid)
		if err != nil {
			h.storeFail(rq, "setup_code", t.ID, err)
			return
		}
		h.o.Count("setup_code", "ok")
		slip := h.newSlip(rq, st, t.ID)
		slip.Code, slip.CodeExpires = code, exp
		h.showSlip(rq, slip, "staff.slip.code.title")
		return
	}
	h.redirect(rq, t.ID, "add")
}

// renderPatronWithErrors shows the patron's screen again with the form's
// errors (422), the typed values kept.
func (h *Staff) renderPatronWithErrors(rq *request, typed string) {
	v, err := h.view(rq, typed)
	if err != nil {
		h.storeFail(rq, "lookup", typed, err)
		return
	}
	rq.p.Kind, rq.p.Title, rq.p.TitleArg, rq.p.Patron = "patron", "staff.patron.title", v.ID, v
	h.render(rq, http.StatusUnprocessableEntity)
}

func (h *Staff) dates(rq *request) {
	st, t, ok := h.target(rq, "dates", "id", true)
	if !ok {
		return
	}
	from, okFrom := parseDay(rq.r.PostFormValue("active_from"))
	exp, okExp := parseDay(rq.r.PostFormValue("expires"))
	if !okFrom {
		rq.p.addError("active_from", "staff.err.date")
	}
	if !okExp {
		rq.p.addError("expires", "staff.err.date")
	}
	if len(rq.p.Errors) > 0 {
		h.o.Count("dates", "invalid")
		h.renderPatronWithErrors(rq, t.Typed)
		return
	}
	if !h.freshForm(rq, "dates", t.ID) {
		return
	}
	p, err := st.GetPatron(rq.r.Context(), t.ID)
	if err != nil {
		h.storeFail(rq, "dates", t.ID, err)
		return
	}
	u := *p
	u.ActiveFrom, u.Expires = from, exp
	if err := st.UpdatePatron(rq.storeCtx(), u, rq.sess.uid); err != nil {
		h.storeFail(rq, "dates", t.ID, err)
		return
	}
	h.done(rq, "dates", t.ID)
	h.redirect(rq, t.ID, "dates")
}

func (h *Staff) suspend(rq *request) {
	st, t, ok := h.target(rq, "suspend", "id", true)
	if !ok {
		return
	}
	reason := strings.TrimSpace(rq.r.PostFormValue("reason"))
	if reason == "" {
		rq.p.addError("reason", "staff.err.required.reason")
		h.o.Count("suspend", "invalid")
		h.renderPatronWithErrors(rq, t.Typed)
		return
	}
	p, err := st.GetPatron(rq.r.Context(), t.ID)
	if err != nil {
		h.storeFail(rq, "suspend", t.ID, err)
		return
	}
	if rq.r.PostFormValue("confirm") != "yes" {
		h.confirm(rq, &confirmView{Action: "/staff/suspend", Question: "staff.confirm.suspend", Args: []any{t.ID, p.Name, reason},
			Fields: [][2]string{{"id", t.ID}, {"reason", reason}}, Submit: "staff.suspend.yes", Back: t.ID}, t.ID)
		return
	}
	if !h.freshForm(rq, "suspend", t.ID) {
		return
	}
	if err := st.Suspend(rq.storeCtx(), t.ID, reason, rq.sess.uid); err != nil {
		h.storeFail(rq, "suspend", t.ID, err)
		return
	}
	h.done(rq, "suspend", t.ID)
	h.redirect(rq, t.ID, "suspend")
}

func (h *Staff) resume(rq *request) {
	st, t, ok := h.target(rq, "resume", "id", true)
	if !ok || !h.freshForm(rq, "resume", t.ID) {
		return
	}
	p, err := st.GetPatron(rq.r.Context(), t.ID)
	if err != nil {
		h.storeFail(rq, "resume", t.ID, err)
		return
	}
	if p.Status == pinstore.StatusActive {
		rq.p.TitleArg = t.ID
		h.logAction(rq, "resume", t.ID, "not suspended")
		h.fail(rq, "resume", "refused", http.StatusConflict, "staff.err.notsuspended", t.ID)
		return
	}
	if err := st.Resume(rq.storeCtx(), t.ID, rq.sess.uid); err != nil {
		h.storeFail(rq, "resume", t.ID, err)
		return
	}
	h.done(rq, "resume", t.ID)
	h.redirect(rq, t.ID, "resume")
}
