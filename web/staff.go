package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/desk"
	"github.com/bindery/bindery/proxy"
)

// StaffConfig is what the console reads from the running configuration on
// every request (a reload changes it).
type StaffConfig struct {
	// Desk resolves typed IDs to the running PIN stores (their changes
	// invalidate the bind cache at once). Required.
	Desk *desk.Desk
	// Roles maps admin, counter and viewer to their members: campus IDs,
	// "category:NAME", "group:NAME".
	Roles map[string][]string
	// AuditBackend is the PIN store that records log-ins and exports.
	AuditBackend string
	// SetupCodeTTL is the lifetime of a set-up code issued at the desk.
	SetupCodeTTL time.Duration
	// PINPageURL is where patrons set their PIN, printed on slips (e.g.
	// "https://library.example.edu/pin/setup"). When "" and PINPage is
	// set, the slip shows /pin/setup on the host the console was reached
	// by; otherwise it says to ask the counter.
	PINPageURL string
	PINPage    bool
}

// Upstream is the state of one upstream URL of a campus directory.
type Upstream struct {
	URL       string
	Up        bool
	LastError string
}

// StaffOptions configure NewStaff.
type StaffOptions struct {
	// Config returns the current configuration's part of the console.
	// Required.
	Config func() StaffConfig
	// Login checks a campus password as a bind does
	// (proxy.Server.Authenticate with op "staff_login"). Required.
	Login func(ctx context.Context, id, password, client string) (proxy.Login, bool, error)
	// PersonID reads the login ID out of a typed name
	// (proxy.Server.PersonID); nil: the name as typed.
	PersonID func(name string) (string, bool)
	// Lookup reads a person through a backend (the campus view: is the ID
	// in the directory); nil: not shown.
	Lookup func(ctx context.Context, backendName, id string) (*backend.Entry, error)
	// Upstream reports the state of a backend's upstream URLs; nil: not
	// shown.
	Upstream func(backendName string) []Upstream
	// Secure: served over HTTPS (__Host- cookies, HSTS).
	Secure bool
	// IdleTimeout and AbsoluteTimeout end sessions (defaults
	// config.DefaultStaffIdleTimeout and DefaultStaffAbsoluteTimeout, the
	// [staff] defaults: 15m and 10h).
	IdleTimeout, AbsoluteTimeout time.Duration
	// MaxSessions bounds the sessions held (default 1000).
	MaxSessions int
	// MaxFailuresPerAddr failed log-ins from one address (IPv6: one /64)
	// within AddrWindow get 429 until the window ends (defaults 10, 15m;
	// negative: off).
	MaxFailuresPerAddr int
	AddrWindow         time.Duration
	// Count is told of every console request (bindery_staff_actions_total).
	Count func(action, result string)
	// Logger gets one line per log-in and action (never a password or PIN).
	Logger *slog.Logger
	// Now is the clock of sessions and the throttle; nil: time.Now.
	Now func() time.Time
}

// Defaults of StaffOptions (the timeouts' are [staff]'s, in internal/config).
const (
	DefaultMaxStaffSessions = 1000
	maxImportBytes          = 32 << 20
)

// staffRoute is one console page: the method it takes ("": GET and
// POST), the least role that may use it, its handler and its metric name.
type staffRoute struct {
	method string
	min    int
	fn     func(*request)
	action string
}

// Staff serves the staff console under /staff/.
type Staff struct {
	o      StaffOptions
	routes map[string]staffRoute
	ss     *sessions
	limit  *limiter
	log    *slog.Logger
	tmpl   *template.Template
	static http.Handler
}

