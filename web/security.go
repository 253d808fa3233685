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
func (h *Handler) setSecurityHeaders(w http.ResponseWriter) { securityHeaders(w, h.secure) }

// securityHeaders sets the headers of every page of the PIN page and the
// staff console.
func securityHeaders(w http.ResponseWriter, secure bool) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
	if secure {
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
	return csrfCookieToken(w, r, h.csrfCookieName(), "/pin/", h.secure)
}

// csrfCookieToken is the double-submit token of a form: the request's
// cookie name, or a new token set in it (Path path over HTTP, "/" over
// HTTPS, as a __Host- cookie must have).
func csrfCookieToken(w http.ResponseWriter, r *http.Request, name, path string, secure bool) string {
	if c, err := r.Cookie(name); err == nil && validToken(c.Value) {
		return c.Value
	}
	tok := newToken()
	c := &http.Cookie{
		Name:     name,
		Value:    tok,
		Path:     path,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	}
	if secure {
		c.Path = "/"
	}
	http.SetCookie(w, c)
	return tok
}

// newToken is 32 random bytes, base64url.
func newToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("web: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validToken(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// csrfOK checks a POST: the form's token equals the cookie's (constant
// time), the Origin header, when the browser sent one, is this host, and
// Sec-Fetch-Site, when sent, is not cross-site.
func (h *Handler) csrfOK(r *http.Request) bool {
	return doubleSubmitOK(r, h.csrfCookieName())
}

// doubleSubmitOK: same origin, and the form's csrf field equals the
// cookie's token (constant time).
func doubleSubmitOK(r *http.Request, cookie string) bool {
	if !sameOrigin(r) {
		return false
	}
	c, err := r.Cookie(cookie)
	if err != nil || !validToken(c.Value) {
		return false
	}
	return tokenEqual(r.PostFormValue("csrf"), c.Value)
}

// sameOrigin refuses a POST whose Origin header, when the browser sent
// one, is another host, or whose Sec-Fetch-Site says cross-site.
func sameOrigin(r *http.Request) bool {
	// With Referrer-Policy no-referrer browsers send "Origin: null" on a
	// same-origin POST: only a real origin is compared.
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return r.Header.Get("Sec-Fetch-Site") != "cross-site"
}

// tokenEqual compares two tokens in constant time.
func tokenEqual(a, b string) bool {
	return b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
