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
	if _, err := s.GetPatron(a.ctx, t.id); err != nil {
		return a.clerkErr(err, s, t.id)
	}
	pin, err := a.readSecret("new PIN for "+t.id, s.Policy().Check)
	if err == nil {
		err = s.SetPIN(a.ctx, t.id, pin, a.operator)
	}
	var pe *backend.PolicyError
	if errors.As(err, &pe) {
		return a.policyFailure(t.id, pe)
	}
	if err != nil {
		return a.clerkErr(err, s, t.id)
	}
	return a.done(t.id, "set-pin", fmt.Sprintf("PIN set for %s; failures and any lock cleared.", t.id))
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
	pin, err := s.ResetPIN(a.ctx, t.id, a.operator)
	if err != nil {
		return a.clerkErr(err, s, t.id)
	}
	if a.json {
		return writeJSON(a.stdout, map[string]any{"id": t.id, "one_time_pin": pin, "must_change": true})
	}
	_, err = fmt.Fprintf(a.stdout, "One-time PIN for %s: %s — the patron must change it at next login\n", t.id, pin)
	return err
}

func cmdUnlock(a *app, args []string) error {
	s, t, err := a.idCommand(newFlags("unlock"), args, false, nil)
	if err != nil {
		return err
	}
	p, err := s.GetPatron(a.ctx, t.id)
	if err != nil {
		return a.clerkErr(err, s, t.id)
	}
	if err := s.Unlock(a.ctx, t.id, a.operator); err != nil {
		return a.clerkErr(err, s, t.id)
	}
	msg := fmt.Sprintf("Unlocked %s: %d failure(s) cleared; the patron can log in again.", t.id, p.FailureCount)
	if p.LockedUntil.IsZero() || !p.LockedUntil.After(time.Now()) {
		msg = fmt.Sprintf("%s was not locked; %d failure(s) cleared.", t.id, p.FailureCount)
	}
	return a.done(t.id, "unlock", msg)
}
