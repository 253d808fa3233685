package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/bindery/bindery/backend/pinstore"
)

// dateFlag is a YYYY-MM-DD flag ("none" clears the date in patron update).
type dateFlag struct {
	t   time.Time
	set bool
}

func (d *dateFlag) String() string { return day(d.t) }

func (d *dateFlag) Set(s string) error {
	d.set = true
	if s == "" || strings.EqualFold(s, "none") {
		d.t = time.Time{}
		return nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, time.Local)
	if err != nil {
		return fmt.Errorf("%q is not a date: write YYYY-MM-DD", s)
	}
	d.t = t.UTC()
	return nil
}

// done reports a finished staff action: one line of text, or JSON.
func (a *app) done(id, action, text string) error {
	if a.json {
		return writeJSON(a.stdout, map[string]string{"id": id, "action": action, "message": text})
	}
	_, err := fmt.Fprintln(a.stdout, text)
	return err
}

// patronFlags are the fields of a patron that patron add and patron
// update take as flags.
type patronFlags struct {
	name, email, category, inst *string
	from, expires               dateFlag
}

// newPatronFlags declares them on fs; update says what an empty value does.
func newPatronFlags(fs *flag.FlagSet, update bool) *patronFlags {
	instHelp, fromHelp, expiresHelp := "default: from the JULAC prefix", "", ""
	if update {
		instHelp, fromHelp, expiresHelp = "empty: from the JULAC prefix", " (none: no start date)", " (none: never)"
	}
	f := &patronFlags{
		name:     fs.String("name", "", "full name"),
		email:    fs.String("email", "", "e-mail address"),
		category: fs.String("category", "", "patron category"),
		inst:     fs.String("institution", "", "institution ("+instHelp+")"),
	}
	fs.Var(&f.from, "active-from", "first day the account works"+fromHelp)
	fs.Var(&f.expires, "expires", "day the account stops working"+expiresHelp)
	return f
}

func cmdPatronAdd(a *app, args []string) error {
	fs := newFlags("patron add")
	pf := newPatronFlags(fs, false)
	setupCode := fs.Bool("setup-code", false, "also issue a one-time code for the self-service PIN page")
	s, t, err := a.idCommand(fs, args, true, func() error {
		if strings.TrimSpace(*pf.name) == "" {
			return usagef("give the patron's name with --name \"NAME\"")
		}
		return nil
	})
	if err != nil {
		return err
	}
	p := pinstore.Patron{
		ID: t.ID, Name: strings.TrimSpace(*pf.name), Email: strings.TrimSpace(*pf.email),
		Category: strings.TrimSpace(*pf.category), Institution: strings.TrimSpace(*pf.inst),
		ActiveFrom: pf.from.t, Expires: pf.expires.t,
	}
	if p.Institution == "" {
		p.Institution = pinstore.InstitutionFor(t.ID)
	}
	if err := s.AddPatron(a.ctx, p, a.operator); err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	got, err := s.GetPatron(a.ctx, t.ID)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	if a.json && !*setupCode {
		return writeJSON(a.stdout, viewOf(got))
	}
	if a.json {
		if err := writeJSON(a.stdout, viewOf(got)); err != nil {
			return err
		}
		return a.issueSetupCode(t.ID)
	}
	fmt.Fprintf(a.stdout, "Added %s (%s", got.ID, got.Name)
	if got.Institution != "" {
		fmt.Fprintf(a.stdout, ", %s", got.Institution)
	}
	if *setupCode {
		fmt.Fprintln(a.stdout, ").")
		return a.issueSetupCode(t.ID)
	}
	fmt.Fprintf(a.stdout, ").\nNo PIN yet: `binderyctl pin set %s` (the patron types one) or `binderyctl pin reset %s` (a one-time PIN).\n", got.ID, got.ID)
	return nil
}

