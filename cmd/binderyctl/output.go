package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/bindery/bindery/backend/pinstore"
)

// newTable makes the aligned writer of every text listing.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// writeJSON writes v as indented JSON with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// when shows an instant to the minute in local time; "-" for none.
func when(t time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case t.Equal(pinstore.LockForever):
		return "until staff unlock"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// day shows a date (with the time of day when it is not midnight local).
func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	lt := t.Local()
	if lt.Hour() == 0 && lt.Minute() == 0 && lt.Second() == 0 {
		return lt.Format(time.DateOnly)
	}
	return lt.Format("2006-01-02 15:04")
}

// jsonTime is a time for JSON output: nil (left out) when zero.
func jsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// patronView is a patron as binderyctl shows it in JSON. There is no hash
// in pinstore.Patron, so there is none here either.
type patronView struct {
	ID              string     `json:"id"`
	UUID            string     `json:"uuid"`
	Name            string     `json:"name"`
	GivenName       string     `json:"given_name,omitempty"`
	Surname         string     `json:"surname,omitempty"`
	Email           string     `json:"email,omitempty"`
	Category        string     `json:"category,omitempty"`
	Institution     string     `json:"institution,omitempty"`
	Status          string     `json:"status"`
	ActiveFrom      *time.Time `json:"active_from,omitempty"`
	Expires         *time.Time `json:"expires,omitempty"`
	HasPIN          bool       `json:"has_pin"`
	MustChange      bool       `json:"must_change"`
	FailureCount    int        `json:"failure_count"`
	LastFailureAt   *time.Time `json:"last_failure_at,omitempty"`
	LastFailureAddr string     `json:"last_failure_addr,omitempty"`
	LockedUntil     *time.Time `json:"locked_until,omitempty"`
	LastSuccessAt   *time.Time `json:"last_success_at,omitempty"`
	SupersededBy    string     `json:"superseded_by,omitempty"`
	SupersededAt    *time.Time `json:"superseded_at,omitempty"`
	SuspendedBy     string     `json:"suspended_by,omitempty"`
	SuspendedAt     *time.Time `json:"suspended_at,omitempty"`
	SuspendReason   string     `json:"suspend_reason,omitempty"`
	CreatedAt       *time.Time `json:"created_at,omitempty"`
	ModifiedAt      *time.Time `json:"modified_at,omitempty"`
}

func viewOf(p *pinstore.Patron) patronView {
	return patronView{
		ID: p.ID, UUID: p.UUID, Name: p.Name, GivenName: p.GivenName, Surname: p.Surname,
		Email: p.Email, Category: p.Category, Institution: p.Institution, Status: string(p.Status),
		ActiveFrom: jsonTime(p.ActiveFrom), Expires: jsonTime(p.Expires),
		HasPIN: p.HasPIN, MustChange: p.MustChange,
		FailureCount: p.FailureCount, LastFailureAt: jsonTime(p.LastFailureAt), LastFailureAddr: p.LastFailureAddr,
		LockedUntil: jsonTime(p.LockedUntil), LastSuccessAt: jsonTime(p.LastSuccessAt),
		SupersededBy: p.SupersededBy, SupersededAt: jsonTime(p.SupersededAt),
		SuspendedBy: p.SuspendedBy, SuspendedAt: jsonTime(p.SuspendedAt), SuspendReason: p.SuspendReason,
		CreatedAt: jsonTime(p.CreatedAt), ModifiedAt: jsonTime(p.ModifiedAt),
	}
}

// printPatron writes the text form of patron show.
func printPatron(w io.Writer, p *pinstore.Patron) error {
	t := newTable(w)
	row := func(k, v string) { fmt.Fprintf(t, "%s\t%s\n", k, v) }
	row("ID", p.ID)
	row("Name", dash(p.Name))
	if p.GivenName != "" || p.Surname != "" {
		row("Given name / surname", dash(p.GivenName)+" / "+dash(p.Surname))
	}
	row("Email", dash(p.Email))
	row("Category", dash(p.Category))
	row("Institution", dash(p.Institution))
	row("Status", string(p.Status))
	row("Active from", day(p.ActiveFrom))
	row("Expires", day(p.Expires))
	pin := yesNo(p.HasPIN)
	if p.HasPIN && p.MustChange {
		pin += " (one-time: must change at next login)"
	}
	row("Has PIN", pin)
	fail := fmt.Sprint(p.FailureCount)
	if !p.LastFailureAt.IsZero() {
		fail += fmt.Sprintf(", last %s from %s", when(p.LastFailureAt), dash(p.LastFailureAddr))
	}
	row("Failures", fail)
	if !p.LockedUntil.IsZero() {
		row("Locked until", when(p.LockedUntil))
	}
	row("Last success", when(p.LastSuccessAt))
	if p.SupersededBy != "" {
		row("Replaced by", fmt.Sprintf("%s on %s", p.SupersededBy, when(p.SupersededAt)))
	}
	if p.Status == pinstore.StatusSuspended {
		row("Suspended", fmt.Sprintf("by %s on %s: %s", dash(p.SuspendedBy), when(p.SuspendedAt), dash(p.SuspendReason)))
	}
	row("UUID", p.UUID)
	row("Created", when(p.CreatedAt))
	row("Modified", when(p.ModifiedAt))
	return t.Flush()
}
