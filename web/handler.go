package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
)

// Store is what the pages need of a PIN store; *pinstore.Store has it.
type Store interface {
	// UseSetupCode sets the first PIN with a set-up code, or the new PIN of
	// a must-change account with its one-time PIN (pinstore.UseSetupCode).
	UseSetupCode(ctx context.Context, id, code, newPIN, clientAddr string) error
	// ChangePassword changes a PIN with the current one (Force false).
	ChangePassword(ctx context.Context, req backend.PasswordChange) (string, error)
}

var _ Store = (*pinstore.Store)(nil)

// Options configure New.
type Options struct {
	// Resolve maps a typed card number to the store that owns its PIN and
	// the number as that store knows it (the route's case rule), or
	// ok=false when no PIN store owns it. Required.
	Resolve func(card string) (st Store, id string, ok bool)
	// Policy returns the PIN rules shown and checked on the page (the
	// store's check is the one that counts). nil: pinstore.DefaultPolicy.
	Policy func() pinstore.Policy
	// DummyVerify, when set, is called with the secret typed for a card no
	// store owns, so that answer costs what a wrong code does.
	DummyVerify func(ctx context.Context, client, secret string)
	// Secure: the page is served over HTTPS (__Host- cookie, Secure, HSTS).
	Secure bool
	// MaxFailuresPerAddr failed attempts from one client address (IPv6: one
	// /64) within AddrWindow get "429 too many attempts" until the window
	// ends. Defaults 10 and 15m; negative MaxFailuresPerAddr turns it off.
	MaxFailuresPerAddr int
	AddrWindow         time.Duration
	// MaxAddrs bounds the addresses the throttle remembers (default 10000).
	MaxAddrs int
	// Logger gets one line per attempt (card number, address, outcome;
	// never a PIN or code). nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock of the throttle; nil: time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxFailuresPerAddr = 10
	DefaultAddrWindow         = 15 * time.Minute
	DefaultMaxAddrs           = 10000
	maxFormBytes              = 8 << 10
)

// Handler serves the pages under /pin/.
type Handler struct {
	resolve func(string) (Store, string, bool)
	policy  func() pinstore.Policy
	dummy   func(ctx context.Context, client, secret string)
	secure  bool
	limit   *limiter
	log     *slog.Logger
	tmpl    *template.Template
	static  http.Handler
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns the handler. Mount it at "/pin/".
func New(o Options) (*Handler, error) {
	if o.Resolve == nil {
		return nil, errors.New("web: new: Options.Resolve is required")
	}
	if o.Policy == nil {
		o.Policy = func() pinstore.Policy { return pinstore.DefaultPolicy }
	}
	if o.MaxFailuresPerAddr == 0 {
		o.MaxFailuresPerAddr = DefaultMaxFailuresPerAddr
	}
	if o.AddrWindow <= 0 {
		o.AddrWindow = DefaultAddrWindow
	}
	if o.MaxAddrs <= 0 {
		o.MaxAddrs = DefaultMaxAddrs
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("web: new: %w", err)
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: new: %w", err)
	}
	return &Handler{
		resolve: o.Resolve,
		policy:  o.Policy,
		dummy:   o.DummyVerify,
		secure:  o.Secure,
		limit:   newLimiter(o.MaxFailuresPerAddr, o.AddrWindow, o.MaxAddrs, o.Now),
		log:     o.Logger,
		tmpl:    tmpl,
		static:  http.StripPrefix("/pin/static/", http.FileServerFS(sub)),
	}, nil
}

// ServeHTTP routes /pin/, /pin/setup, /pin/change and /pin/static/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.setSecurityHeaders(w)
	if strings.HasPrefix(r.URL.Path, "/pin/static/") {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			p := h.newPage(w, r, "notfound")
			p.Title, p.FormError = "notfound.title", "err.notfound"
			h.render(w, p, http.StatusNotFound)
			return
		}
		h.static.ServeHTTP(w, r)
		return
	}
	var kind string
	switch r.URL.Path {
	case "/pin", "/pin/":
		kind = "index"
	case "/pin/setup":
		kind = "setup"
	case "/pin/change":
		kind = "change"
	case "/pin/setup/done", "/pin/change/done":
		h.donePage(w, r, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/pin/"), "/done"))
		return
	default:
		p := h.newPage(w, r, "notfound")
		p.Title = "notfound.title"
		p.FormError = "err.notfound"
		h.render(w, p, http.StatusNotFound)
		return
	}
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		h.render(w, h.newPage(w, r, kind), http.StatusOK)
	case r.Method == http.MethodPost && kind != "index":
		h.post(w, r, kind)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p := h.newPage(w, r, "notfound")
		p.Title = "notfound.title"
		p.FormError = "err.method"
		h.render(w, p, http.StatusMethodNotAllowed)
	}
}

// doneCookie remembers, for a few minutes, that this browser just set or
// changed a PIN, so that the confirmation survives the language switch
// (a GET of /pin/setup/done) without a link anyone could send claiming it.
const doneCookie = "bindery_pin_done"

// donePage shows the confirmation of kind again, in the language asked
// for, to the browser that just succeeded; anyone else goes to the form.
func (h *Handler) donePage(w http.ResponseWriter, r *http.Request, kind string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if c, err := r.Cookie(doneCookie); err != nil || c.Value != kind {
		http.Redirect(w, r, "/pin/"+kind, http.StatusSeeOther)
		return
	}
	p := h.newPage(w, r, "done")
	p.Form, p.Title, p.Done = kind, "done."+kind+".title", "done."+kind
	h.render(w, p, http.StatusOK)
}

// render writes p with status.
func (h *Handler) render(w http.ResponseWriter, p *page, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.Lang)
	w.WriteHeader(status)
	if err := h.tmpl.ExecuteTemplate(w, "page.html", p); err != nil {
		h.log.Error("web: render", "page", p.Kind, "err", err)
	}
}
