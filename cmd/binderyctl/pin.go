package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/bindery/bindery/backend"
)

// secretsEqual compares two secrets in constant time.
func secretsEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func cmdPinSet(a *app, args []string) error {
	s, t, err := a.idCommand(newFlags("pin set"), args, false, nil)
	if err != nil {
		return err
	}
	// Before asking for a PIN: is there a patron to give it to?
	if _, err := s.GetPatron(a.ctx, t.ID); err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	pin, err := a.readSecret("new PIN for "+t.ID, s.Policy().Check)
	if err == nil {
		err = s.SetPIN(a.ctx, t.ID, pin, a.operator)
	}
	var pe *backend.PolicyError
	if errors.As(err, &pe) {
		return a.policyFailure(t.ID, pe)
	}
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	return a.done(t.ID, "set-pin", fmt.Sprintf("PIN set for %s; failures and any lock cleared.", t.ID))
}

// policyFailure prints exactly which PIN rules failed (never the PIN).
func (a *app) policyFailure(id string, pe *backend.PolicyError) error {
	if a.json {
		type problem struct {
			Code     string `json:"code"`
			Position int    `json:"position,omitempty"`
			Message  string `json:"message"`
		}
		out := struct {
			ID       string    `json:"id"`
			Error    string    `json:"error"`
			Problems []problem `json:"problems"`
		}{ID: id, Error: "pin_policy"}
		for _, p := range pe.Problems {
			out.Problems = append(out.Problems, problem{p.Code, p.Position, p.Message})
		}
		if err := writeJSON(a.stdout, out); err != nil {
			return err
		}
		return errSilent
	}
	a.errorf("the PIN for %s was not set: it breaks %d rule(s):", id, len(pe.Problems))
	for _, p := range pe.Problems {
		fmt.Fprintf(a.stderr, "  - %s\n", p.Message)
	}
	return errSilent
}

func cmdPinReset(a *app, args []string) error {
	s, t, err := a.idCommand(newFlags("pin reset"), args, false, nil)
	if err != nil {
		return err
	}
	pin, err := s.ResetPIN(a.ctx, t.ID, a.operator)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	if a.json {
		return writeJSON(a.stdout, map[string]any{"id": t.ID, "one_time_pin": pin, "must_change": true})
	}
	_, err = fmt.Fprintf(a.stdout, "One-time PIN for %s: %s — the patron must change it at next login\n", t.ID, pin)
	return err
}

func cmdUnlock(a *app, args []string) error {
	s, t, err := a.idCommand(newFlags("unlock"), args, false, nil)
	if err != nil {
		return err
	}
	p, err := s.GetPatron(a.ctx, t.ID)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	if err := s.Unlock(a.ctx, t.ID, a.operator); err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	msg := fmt.Sprintf("Unlocked %s: %d failure(s) cleared; the patron can log in again.", t.ID, p.FailureCount)
	if p.LockedUntil.IsZero() || !p.LockedUntil.After(time.Now()) {
		msg = fmt.Sprintf("%s was not locked; %d failure(s) cleared.", t.ID, p.FailureCount)
	}
	return a.done(t.ID, "unlock", msg)
}
