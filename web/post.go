package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
)

// post handles a submitted set-up or change form.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, kind string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p := h.newPage(w, r, kind)
		p.FormError = "err.csrf"
		h.render(w, p, http.StatusBadRequest)
		return
	}
	p := h.newPage(w, r, kind)
	card := strings.TrimSpace(r.PostFormValue("card"))
	p.Card = card
	addr := addrKey(clientAddr(r))
	st, id, ok := h.resolve(card)
	// A card number no route takes is often a PIN typed into the wrong
	// field: it is never logged, only its length.
	cardAttr := []any{"card", id}
	if !ok {
		cardAttr = []any{"card_len", len(card), "route", "none"}
	}
	logAttempt := func(outcome string) {
		h.log.Info("web: pin "+kind, append(cardAttr, "addr", addr, "outcome", outcome)...)
	}

	if !h.csrfOK(r) {
		logAttempt("csrf")
		p.FormError = "err.csrf"
		h.render(w, p, http.StatusForbidden)
		return
	}
	if blocked, left := h.limit.blocked(addr); blocked {
		logAttempt("throttled")
		h.throttled(w, p, left)
		return
	}

	secretField := "code"
	if kind == "change" {
		secretField = "current"
	}
	secret := r.PostFormValue(secretField)
	if kind == "setup" {
		secret = strings.TrimSpace(secret)
	}
	newPIN, confirm := r.PostFormValue("new"), r.PostFormValue("confirm")
	if card == "" {
		p.addError("card", "err.required.card")
	}
	if secret == "" {
		p.addError(secretField, "err.required."+secretField)
	}
	if newPIN == "" {
		p.addError("new", "err.required.new")
	} else if err := p.Policy.Check(newPIN); err != nil {
		h.policyErrors(p, err)
	}
	if confirm == "" {
		p.addError("confirm", "err.required.confirm")
	} else if newPIN != "" && confirm != newPIN {
		p.addError("confirm", "err.mismatch")
	}
	if len(p.Errors) > 0 {
		logAttempt("invalid form")
		h.render(w, p, http.StatusUnprocessableEntity)
		return
	}

	var err error
	switch {
	case !ok:
		if h.dummy != nil {
			h.dummy(r.Context(), addr, secret)
		}
		err = backend.ErrNotFound
	case kind == "setup":
		err = st.UseSetupCode(r.Context(), id, secret, newPIN, addr)
	default:
		_, err = st.ChangePassword(r.Context(), backend.PasswordChange{
			ID: id, Old: secret, New: newPIN, Operator: pinstore.SetupOperator, ClientAddr: addr,
		})
		if errors.Is(err, backend.ErrNotFound) && h.dummy != nil {
			h.dummy(r.Context(), addr, secret) // the store answered at once: cost what a wrong PIN costs
		}
	}
	if ok {
		card = id
	}
	var pe *backend.PolicyError
	switch {
	case err == nil:
		logAttempt("ok")
		p.Kind, p.Title, p.Done = "done", "done."+kind+".title", "done."+kind
		p.Path = "/pin/" + kind + "/done" // the language switch keeps the confirmation
		p.Card = ""
		http.SetCookie(w, &http.Cookie{Name: doneCookie, Value: kind, Path: "/pin/", MaxAge: 600,
			HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
		h.render(w, p, http.StatusOK)
	case errors.As(err, &pe):
		logAttempt("policy")
		h.policyErrors(p, err)
		h.render(w, p, http.StatusUnprocessableEntity)
	case errors.Is(err, backend.ErrBusy), errors.Is(err, backend.ErrUnavailable), errors.Is(err, backend.ErrReadOnly):
		h.log.Warn("web: pin "+kind+": store unavailable", append(cardAttr, "addr", addr, "err", err)...)
		p.Kind, p.Title, p.FormError = "message", "unavailable.title", "err.unavailable"
		w.Header().Set("Retry-After", "60")
		h.render(w, p, http.StatusServiceUnavailable)
	case kind == "setup" && errors.Is(err, pinstore.ErrSetupCodeExpired):
		logAttempt("expired code")
		p.addError("code", "err.expired")
		h.render(w, p, http.StatusUnprocessableEntity)
	case kind == "setup" && errors.Is(err, backend.ErrNotPermitted):
		logAttempt("not permitted")
		p.FormError = "err.notpermitted"
		h.render(w, p, http.StatusForbidden)
	default:
		// Unknown card, wrong code or PIN, locked, not permitted to change:
		// one answer, tied to both fields. It counts against the address.
		logAttempt("wrong card or secret")
		h.limit.fail(addr)
		msg := "err.badcode"
		if kind == "change" {
			msg = "err.badold"
		}
		p.addError(secretField, msg)
		p.CardLinked = secretField // the card field is marked invalid and described by that message
		h.render(w, p, http.StatusUnauthorized)
	}
}

// policyErrors puts each problem of a *backend.PolicyError on the new PIN
// field, in the page's language (never the store's English message).
func (h *Handler) policyErrors(p *page, err error) {
	var pe *backend.PolicyError
	if !errors.As(err, &pe) {
		return
	}
	for _, pr := range pe.Problems {
		switch pr.Code {
		case "too_short":
			p.addError("new", "err.too_short", p.Policy.MinLength)
		case "too_long":
			p.addError("new", "err.too_long", p.Policy.MaxLength)
		case "too_few_classes":
			if p.Policy.MinClasses <= 1 {
				p.addError("new", "err.too_few_classes1")
			} else {
				p.addError("new", "err.too_few_classes", p.Policy.MinClasses)
			}
		case "bad_char":
			p.addError("new", "err.bad_char", pr.Position)
		case "same_as_old":
			p.addError("new", "err.same_as_old")
		default:
			p.addError("new", "err.policy")
		}
	}
}

// throttled answers 429 with the minutes to wait.
func (h *Handler) throttled(w http.ResponseWriter, p *page, left time.Duration) {
	mins := int((left + time.Minute - 1) / time.Minute)
	if mins < 1 {
		mins = 1
	}
	p.Kind, p.Title = "message", "throttled.title"
	p.FormError, p.FormErrorArgs = "err.throttled", []any{mins}
	w.Header().Set("Retry-After", strconv.Itoa(int(left.Seconds())+1))
	h.render(w, p, http.StatusTooManyRequests)
}
