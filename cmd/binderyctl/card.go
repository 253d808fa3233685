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
	if nw.backendName != old.backendName {
		return fmt.Errorf("%s belongs to backend %s but %s to backend %s: a card can only be replaced within one PIN store",
			old.id, old.backendName, nw.id, nw.backendName)
	}
	if old.id == nw.id {
		return usagef("the old and new card numbers are the same (%s)", old.id)
	}
	if _, err := s.GetPatron(a.ctx, old.id); err != nil {
		return a.clerkErr(err, s, old.id)
	}
	if err := s.ReplaceCard(a.ctx, old.id, nw.id, a.operator); err != nil {
		return a.clerkErr(err, s, errID(err, old.id, nw.id))
	}
	if a.json {
		return writeJSON(a.stdout, map[string]string{"action": "replace-card", "old_id": old.id, "new_id": nw.id})
	}
	_, err = fmt.Fprintf(a.stdout, "Card replaced: %s -> %s. The PIN, category and history moved to %s; %s no longer works.\n",
		old.id, nw.id, nw.id, old.id)
	return err
}
