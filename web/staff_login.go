package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
)

// loginPage answers the log-in form, with a message key when there is
// something to say (a session that ended, a refusal).
func (h *Staff) loginPage(rq *request, msg string, status int) {
	p := rq.p
	p.Kind, p.Title = "login", "staff.login.title"
	p.CSRF = csrfCookieToken(rq.w, rq.r, h.loginCSRFCookie(), "/staff/", h.o.Secure)
	if msg != "" {
		p.Error = msg
	}
	if status == http.StatusOK && msg != "" {
		status = http.StatusUnauthorized
	}
	h.render(rq, status)
}

// login checks a staff member's campus password through bindery's own
// routes and starts a session for someone in a role.
func (h *Staff) login(rq *request) {
	r, p := rq.r, rq.p
	if err := r.ParseForm(); err != nil {
		h.o.Count("login", "invalid")
		h.loginPage(rq, "staff.err.form", http.StatusBadRequest)
		return
	}
	typed := strings.TrimSpace(r.PostFormValue("uid"))
	p.Login = typed
	p.Next = localNext(r.PostFormValue("next"))
	addr := addrKey(clientAddr(r))
	outcome := func(result, reason string) {
		h.o.Count("login", result)
		h.log.Info("web: staff login", "staff", typed, "addr", clientHost(r), "outcome", result, "reason", reason)
	}
	if !doubleSubmitOK(r, h.loginCSRFCookie()) {
		outcome("csrf", "")
		h.loginPage(rq, "staff.err.csrf", http.StatusForbidden)
		return
	}
	if blocked, left := h.limit.blocked(addr); blocked {
		outcome("throttled", "address")
		mins := int((left.Minutes()) + 1)
		rq.w.Header().Set("Retry-After", strconv.Itoa(int(left.Seconds())+1))
		p.ErrorArgs = []any{mins}
		h.loginPage(rq, "staff.login.throttled", http.StatusTooManyRequests)
		return
	}
	password := r.PostFormValue("password")
	if typed == "" {
		p.addError("uid", "staff.err.required.uid")
	}
	if password == "" {
		p.addError("password", "staff.err.required.password")
	}
	if len(p.Errors) > 0 {
		outcome("invalid", "")
		h.loginPage(rq, "", http.StatusUnprocessableEntity)
		return
	}
	id := typed
	if h.o.PersonID != nil {
		if pid, ok := h.o.PersonID(typed); ok {
			id = pid
		}
	}
	// A PIN-store ID never gets in, and its PIN is never checked here: the
	// console is no way to guess patrons' PINs.
	if t, ok := rq.cfg.Desk.Resolve(id); ok && t.Backend != nil && t.Backend.Type == "pinstore" {
		outcome("refused", "patron_id")
		h.staffEvent(rq, t.ID, "staff-login-refused", "a PIN-store ID")
		h.loginPage(rq, "staff.login.patron", http.StatusForbidden)
		return
	}
	l, ok, err := h.o.Login(r.Context(), id, password, clientAddr(r))
	switch {
	case err != nil:
		outcome("unavailable", err.Error())
		rq.w.Header().Set("Retry-After", "30")
		h.loginPage(rq, "staff.login.unavailable", http.StatusServiceUnavailable)
		return
	case l.Wait > 0:
		outcome("throttled", "account")
		rq.w.Header().Set("Retry-After", strconv.Itoa(int(l.Wait.Seconds())+1))
		p.ErrorArgs = []any{int(l.Wait.Seconds()) + 1}
		h.loginPage(rq, "staff.login.wait", http.StatusTooManyRequests)
		return
	case !ok:
		h.limit.fail(addr)
		outcome("failed", string(l.Result.Reason))
		if l.ID != "" {
			h.staffEvent(rq, l.ID, "staff-login-failed", "reason="+string(l.Result.Reason))
		}
		h.loginPage(rq, "staff.login.bad", http.StatusUnauthorized)
		return
	}
	if rq.cfg.Desk.Config.Backends[l.Backend] != nil && rq.cfg.Desk.Config.Backends[l.Backend].Type == "pinstore" {
		// The routes changed between the check above and the bind.
		outcome("refused", "patron_id")
		h.loginPage(rq, "staff.login.patron", http.StatusForbidden)
		return
	}
	s := &staffSession{uid: l.ID, lang: p.Lang}
	e := l.Result.Entry
	if e == nil && h.o.Lookup != nil {
		e, _ = h.o.Lookup(r.Context(), l.Backend, l.ID) // a cache may keep no entry
	}
	if e != nil {
		s.name, s.category, s.groups = e.CommonName, e.Category, e.Extra["memberOf"]
	}
	role := roleOf(rq.cfg.Roles, s.uid, s.category, s.groups)
	if role == roleNone {
		outcome("norole", "")
		h.staffEvent(rq, l.ID, "staff-login-refused", "in no role")
		h.loginPage(rq, "staff.login.norole", http.StatusForbidden)
		return
	}
	if c, err := r.Cookie(h.sessionCookie()); err == nil { // a log-in always starts a new session
		if old, _ := h.ss.get(c.Value); old != nil {
			h.ss.remove(old)
		}
	}
	token, _ := h.ss.create(s)
	h.setSessionCookie(rq.w, token, int(h.o.AbsoluteTimeout.Seconds()))
	outcome("ok", roleNames[role])
	h.staffEvent(rq, l.ID, "staff-login", "role="+roleNames[role])
	http.Redirect(rq.w, r, p.Next, http.StatusSeeOther)
}

// logout ends the session.
func (h *Staff) logout(rq *request) {
	h.ss.remove(rq.sess)
	h.setSessionCookie(rq.w, "", -1)
	h.o.Count("logout", "ok")
	h.logAction(rq, "logout", "", "ok")
	h.staffEvent(rq, rq.sess.uid, "staff-logout", "")
	rq.sess = nil
	rq.p.Staff = nil
	rq.p.Notice = "staff.login.out"
	h.loginPage(rq, "", http.StatusOK)
}

// staffEvent records a log-in, log-out or refusal in the staff audit
// trail of [staff] audit_backend (best effort: a store that cannot be
// written is logged, the log-in goes on).
func (h *Staff) staffEvent(rq *request, uid, action, detail string) {
	st := h.auditStore(rq)
	if st == nil {
		return
	}
	if err := st.RecordStaffEvent(rq.storeCtx(), uid, action, uid, detail); err != nil {
		level := h.log.Warn
		if !errors.Is(err, backend.ErrUnavailable) && !errors.Is(err, backend.ErrReadOnly) {
			level = h.log.Error
		}
		level("web: staff audit", "action", action, "staff", uid, "err", err)
	}
}

func (h *Staff) auditStore(rq *request) *pinstore.Store {
	if rq.cfg.AuditBackend == "" || rq.cfg.Desk == nil || rq.cfg.Desk.Store == nil {
		return nil
	}
	st, err := rq.cfg.Desk.Store(rq.cfg.AuditBackend)
	if err != nil {
		return nil
	}
	return st
}
