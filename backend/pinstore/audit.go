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
	Action   string // add, update, set-pin, reset-pin, change-pin, unlock, suspend, resume, expire, delete, replace-card, import-create, import-update, export-hash, issue-setup-code, setup-pin
	PatronID string
	Detail   string
}

// CardChange is one card replacement.
type CardChange struct {
	OldID, NewID string
	At           time.Time
	Operator     string
}

// audit writes one staff_audit row inside tx.
func (s *Store) audit(ctx context.Context, tx *sql.Tx, operator, action, id, detail string) error {
	_, err := tx.ExecContext(ctx, s.d.rebind(qInsertAudit), s.now().UnixMilli(), operator, action, id, detail)
	return err
}

// AuditLog returns the newest limit (default 50) staff actions on id,
// newest first. It also finds actions on a deleted patron.
func (s *Store) AuditLog(ctx context.Context, id string, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(qSelectAudit), id, limit)
	if err != nil {
		return nil, s.dbErr("audit log", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Operator, &e.Action, &e.PatronID, &e.Detail); err != nil {
			return nil, s.dbErr("audit log", err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("audit log", err)
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
