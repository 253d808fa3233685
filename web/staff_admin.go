package web

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/desk"
)

// importView is the answer of an import: each bad row with its line
// number and the summary, as `binderyctl import` prints them.
type importView struct {
	Store         string
	Done          bool
	Summary       pinstore.ImportSummary
	NothingLoaded bool // strict, and a row was bad
}

// activityView is what one staff member did, newest first.
type activityView struct {
	Operator string
	Entries  []pinstore.AuditEntry
}

// pinstoreNames lists the configuration's PIN stores by name.
func pinstoreNames(d *desk.Desk) []string {
	var out []string
	for n, b := range d.Config.Backends {
		if b.Type == "pinstore" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// adminStore picks the store an admin form names (or the only one).
func (h *Staff) adminStore(rq *request, action string) (*pinstore.Store, string, bool) {
	st, name, err := rq.cfg.Desk.OnlyPinstore(rq.r.FormValue("backend"))
	var several *desk.SeveralPinstoresError
	switch {
	case errors.As(err, &several):
		rq.p.addError("backend", "staff.err.required.backend")
		return nil, "", false
	case err != nil:
		h.storeFail(rq, action, "", err)
		return nil, "", false
	}
	return st, name, true
}

// importPage shows the import form (GET) or loads a CSV file (POST) with
// the same report as `binderyctl import`.
func (h *Staff) importPage(rq *request) {
	p := rq.p
	p.Kind, p.Title, p.Stores = "import", "staff.import.title", pinstoreNames(rq.cfg.Desk)
	p.Import = &importView{}
	if rq.r.Method != http.MethodPost {
		h.render(rq, http.StatusOK)
		return
	}
	st, name, ok := h.adminStore(rq, "import")
	if !ok {
		if len(p.Errors) > 0 {
			h.o.Count("import", "invalid")
			h.render(rq, http.StatusUnprocessableEntity)
		}
		return
	}
	p.Import.Store = name
	f, _, err := rq.r.FormFile("file")
	if err != nil {
		p.addError("file", "staff.err.required.file")
		h.o.Count("import", "invalid")
		h.render(rq, http.StatusUnprocessableEntity)
		return
	}
	defer f.Close()
	if !h.freshForm(rq, "import", "") {
		return
	}
	strict := rq.r.PostFormValue("strict") == "yes"
	sum, err := st.Import(rq.storeCtx(), f, pinstore.ImportOptions{Strict: strict, Operator: rq.sess.uid})
	rejected := strict && err != nil && len(sum.Errors) > 0
	if errors.Is(err, pinstore.ErrBadHeader) {
		// The first line is not a patron list's header: the report is its
		// one line, as binderyctl prints it.
		_, why, _ := strings.Cut(err.Error(), pinstore.ErrBadHeader.Error()+": ")
		sum.Errors = []pinstore.RowError{{Line: 1, Reason: why}}
		rejected, err = true, nil
	}
	if err != nil && !rejected {
		h.storeFail(rq, "import", "", err)
		return
	}
	p.Import.Done, p.Import.Summary, p.Import.NothingLoaded = true, sum, rejected
	result := "ok"
	if len(sum.Errors) > 0 {
		result = "partial"
		if rejected {
			result = "rejected"
		}
	}
	h.o.Count("import", result)
	h.log.Info("web: staff import", "staff", rq.sess.uid, "addr", clientHost(rq.r), "store", name,
		"created", sum.Created, "updated", sum.Updated, "skipped", sum.Skipped, "bad", len(sum.Errors), "strict", strict)
	h.render(rq, http.StatusOK)
}

// export sends the patron list as CSV (never with PIN hashes: those are
// for `binderyctl export --with-hashes` on the server).
func (h *Staff) export(rq *request) {
	st, name, ok := h.adminStore(rq, "export")
	if !ok {
		if len(rq.p.Errors) > 0 {
			h.o.Count("export", "invalid")
			rq.p.Kind, rq.p.Title, rq.p.Stores = "home", "staff.home.title", pinstoreNames(rq.cfg.Desk)
			h.render(rq, http.StatusUnprocessableEntity)
		}
		return
	}
	// Read it all first: a store error must still be a page, not half a file.
	var buf strings.Builder
	if err := st.Export(rq.r.Context(), &buf, false); err != nil {
		h.storeFail(rq, "export", "", err)
		return
	}
	if err := st.RecordStaffEvent(rq.storeCtx(), rq.sess.uid, "export", "", "backend="+name); err != nil {
		h.storeFail(rq, "export", "", err) // an export that cannot be recorded is not sent
		return
	}
	h.done(rq, "export", name)
	w := rq.w
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="patrons-%s-%s.csv"`, name, h.o.Now().Format("2006-01-02")))
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(buf.String()))
}

// activity lists what one staff member did (every PIN store), newest first.
func (h *Staff) activity(rq *request) {
	p := rq.p
	p.Kind, p.Title = "activity", "staff.activity.title"
	op := strings.TrimSpace(rq.r.URL.Query().Get("operator"))
	p.Activity = &activityView{Operator: op}
	if op == "" {
		h.render(rq, http.StatusOK)
		return
	}
	if _, nid, ok := rq.cfg.Desk.Config.RouteFor(op); ok {
		op = nid
		p.Activity.Operator = nid
	}
	for _, name := range pinstoreNames(rq.cfg.Desk) {
		st, err := rq.cfg.Desk.Store(name)
		if err != nil {
			h.storeFail(rq, "activity", op, err)
			return
		}
		log, err := st.OperatorLog(rq.r.Context(), op, 200)
		if err != nil {
			h.storeFail(rq, "activity", op, err)
			return
		}
		p.Activity.Entries = append(p.Activity.Entries, log...)
	}
	sort.SliceStable(p.Activity.Entries, func(i, j int) bool { return p.Activity.Entries[i].At.After(p.Activity.Entries[j].At) })
	if len(p.Activity.Entries) > 200 {
		p.Activity.Entries = p.Activity.Entries[:200]
	}
	h.done(rq, "activity", op)
	h.render(rq, http.StatusOK)
}