// NewStaff returns the console. Mount it at "/staff/".
func NewStaff(o StaffOptions) (*Staff, error) {
	if o.Config == nil || o.Login == nil {
		return nil, errors.New("web: new staff: Options.Config and Options.Login are required")
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = config.DefaultStaffIdleTimeout
	}
	if o.AbsoluteTimeout <= 0 {
		o.AbsoluteTimeout = config.DefaultStaffAbsoluteTimeout
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxStaffSessions
	}
	if o.MaxFailuresPerAddr == 0 {
		o.MaxFailuresPerAddr = DefaultMaxFailuresPerAddr
	}
	if o.AddrWindow <= 0 {
		o.AddrWindow = DefaultAddrWindow
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Count == nil {
		o.Count = func(string, string) {}
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("web: new staff: %w", err)
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: new staff: %w", err)
	}
	h := &Staff{
		o:      o,
		ss:     newSessions(o.IdleTimeout, o.AbsoluteTimeout, o.MaxSessions, o.Now),
		limit:  newLimiter(o.MaxFailuresPerAddr, o.AddrWindow, DefaultMaxAddrs, o.Now),
		log:    o.Logger,
		tmpl:   tmpl,
		static: http.StripPrefix("/staff/static/", http.FileServerFS(sub)),
	}
	h.routes = map[string]staffRoute{
		"/staff/":           {http.MethodGet, roleViewer, h.home, ""},
		"/staff/patron":     {http.MethodGet, roleViewer, h.patron, "lookup"},
		"/staff/logout":     {http.MethodPost, roleViewer, h.logout, "logout"},
		"/staff/unlock":     {http.MethodPost, roleCounter, h.unlock, "unlock"},
		"/staff/reset":      {http.MethodPost, roleCounter, h.reset, "reset"},
		"/staff/setup-code": {http.MethodPost, roleCounter, h.setupCode, "setup_code"},
		"/staff/replace":    {http.MethodPost, roleCounter, h.replace, "replace_card"},
		"/staff/add":        {http.MethodPost, roleCounter, h.add, "add"},
		"/staff/dates":      {http.MethodPost, roleCounter, h.dates, "dates"},
		"/staff/suspend":    {http.MethodPost, roleCounter, h.suspend, "suspend"},
		"/staff/resume":     {http.MethodPost, roleCounter, h.resume, "resume"},
		"/staff/import":     {"", roleAdmin, h.importPage, "import"},
		"/staff/export":     {http.MethodPost, roleAdmin, h.export, "export"},
		"/staff/activity":   {http.MethodGet, roleAdmin, h.activity, "activity"},
	}
	return h, nil
}

// Role ranks: a higher role may do everything a lower one may.
const (
	roleNone = iota
	roleViewer
	roleCounter
	roleAdmin
)

var roleNames = map[int]string{roleViewer: "viewer", roleCounter: "counter", roleAdmin: "admin"}

// roleOf is the highest role whose members name uid, its category or one
// of its groups.
func roleOf(roles map[string][]string, uid, category string, groups []string) int {
	best := roleNone
	for name, members := range roles {
		rank := map[string]int{"viewer": roleViewer, "counter": roleCounter, "admin": roleAdmin}[name]
		if rank <= best {
			continue
		}
		for _, m := range members {
			if memberMatches(m, uid, category, groups) {
				best = rank
				break
			}
		}
	}
	return best
}

// memberMatches: "category:X" is the person's category; "group:X" one of
// their memberOf values, or that value's first RDN value (cn=X,...), or
// bindery's virtual group of their category (cn=X); anything else a login
// ID. All compared case-insensitively.
func memberMatches(m, uid, category string, groups []string) bool {
	kind, v, ok := strings.Cut(m, ":")
	switch {
	case ok && kind == "category":
		return category != "" && strings.EqualFold(v, category)
	case ok && kind == "group":
		if category != "" && strings.EqualFold(v, category) {
			return true
		}
		for _, g := range groups {
			if strings.EqualFold(g, v) {
				return true
			}
			first, _, _ := strings.Cut(g, ",")
			if _, val, ok := strings.Cut(first, "="); ok && strings.EqualFold(strings.TrimSpace(val), v) {
				return true
			}
		}
		return false
	}
	return strings.EqualFold(m, uid)
}

// sessionCookie is the console's session cookie: __Host- over HTTPS (the
// browser then insists on Secure, Path=/ and no Domain). A browser
// refuses a __Host- cookie over plain HTTP, so on the loopback-only HTTP
// listener the same cookie goes without the prefix, limited to /staff/.
func (h *Staff) sessionCookie() string {
	if h.o.Secure {
		return "__Host-bindery_staff"
	}
	return "bindery_staff"
}

func (h *Staff) loginCSRFCookie() string {
	if h.o.Secure {
		return "__Host-bindery_staff_csrf"
	}
	return "bindery_staff_csrf"
}

func (h *Staff) setSessionCookie(w http.ResponseWriter, token string, maxAge int) {
	c := &http.Cookie{Name: h.sessionCookie(), Value: token, Path: "/staff/", HttpOnly: true,
		Secure: h.o.Secure, SameSite: http.SameSiteStrictMode, MaxAge: maxAge}
	if h.o.Secure {
		c.Path = "/"
	}
	http.SetCookie(w, c)
}

// request is one console request being answered.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	cfg  StaffConfig
	sess *staffSession
	role int
	p    *staffPage
}

