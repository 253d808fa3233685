package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
)

// contentSecurityPolicy allows the page's own stylesheet and script and
// nothing else: no inline code, no frames, forms only to this origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// setSecurityHeaders adds the headers every response carries.
func (h *Handler) setSecurityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
	if h.secure {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// csrfCookieName is the double-submit cookie: "__Host-" over HTTPS (the
// browser then insists on Secure, Path=/ and no Domain).
func (h *Handler) csrfCookieName() string {
	if h.secure {
		return "__Host-bindery_csrf"
	}
	return "bindery_csrf"
}

// csrfToken returns the request's token from its cookie, or a new one set
// in a cookie on w.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(h.csrfCookieName()); err == nil && validToken(c.Value) {
		return c.Value
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("web: crypto/rand failed: " + err.Error())
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	c := &http.Cookie{
		Name:     h.csrfCookieName(),
		Value:    tok,
		Path:     "/pin/",
		HttpOnly: true,
		Secure:   h.secure,
		SameSite: http.SameSiteStrictMode,
	}
	if h.secure {
		c.Path = "/"
	}
	http.SetCookie(w, c)
	return tok
}

func validToken(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// csrfOK checks a POST: the form's token equals the cookie's (constant
// time), the Origin header, when the browser sent one, is this host, and
// Sec-Fetch-Site, when sent, is not cross-site.
func (h *Handler) csrfOK(r *http.Request) bool {
	// With Referrer-Policy no-referrer browsers send "Origin: null" on a
	// same-origin POST: only a real origin is compared.
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	c, err := r.Cookie(h.csrfCookieName())
	if err != nil || !validToken(c.Value) {
		return false
	}
	form := r.PostFormValue("csrf")
	return subtle.ConstantTimeCompare([]byte(form), []byte(c.Value)) == 1
}