func cmdPatronUpdate(a *app, args []string) error {
	fs := newFlags("patron update")
	pf := newPatronFlags(fs, true)
	set := map[string]bool{}
	s, t, err := a.idCommand(fs, args, true, func() error {
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if len(set) == 0 {
			return usagef("nothing to change: give at least one of --name, --email, --category, --institution, --active-from, --expires")
		}
		return nil
	})
	if err != nil {
		return err
	}
	p, err := s.GetPatron(a.ctx, t.ID)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	u := *p
	for k, v := range map[string]struct {
		dst *string
		src string
	}{"name": {&u.Name, *pf.name}, "email": {&u.Email, *pf.email}, "category": {&u.Category, *pf.category}, "institution": {&u.Institution, *pf.inst}} {
		if set[k] {
			*v.dst = strings.TrimSpace(v.src)
		}
	}
	if pf.from.set {
		u.ActiveFrom = pf.from.t
	}
	if pf.expires.set {
		u.Expires = pf.expires.t
	}
	if err := s.UpdatePatron(a.ctx, u, a.operator); err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	return a.done(t.ID, "update", fmt.Sprintf("Updated %s: %s.", t.ID, strings.Join(sortedStrings(keys(set)), ", ")))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func cmdPatronShow(a *app, args []string) error {
	s, t, err := a.idCommand(newFlags("patron show"), args, true, nil)
	if err != nil {
		return err
	}
	p, err := s.GetPatron(a.ctx, t.ID)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	if a.json {
		return writeJSON(a.stdout, viewOf(p))
	}
	return printPatron(a.stdout, p)
}

func cmdPatronList(a *app, args []string) error {
	fs := newFlags("patron list")
	category := fs.String("category", "", "only this category")
	status := fs.String("status", "", "only this status: active, suspended, expired or superseded")
	prefix := fs.String("prefix", "", "only IDs starting with this")
	limit := fs.Int("limit", 0, "at most this many (0: all)")
	backendName := fs.String("backend", "", "the pinstore backend (needed when there are several)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	st := pinstore.Status(strings.ToLower(*status))
	switch st {
	case "", pinstore.StatusActive, pinstore.StatusSuspended, pinstore.StatusExpired, pinstore.StatusSuperseded:
	default:
		return usagef("--status %q: use active, suspended, expired or superseded", *status)
	}
	if *limit < 0 {
		return usagef("--limit must be 0 (all) or more")
	}
	s, _, err := a.onlyPinstore(*backendName)
	if err != nil {
		return err
	}
	list, err := s.ListPatrons(a.ctx, pinstore.ListOptions{Prefix: *prefix, Category: *category, Status: st, Limit: *limit})
	if err != nil {
		return a.clerkErr(err, s, "")
	}
	if a.json {
		out := make([]patronView, len(list))
		for i := range list {
			out[i] = viewOf(&list[i])
		}
		return writeJSON(a.stdout, out)
	}
	t := newTable(a.stdout)
	fmt.Fprintln(t, "ID\tNAME\tCATEGORY\tSTATUS\tPIN\tEXPIRES")
	for _, p := range list {
		pin := yesNo(p.HasPIN)
		if p.HasPIN && p.MustChange {
			pin = "one-time"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, dash(p.Name), dash(p.Category), p.Status, pin, day(p.Expires))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d patron(s)\n", len(list))
	return nil
}

func cmdPatronSuspend(a *app, args []string) error {
	fs := newFlags("patron suspend")
	reason := fs.String("reason", "", "why (shown to staff by explain)")
	s, t, err := a.idCommand(fs, args, true, func() error {
		if strings.TrimSpace(*reason) == "" {
			return usagef("say why with --reason \"TEXT\" (staff see it in `binderyctl explain`)")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.Suspend(a.ctx, t.ID, strings.TrimSpace(*reason), a.operator); err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	return a.done(t.ID, "suspend", fmt.Sprintf("Suspended %s: it cannot log in until `binderyctl patron resume %s`.", t.ID, t.ID))
}

func cmdPatronResume(a *app, args []string) error {
	s, t, err := a.idCommand(newFlags("patron resume"), args, true, nil)
	if err != nil {
		return err
	}
	p, err := s.GetPatron(a.ctx, t.ID)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	if p.Status == pinstore.StatusActive {
		if !p.Expires.IsZero() && !p.Expires.After(time.Now()) {
			return fmt.Errorf("%s expired on %s; resume does not change the expiry date: set a new one with `binderyctl patron update %s --expires YYYY-MM-DD` (or --expires none)",
				t.ID, day(p.Expires), t.ID)
		}
		return fmt.Errorf("%s is not suspended: nothing to resume (see `binderyctl explain %s`)", t.ID, t.ID)
	}
	if err := s.Resume(a.ctx, t.ID, a.operator); err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	msg := fmt.Sprintf("Resumed %s: it is active again.", t.ID)
	if !p.Expires.IsZero() && !p.Expires.After(time.Now()) {
		msg = fmt.Sprintf("Resumed %s, but it expired on %s: set a new date with `binderyctl patron update %s --expires YYYY-MM-DD`.", t.ID, day(p.Expires), t.ID)
	}
	return a.done(t.ID, "resume", msg)
}

func cmdPatronExpire(a *app, args []string) error {
	s, t, err := a.idCommand(newFlags("patron expire"), args, true, nil)
	if err != nil {
		return err
	}
	if err := s.Expire(a.ctx, t.ID, a.operator); err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	return a.done(t.ID, "expire", fmt.Sprintf("Expired %s as of now (undo with `binderyctl patron update %s --expires YYYY-MM-DD`).", t.ID, t.ID))
}

func cmdPatronDelete(a *app, args []string) error {
	fs := newFlags("patron delete")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	s, t, err := a.idCommand(fs, args, true, nil)
	if err != nil {
		return err
	}
	p, err := s.GetPatron(a.ctx, t.ID)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	if a.stdinTTY && !*yes {
		fmt.Fprintf(a.stderr, "Delete %s (%s)? Its PIN goes with it; the audit trail stays.\nType the ID to confirm: ", p.ID, dash(p.Name))
		answer, err := a.readLine()
		if err != nil || !strings.EqualFold(strings.TrimSpace(answer), p.ID) {
			return fmt.Errorf("not confirmed: %s was not deleted", p.ID)
		}
	}
	if err := s.Delete(a.ctx, t.ID, a.operator); err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	return a.done(t.ID, "delete", fmt.Sprintf("Deleted %s.", t.ID))
}