// ServeHTTP routes /staff/...
func (h *Staff) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w, h.o.Secure)
	path := r.URL.Path
	if strings.HasPrefix(path, "/staff/static/") {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || strings.HasSuffix(path, "/") {
			http.NotFound(w, r)
			return
		}
		h.static.ServeHTTP(w, r)
		return
	}
	if path == "/staff" {
		http.Redirect(w, r, "/staff/", http.StatusSeeOther)
		return
	}
	rq := &request{w: w, r: r, cfg: h.o.Config()}
	rq.p = h.newPage(rq)
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	post := r.Method == http.MethodPost
	if post {
		limit := int64(maxFormBytes)
		if path == "/staff/import" {
			limit = maxImportBytes
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	switch {
	case path == "/staff/login" && get:
		h.loginPage(rq, "", http.StatusOK)
		return
	case path == "/staff/login" && post:
		h.login(rq)
		return
	}
	if !h.authenticate(rq) {
		return
	}
	rt, ok := h.routes[path]
	if !ok {
		rq.p.Kind, rq.p.Title, rq.p.Error = "message", "staff.notfound.title", "staff.err.notfound"
		h.render(rq, http.StatusNotFound)
		return
	}
	switch {
	case rt.method == http.MethodGet && !get, rt.method == http.MethodPost && !post, rt.method == "" && !get && !post:
		w.Header().Set("Allow", map[string]string{http.MethodGet: "GET, HEAD", http.MethodPost: "POST", "": "GET, HEAD, POST"}[rt.method])
		rq.p.Kind, rq.p.Title, rq.p.Error = "message", "staff.notfound.title", "staff.err.method"
		h.render(rq, http.StatusMethodNotAllowed)
		return
	}
	if post {
		var err error
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			err = r.ParseMultipartForm(1 << 20) // larger files go to a temporary file
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			h.fail(rq, rt.action, "invalid", http.StatusBadRequest, "staff.err.form")
			return
		}
		if !sameOrigin(r) || !tokenEqual(r.PostFormValue("csrf"), rq.sess.csrf) {
			h.logAction(rq, rt.action, "", "csrf")
			h.fail(rq, rt.action, "csrf", http.StatusForbidden, "staff.err.csrf")
			return
		}
	}
	if rq.role < rt.min {
		h.logAction(rq, rt.action, r.PostFormValue("id"), "denied")
		h.fail(rq, rt.action, "denied", http.StatusForbidden, "staff.err.denied")
		return
	}
	rt.fn(rq)
}

// authenticate finds the request's session and its current role; without
// one it answers with the log-in page and returns false.
func (h *Staff) authenticate(rq *request) bool {
	var token string
	if c, err := rq.r.Cookie(h.sessionCookie()); err == nil {
		token = c.Value
	}
	s, why := h.ss.get(token)
	if s == nil {
		msg := ""
		switch why {
		case "idle":
			msg = "staff.login.idle"
		case "absolute":
			msg = "staff.login.absolute"
		}
		if why != "" {
			h.setSessionCookie(rq.w, "", -1)
		}
		status := http.StatusUnauthorized
		if rq.r.Method == http.MethodGet && rq.r.URL.Path == "/staff/" && why == "" {
			status = http.StatusOK // the console's front door: just the form
		}
		if rq.r.Method == http.MethodGet {
			rq.p.Next = rq.r.URL.RequestURI()
		}
		h.loginPage(rq, msg, status)
		return false
	}
	rq.sess = s
	rq.role = roleOf(rq.cfg.Roles, s.uid, s.category, s.groups)
	if rq.role == roleNone {
		// Taken out of every role since logging in (a reload): the session ends.
		h.ss.remove(s)
		h.setSessionCookie(rq.w, "", -1)
		rq.sess = nil
		h.loginPage(rq, "staff.login.norole", http.StatusForbidden)
		return false
	}
	rq.p.Staff = &staffView{UID: s.uid, Name: s.name, Role: roleNames[rq.role]}
	rq.p.CSRF = s.csrf
	rq.p.Role = rq.role
	return true
}

// fail answers an error page with a message key and counts it.
func (h *Staff) fail(rq *request, action, result string, status int, key string, args ...any) {
	if action != "" {
		h.o.Count(action, result)
	}
	rq.p.Kind, rq.p.Error, rq.p.ErrorArgs = "message", key, args
	if rq.p.Title == "" || rq.p.Title == "staff.home.title" {
		rq.p.Title = "staff.error.title"
	}
	if status == http.StatusServiceUnavailable {
		rq.w.Header().Set("Retry-After", "30")
	}
	h.render(rq, status)
}

// logAction writes the one log line of a console request.
func (h *Staff) logAction(rq *request, action, id, outcome string) {
	uid := ""
	if rq.sess != nil {
		uid = rq.sess.uid
	}
	h.log.Info("web: staff "+action, "staff", uid, "id", id, "addr", clientHost(rq.r), "outcome", outcome)
}

// storeCtx is the request's context carrying the desk's address, so that
// the staff audit trail records where each action came from.
func (rq *request) storeCtx() context.Context {
	return pinstore.WithClientAddr(rq.r.Context(), clientHost(rq.r))
}

// render writes the page.
func (h *Staff) render(rq *request, status int) {
	w, p := rq.w, rq.p
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.Lang)
	w.WriteHeader(status)
	if rq.r.Method == http.MethodHead {
		return
	}
	if err := h.tmpl.ExecuteTemplate(w, "staff.html", p); err != nil {
		h.log.Error("web: staff render", "page", p.Kind, "err", err)
	}
}

// redirect sends the browser to a patron's page after an action
// (POST-redirect-GET: a reload shows the page, it does not act again).
func (h *Staff) redirect(rq *request, id, done string) {
	q := url.Values{"id": {id}}
	if done != "" {
		q.Set("done", done)
	}
	http.Redirect(rq.w, rq.r, "/staff/patron?"+q.Encode(), http.StatusSeeOther)
}

// localNext keeps a "next" address only when it is a console page.
func localNext(next string) string {
	if !strings.HasPrefix(next, "/staff/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, "/staff/login") {
		return "/staff/"
	}
	return next
}
