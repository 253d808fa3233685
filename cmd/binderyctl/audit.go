package main

import (
	"fmt"
	"time"
)

func cmdAudit(a *app, args []string) error {
	fs := newFlags("audit")
	limit := fs.Int("limit", 50, "at most this many entries, newest first")
	s, t, err := a.idCommand(fs, args, true, func() error {
		if *limit < 1 {
			return usagef("--limit must be at least 1")
		}
		return nil
	})
	if err != nil {
		return err
	}
	log, err := s.AuditLog(a.ctx, t.ID, *limit)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	if a.json {
		type entry struct {
			At       time.Time `json:"at"`
			Operator string    `json:"operator"`
			Action   string    `json:"action"`
			ID       string    `json:"id"`
			Detail   string    `json:"detail,omitempty"`
		}
		out := make([]entry, len(log))
		for i, e := range log {
			out[i] = entry{e.At, e.Operator, e.Action, e.PatronID, e.Detail}
		}
		return writeJSON(a.stdout, out)
	}
	if len(log) == 0 {
		_, err := fmt.Fprintf(a.stdout, "No staff actions recorded for %s.\n", t.ID)
		return err
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "WHEN\tOPERATOR\tACTION\tDETAIL")
	for _, e := range log {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Operator, e.Action, dash(e.Detail))
	}
	return tw.Flush()
}
