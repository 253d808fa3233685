package pinstore

import (
	"context"
	"fmt"
	"time"

	"github.com/bindery/bindery/backend"
)

// State is what an account is in now, as a counter clerk needs to know it.
type State string

// States, in the order Authenticate checks them (must change and active
// are the states in which a bind succeeds).
const (
	StateSuperseded State = "superseded"
	StateSuspended  State = "suspended"
	StateExpired    State = "expired"
	StatePending    State = "pending"
	StateNoPIN      State = "no_pin"
	StateLocked     State = "locked"
	StateMustChange State = "must_change"
	StateActive     State = "active"
)

// Explanation is Explain's answer: the state, the reason a bind gets, one
// line of text and the next step for staff, and the facts behind them.
type Explanation struct {
	State    State
	Reason   backend.Reason // what a bind with the right PIN gets now (ReasonNone: success)
	Text     string         // e.g. "locked until 2026-03-01 10:30, 5 failures, last from 10.0.0.7"
	NextStep string         // one line for a counter clerk

	Patron               // the account as it was read
	History []CardChange // card replacements involving this ID
}

// Explain tells staff why a patron can or cannot log in.
func (s *Store) Explain(ctx context.Context, id string) (*Explanation, error) {
	r, err := get(ctx, s.r, s.d, id)
	if err != nil {
		return nil, s.dbErr("explain", err)
	}
	hist, err := s.CardHistory(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &Explanation{Patron: r.Patron, History: hist}
	now := s.now()
	e.Reason = r.blockReason(now)
	switch e.Reason {
	case backend.ReasonSuperseded:
		e.State = StateSuperseded
		e.Text = fmt.Sprintf("card replaced by %s on %s", r.SupersededBy, s.date(r.SupersededAt))
		e.NextStep = fmt.Sprintf("the patron must use the new card number %s; explain the old card no longer works", r.SupersededBy)
	case backend.ReasonSuspended:
		e.State = StateSuspended
		e.Text = fmt.Sprintf("suspended by %s on %s", orUnknown(r.SuspendedBy), s.date(r.SuspendedAt))
		if r.SuspendReason != "" {
			e.Text += ": " + r.SuspendReason
		}
		e.NextStep = "refer to the suspension reason; resume the account only when it is resolved"
	case backend.ReasonExpired:
		e.State = StateExpired
		if r.Expires.IsZero() || r.Expires.After(now) {
			e.Text = "expired (status set to expired)"
		} else {
			e.Text = "expired on " + s.date(r.Expires)
		}
		e.NextStep = "check the patron is still entitled, then renew (set a new expiry date and resume)"
	case backend.ReasonPending:
		e.State = StatePending
		e.Text = "pending until " + s.date(r.ActiveFrom)
		e.NextStep = fmt.Sprintf("the account opens on %s (new cards take 1-2 days); if it should work now, change active_from", s.date(r.ActiveFrom))
	case backend.ReasonNoPIN:
		e.State = StateNoPIN
		e.Text = "no PIN set: first-time set-up needed"
		e.NextStep = "check the patron's ID, then reset the PIN and hand over the one-time PIN"
	case backend.ReasonLocked:
		e.State = StateLocked
		until := s.datetime(r.LockedUntil)
		if r.LockedUntil.Equal(LockForever) {
			until = "staff unlock"
		}
		e.Text = fmt.Sprintf("locked until %s, %d failures, last from %s", until, r.FailureCount, orUnknown(r.LastFailureAddr))
		e.NextStep = "check the patron's ID, then unlock (or reset the PIN if it is forgotten)"
	default:
		if r.MustChange {
			e.State, e.Reason = StateMustChange, backend.ReasonMustChange
			e.Text = "must change PIN at next login"
			e.NextStep = "the patron logs in with the one-time PIN and chooses a new one; reset again if it was lost"
			break
		}
		e.State = StateActive
		e.Text = fmt.Sprintf("active; last success %s; last failure %s", s.datetime(r.LastSuccessAt), s.datetime(r.LastFailureAt))
		if !r.LastFailureAt.IsZero() && r.LastFailureAddr != "" {
			e.Text += " from " + r.LastFailureAddr
		}
		e.NextStep = "nothing to do: the account can log in; if the patron forgot the PIN, reset it"
	}
	return e, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// date shows t as a date in the store's time zone, with the time of day
// when it is not midnight.
func (s *Store) date(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	lt := t.In(s.loc)
	if lt.Hour() == 0 && lt.Minute() == 0 && lt.Second() == 0 {
		return lt.Format(time.DateOnly)
	}
	return lt.Format("2006-01-02 15:04")
}

// datetime shows t to the minute in the store's time zone.
func (s *Store) datetime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.In(s.loc).Format("2006-01-02 15:04")
}
