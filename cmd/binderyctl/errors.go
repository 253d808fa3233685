package main

import (
	"errors"
	"fmt"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
)

// clerkErr turns a store error about id into a message a counter clerk can
// act on; errors it does not know pass through unchanged.
func (a *app) clerkErr(err error, s *pinstore.Store, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pinstore.ErrNotFound):
		return fmt.Errorf("%s is not in the PIN store: add it with `binderyctl patron add %s --name ...`", id, id)
	case errors.Is(err, pinstore.ErrExists):
		return fmt.Errorf("%s is already in the PIN store: see `binderyctl patron show %s`", id, id)
	case errors.Is(err, backend.ErrReadOnly):
		return fmt.Errorf("the PIN store cannot be written (read-only file or disk full), nothing changed: "+
			"free disk space where the store lives, or make it writable by the user bindery runs as, then try again: %w", err)
	case errors.Is(err, backend.ErrUnavailable):
		return fmt.Errorf("the PIN store did not answer, nothing changed: try again, and call IT if it persists: %w", err)
	case errors.Is(err, backend.ErrNotPermitted):
		if s != nil {
			if p, gerr := s.GetPatron(a.ctx, id); gerr == nil && p.Status == pinstore.StatusSuperseded {
				return fmt.Errorf("%s was replaced by card %s on %s: use the new number (see `binderyctl explain %s`)",
					id, p.SupersededBy, day(p.SupersededAt), p.SupersededBy)
			}
		}
	}
	return err
}

// errID picks which of the two card numbers an error of ReplaceCard is
// about: "exists" is the new one, anything else the old one.
func errID(err error, oldID, newID string) string {
	if errors.Is(err, pinstore.ErrExists) {
		return newID
	}
	return oldID
}
