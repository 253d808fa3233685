package web

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/bindery/bindery/backend/pinstore"
)

// page is what a template renders: one of index, setup, change, done,
// throttled, unavailable, notfound.
type page struct {
	Kind   string // the template block
	Form   string // "setup" or "change" for form pages and their results
	Path   string // the page's own path, for the language switch and form action
	Lang   string
	Title  string // message key of the heading
	CSRF   string
	Policy pinstore.Policy
	Card   string // echoed back after an error (never a PIN or code)
	// Errors by field (card, code, current, new, confirm): message texts
	// already in the page's language.
	Errors map[string][]string
	// FormError is a message key for an error about the whole form.
	FormError     string
	FormErrorArgs []any
	// CardLinked names the field whose error is also about the card number
	// (a wrong card or code gets one message, tied to both fields).
	CardLinked string
	Done       string // message key of the success text
}

// pageFields is the order of the fields in the error summary.
var pageFields = []string{"card", "code", "current", "new", "confirm"}

func (h *Handler) newPage(w http.ResponseWriter, r *http.Request, kind string) *page {
	lang, switched := chooseLang(r)
	if switched {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/pin/", Secure: h.secure,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	}
	p := &page{Kind: kind, Path: r.URL.Path, Lang: lang, Policy: h.policy(), Errors: map[string][]string{}}
	switch kind {
	case "setup", "change":
		p.Form = kind
		p.Title = kind + ".title"
		p.CSRF = h.csrfToken(w, r)
	case "index":
		p.Title = "index.title"
	}
	return p
}

// T translates key into the page's language.
func (p *page) T(key string, args ...any) string { return T(p.Lang, key, args...) }

// Langs is the language switch: every other language with its link.
func (p *page) Langs() []struct{ Code, Name, Href string } {
	var out []struct{ Code, Name, Href string }
	for _, l := range languages {
		if l != p.Lang {
			out = append(out, struct{ Code, Name, Href string }{l, T(l, "lang.name"), p.Path + "?lang=" + l})
		}
	}
	return out
}

// TitlePrefix starts the <title> of a page that reports an error, so a
// screen reader user hears at once that the submission failed.
func (p *page) TitlePrefix() string {
	if !p.HasErrors() {
		return ""
	}
	pre := p.T("error.prefix")
	if strings.HasSuffix(pre, ":") {
		pre += " " // "Error: "; the Chinese full-width colon needs no space
	}
	return pre
}

// MinLength, MaxLength and PasswordRules describe the PIN rules to the
// browser and to password managers (Apple's passwordrules syntax), so a
// generated PIN passes: letters and digits are required when two classes
// are, and symbols too when three are.
func (p *page) PasswordRules() string {
	r := "minlength: " + strconv.Itoa(p.Policy.MinLength) + "; maxlength: " + strconv.Itoa(p.Policy.MaxLength) + ";"
	if p.Policy.MinClasses >= 2 {
		r += " required: lower, upper; required: digit;"
	}
	if p.Policy.MinClasses >= 3 {
		r += " required: [-!#$%&*+=?@^_~];"
	}
	return r + " allowed: lower, upper, digit, [-!#$%&*+=?@^_~];"
}

// HasErrors reports whether the form has any error.
func (p *page) HasErrors() bool { return len(p.Errors) > 0 || p.FormError != "" }

// Summary lists the field errors in field order, for the summary at the
// top (each links to its field).
func (p *page) Summary() []struct{ Field, Text string } {
	var out []struct{ Field, Text string }
	for _, f := range pageFields {
		for _, e := range p.Errors[f] {
			out = append(out, struct{ Field, Text string }{f, e})
		}
	}
	return out
}

// FormErrorText is the whole-form error in the page's language.
func (p *page) FormErrorText() string {
	if p.FormError == "" {
		return ""
	}
	return p.T(p.FormError, p.FormErrorArgs...)
}

// Invalid is "true" when field has an error (aria-invalid).
func (p *page) Invalid(field string) string {
	if len(p.Errors[field]) > 0 || (field == "card" && p.CardLinked != "") {
		return "true"
	}
	return "false"
}

// Describe is the aria-describedby of field: its hint and its error.
func (p *page) Describe(field string, hint bool) string {
	s := ""
	if hint {
		s = field + "-hint"
	}
	if len(p.Errors[field]) > 0 {
		if s != "" {
			s += " "
		}
		s += field + "-error"
	}
	if field == "card" && p.CardLinked != "" {
		if s != "" {
			s += " "
		}
		s += p.CardLinked + "-error"
	}
	return s
}

// RuleClasses is the classes rule of the policy in the page's language.
func (p *page) RuleClasses() string {
	if p.Policy.MinClasses <= 1 {
		return p.T("rules.classes1")
	}
	return p.T("rules.classes", p.Policy.MinClasses)
}

// Data is the data-* attributes the rule script reads.
func (p *page) Data() template.HTMLAttr {
	return template.HTMLAttr(`data-min="` + strconv.Itoa(p.Policy.MinLength) +
		`" data-max="` + strconv.Itoa(p.Policy.MaxLength) +
		`" data-classes="` + strconv.Itoa(p.Policy.MinClasses) +
		`" data-met="` + template.HTMLEscapeString(p.T("rules.met")) +
		`" data-unmet="` + template.HTMLEscapeString(p.T("rules.unmet")) +
		`" data-summary="` + template.HTMLEscapeString(p.T("rules.summary")) +
		`" data-match="` + template.HTMLEscapeString(p.T("rules.match")) +
		`" data-nomatch="` + template.HTMLEscapeString(p.T("rules.nomatch")) + `"`)
}

// addError adds a message for field.
func (p *page) addError(field, key string, args ...any) {
	p.Errors[field] = append(p.Errors[field], p.T(key, args...))
}

// fieldErrorsView is what the "errors" template shows under a field.
type fieldErrorsView struct {
	Field  string
	Texts  []string
	Prefix string
}

// fieldErrors is the template function that gives the errors of one field.
func fieldErrors(p *page, field string) fieldErrorsView {
	return fieldErrorsView{Field: field, Texts: p.Errors[field], Prefix: p.T("error.prefix")}
}
