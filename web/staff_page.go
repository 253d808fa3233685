package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/bindery/bindery/backend/pinstore"
)

// staffPage is what staff.html renders. Kind picks the main part: login,
// home, patron, slip, confirm, import, activity, message.
type staffPage struct {
	Kind  string
	Lang  string
	Path  string // for the language switch
	Query string // the page's query without lang, for the language switch
	Title string // message key
	// TitleArg is shown after the title (the ID of a patron's page).
	TitleArg string
	CSRF     string
	Staff    *staffView
	Role     int
	Next     string // login: where to go afterwards

	Error     string // message key of an error about the whole page
	ErrorArgs []any
	Errors    map[string][]string // by field, already translated
	Notice    string              // message key of a success notice (after an action)
	NoticeArg []any

	Login    string // login: the ID typed (echoed back, never the password)
	Patron   *patronView
	Slip     *slipView
	Confirm  *confirmView
	Import   *importView
	Activity *activityView
	Stores   []string // admin: the PIN stores to pick from
	Now      time.Time
}

type staffView struct{ UID, Name, Role string }

func (h *Staff) newPage(rq *request) *staffPage {
	lang, switched := chooseLang(rq.r)
	if switched {
		http.SetCookie(rq.w, &http.Cookie{Name: langCookie, Value: lang, Path: "/staff/", Secure: h.o.Secure,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	}
	q := rq.r.URL.Query()
	q.Del("lang")
	q.Del("done")
	return &staffPage{Lang: lang, Path: rq.r.URL.Path, Query: q.Encode(), Errors: map[string][]string{}, Now: h.o.Now()}
}

// T translates key into the page's language.
func (p *staffPage) T(key string, args ...any) string { return T(p.Lang, key, args...) }

// Can reports whether the staff member's role allows what needs role
// ("counter", "admin").
func (p *staffPage) Can(role string) bool {
	switch role {
	case "admin":
		return p.Role >= roleAdmin
	case "counter":
		return p.Role >= roleCounter
	}
	return p.Role >= roleViewer
}

// Langs is the language switch of the page.
func (p *staffPage) Langs() []struct{ Code, Name, Href string } {
	var out []struct{ Code, Name, Href string }
	for _, l := range languages {
		if l != p.Lang {
			href := p.Path + "?lang=" + l
			if p.Query != "" {
				href += "&" + p.Query
			}
			out = append(out, struct{ Code, Name, Href string }{l, T(l, "lang.name"), href})
		}
	}
	return out
}

// ErrorText is the page's error in its language.
func (p *staffPage) ErrorText() string {
	if p.Error == "" {
		return ""
	}
	return p.T(p.Error, p.ErrorArgs...)
}

// NoticeText is the page's notice in its language.
func (p *staffPage) NoticeText() string {
	if p.Notice == "" {
		return ""
	}
	return p.T(p.Notice, p.NoticeArg...)
}

// HasErrors reports whether a form on the page has errors.
func (p *staffPage) HasErrors() bool { return len(p.Errors) > 0 }

// FieldErrors lists the errors of a field.
func (p *staffPage) FieldErrors(field string) []string { return p.Errors[field] }

// Invalid is aria-invalid of a field.
func (p *staffPage) Invalid(field string) string {
	if len(p.Errors[field]) > 0 {
		return "true"
	}
	return "false"
}

func (p *staffPage) addError(field, key string, args ...any) {
	p.Errors[field] = append(p.Errors[field], p.T(key, args...))
}

// When shows an instant to the minute in the server's time zone.
func (p *staffPage) When(t time.Time) string {
	switch {
	case t.IsZero():
		return p.T("staff.never")
	case t.Equal(pinstore.LockForever):
		return p.T("staff.until_unlock")
	}
	return t.Local().Format("2006-01-02 15:04")
}

// Day shows a date (with the time when it is not midnight).
func (p *staffPage) Day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	lt := t.Local()
	if lt.Hour() == 0 && lt.Minute() == 0 && lt.Second() == 0 {
		return lt.Format(time.DateOnly)
	}
	return lt.Format("2006-01-02 15:04")
}

// DateValue is a date for an <input type="date">.
func (p *staffPage) DateValue(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(time.DateOnly)
}

// Nonce is a fresh one-time token for an action form: acting on it twice
// (a double click, a reload of the answer) is refused.
func (p *staffPage) Nonce() string { return newToken()[:22] }

// FullTitle is the <title>: "Error: " first when the page reports one.
func (p *staffPage) FullTitle() string {
	t := p.T(p.Title)
	if p.TitleArg != "" {
		t += " " + p.TitleArg
	}
	if p.Error != "" || len(p.Errors) > 0 {
		pre := p.T("error.prefix")
		if strings.HasSuffix(pre, ":") {
			pre += " "
		}
		t = pre + t
	}
	return t + " · " + p.T("staff.site")
}
