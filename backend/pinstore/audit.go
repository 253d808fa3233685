package pinstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AuditEntry is one staff action on a patron. Detail never holds a PIN.
type AuditEntry struct {
	At       time.Time
	Operator string
	Action   string // add, update, set-pin, reset-pin, change-pin, unlock, suspend, resume, expire, delete, replace-card, import-create, import-update, export-hash, issue-setup-code, setup-pin; staff events: staff-login, staff-login-failed, staff-login-refused, staff-logout, export
	PatronID string // "" for a staff event that is about no patron (an export)
	Detail   string
	Addr     string // the client address the action came from ("" from binderyctl)
}

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the address a staff action comes
// from (the counter desk's browser): every staff audit row the store
// writes under that context records it. binderyctl passes none.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr is the address WithClientAddr put in ctx, or "".
func ClientAddr(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// CardChange is one card replacement.
type CardChange struct {
	OldID, NewID string
	At           time.Time
	Operator     string
}

// audit writes one staff_audit row inside tx, with the client address of
// ctx (WithClientAddr).
func (s *Store) audit(ctx context.Context, tx *sql.Tx, operator, action, id, detail string) error {
	_, err := tx.ExecContext(ctx, s.d.rebind(qInsertAudit), s.now().UnixMilli(), operator, action, id, detail, ClientAddr(ctx))
	return err
}

// RecordStaffEvent writes a staff audit row that changes no patron: a
// staff member's log-in (staff-login, staff-login-failed,
// staff-login-refused), log-out (staff-logout) or an export. id is the
// patron it concerns, usually "" (for log-ins, the staff member's own ID,
// so that OperatorLog and AuditLog both find it). The client address comes
// from ctx (WithClientAddr). detail must never hold a password.
func (s *Store) RecordStaffEvent(ctx context.Context, operator, action, id, detail string) error {
	const op = "record staff event"
	if err := requireOperator(operator); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if action == "" {
		return fmt.Errorf("pinstore: %s: %w: action is required", op, errInvalid)
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.audit(ctx, tx, operator, action, id, detail) }); err != nil {
		return s.dbErr(op, err)
	}
	return nil
}

// AuditLog returns the newest limit (default 50) staff actions on id,
// newest first. It also finds actions on a deleted patron.
func (s *Store) AuditLog(ctx context.Context, id string, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	return s.auditQuery(ctx, "audit log", qSelectAudit, id, limit)
}

// OperatorLog returns the newest limit (default 50) staff audit rows
// written by operator (what one staff member did), newest first.
func (s *Store) OperatorLog(ctx context.Context, operator string, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	return s.auditQuery(ctx, "operator log", qSelectAuditByOperator, operator, limit)
}

func (s *Store) auditQuery(ctx context.Context, op, q, key string, limit int) ([]AuditEntry, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), key, limit)
	if err != nil {
		return nil, s.dbErr(op, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Operator, &e.Action, &e.PatronID, &e.Detail, &e.Addr); err != nil {
			return nil, s.dbErr(op, err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(op, err)
	}
	return out, nil
}

// CardHistory returns the card replacements id took part in, oldest first.
func (s *Store) CardHistory(ctx context.Context, id string) ([]CardChange, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(qSelectHistory), id)
	if err != nil {
		return nil, s.dbErr("card history", err)
	}
	defer rows.Close()
	var out []CardChange
	for rows.Next() {
		var c CardChange
		var at int64
		if err := rows.Scan(&c.OldID, &c.NewID, &at, &c.Operator); err != nil {
			return nil, s.dbErr("card history", err)
		}
		c.At = time.UnixMilli(at).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("card history", err)
	}
	return out, nil
}

// requireOperator rejects a staff action without an operator name.
func requireOperator(op string) error {
	if op == "" {
		return fmt.Errorf("%w: operator is required for staff actions", errInvalid)
	}
	return nil
}
