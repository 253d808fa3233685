package main

import (
	"fmt"
)

func cmdCardReplace(a *app, args []string) error {
	pos, err := parseArgs(newFlags("card replace"), args, "OLD", "NEW")
	if err != nil {
		return err
	}
	s, old, err := a.pinTarget(pos[0], false)
	if err != nil {
		return err
	}
	_, nw, err := a.pinTarget(pos[1], false)
	if err != nil {
		return fmt.Errorf("new card: %w", err)
	}
	if nw.BackendName != old.BackendName {
		return fmt.Errorf("%s belongs to backend %s but %s to backend %s: a card can only be replaced within one PIN store",
			old.ID, old.BackendName, nw.ID, nw.BackendName)
	}
	if old.ID == nw.ID {
		return usagef("the old and new card numbers are the same (%s)", old.ID)
	}
	if _, err := s.GetPatron(a.ctx, old.ID); err != nil {
		return a.clerkErr(err, s, old.ID)
	}
	if err := s.ReplaceCard(a.ctx, old.ID, nw.ID, a.operator); err != nil {
		return a.clerkErr(err, s, errID(err, old.ID, nw.ID))
	}
	if a.json {
		return writeJSON(a.stdout, map[string]string{"action": "replace-card", "old_id": old.ID, "new_id": nw.ID})
	}
	_, err = fmt.Fprintf(a.stdout, "Card replaced: %s -> %s. The PIN, category and history moved to %s; %s no longer works.\n",
		old.ID, nw.ID, nw.ID, old.ID)
	return err
}
