package pinstore

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bindery/bindery/internal/passhash"
)

// ImportOptions control Import.
type ImportOptions struct {
	// Strict: if any row is bad, nothing is loaded (all rows are checked
	// first, then loaded in one transaction).
	Strict bool
	// Operator is recorded in staff_audit ("import" when empty).
	Operator string
	// Progress, if set, is called after each committed batch with the number
	// of data rows handled so far.
	Progress func(done int)
	// BatchSize is the rows per transaction when not Strict; 0 = 1000.
	BatchSize int
}

// ImportSummary counts what Import did. Skipped rows were already exactly
// as the file says (an idempotent re-run skips every row).
type ImportSummary struct {
	Created, Updated, Skipped int
	Errors                    []RowError
}

// RowError is one bad row: its line in the file and why. A reason never
// contains a PIN or a hash.
type RowError struct {
	Line   int
	Reason string
}

// importRow is one parsed, valid data row.
type importRow struct {
	line int
	has  map[string]bool // columns present in the file
	r    record          // values of the present columns
	// mustChangeSet: the must_change cell was not empty.
	mustChangeSet bool
}

// Import loads patrons from CSV with a header row (see README.md for the
// columns and the rules for empty cells). It upserts by id. A bad row is
// reported with its line number and the others still load, in batches of
// BatchSize rows per transaction, unless Strict. A header error (unknown,
// duplicate or missing id column) loads nothing and is returned as err, as
// is a database failure (batches committed before it stay).
func (s *Store) Import(ctx context.Context, in io.Reader, o ImportOptions) (ImportSummary, error) {
	const op = "import"
	var sum ImportSummary
	if o.Operator == "" {
		o.Operator = "import"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	cr := csv.NewReader(in)
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return sum, fmt.Errorf("pinstore: %s: %w: %w", op, ErrBadHeader, err)
	}
	cols, err := importHeader(header)
	if err != nil {
		return sum, fmt.Errorf("pinstore: %s: %w", op, err)
	}

	var batch, all []importRow
	done := 0
	flush := func(rows []importRow) error {
		if len(rows) == 0 {
			return nil
		}
		c, u, k, err := s.loadBatch(ctx, rows, o.Operator)
		if err != nil {
			return s.dbErr(op, err)
		}
		sum.Created, sum.Updated, sum.Skipped = sum.Created+c, sum.Updated+u, sum.Skipped+k
		done += len(rows)
		if o.Progress != nil {
			o.Progress(done)
		}
		return nil
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				sum.Errors = append(sum.Errors, RowError{Line: pe.StartLine, Reason: pe.Err.Error()})
				continue
			}
			return sum, fmt.Errorf("pinstore: %s: read: %w", op, err)
		}
		line, _ := cr.FieldPos(0)
		row, err := s.parseRow(cols, rec, line)
		if err != nil {
			sum.Errors = append(sum.Errors, RowError{Line: line, Reason: err.Error()})
			continue
		}
		if o.Strict {
			all = append(all, row)
			continue
		}
		batch = append(batch, row)
		if len(batch) >= o.BatchSize {
			if err := flush(batch); err != nil {
				return sum, err
			}
			batch = batch[:0]
		}
	}
	if o.Strict {
		if len(sum.Errors) > 0 {
			return sum, fmt.Errorf("pinstore: %s: %w: strict: %d bad rows, nothing loaded", op, errInvalid, len(sum.Errors))
		}
		return sum, flush(all)
	}
	return sum, flush(batch)
}

// ErrBadHeader: the import file's first line is not a usable header (an
// unknown or repeated column, no id column, no line at all); nothing was
// loaded. The error's text after it says what is wrong.
var ErrBadHeader = fmt.Errorf("%w: header", errInvalid)

// importHeader checks the header and returns the column names in order.
func importHeader(header []string) ([]string, error) {
	cols := make([]string, len(header))
	seen := map[string]bool{}
	var errs []error
	for i, h := range header {
		c := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch {
		case !knownColumn(c):
			errs = append(errs, fmt.Errorf("unknown column %q (known: %s)", h, strings.Join(csvColumns, ",")))
		case seen[c]:
			errs = append(errs, fmt.Errorf("column %q appears twice", c))
		}
		seen[c] = true
		cols[i] = c
	}
	if !seen["id"] {
		errs = append(errs, errors.New("no id column"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrBadHeader, errors.Join(errs...))
	}
	return cols, nil
}

// parseRow validates one data row; the error lists every problem.
func (s *Store) parseRow(cols, rec []string, line int) (importRow, error) {
	row := importRow{line: line, has: make(map[string]bool, len(cols))}
	r := &row.r
	var problems []string
	bad := func(col, format string, args ...any) {
		problems = append(problems, col+": "+fmt.Sprintf(format, args...))
	}
	for i, c := range cols {
		v := strings.TrimSpace(rec[i])
		row.has[c] = true
		switch c {
		case "id":
			if err := validID(v); err != nil {
				bad(c, "empty, too long or has control characters")
			}
			r.ID = v
		case "uuid":
			if len(v) > 64 {
				bad(c, "longer than 64 characters")
			}
			r.UUID = v
		case "name":
			r.Name = v
		case "given_name":
			r.GivenName = v
		case "surname":
			r.Surname = v
		case "email":
			if v != "" && (!strings.Contains(v, "@") || strings.ContainsAny(v, " ,;<>")) {
				bad(c, "%q is not an e-mail address", v)
			}
			r.Email = v
		case "category":
			r.Category = v
		case "institution":
			r.Institution = v
		case "active_from", "expires":
			t, err := parseDate(v, s.loc)
			if err != nil {
				bad(c, "%v", err)
			}
			if c == "active_from" {
				r.ActiveFrom = t
			} else {
				r.Expires = t
			}
		case "status":
			st := Status(strings.ToLower(v))
			if v != "" && !st.valid() {
				bad(c, "%q is not active, suspended, expired or superseded", v)
			}
			r.Status = st
		case "superseded_by":
			r.SupersededBy = v
		case "pin_hash":
			if v != "" {
				if err := passhash.Check(v); err != nil {
					bad(c, "%v", errors.Unwrap(err))
				}
			}
			r.pinHash, r.HasPIN = v, v != ""
		case "must_change":
			if v != "" {
				b, err := parseBool(v)
				if err != nil {
					bad(c, "not true/false")
				}
				r.MustChange, row.mustChangeSet = b, true
			}
		}
	}
	if r.Status == StatusSuperseded && r.SupersededBy == "" {
		bad("status", "superseded needs a superseded_by column value")
	}
	if len(problems) > 0 {
		return row, errors.New(strings.Join(problems, "; "))
	}
	return row, nil
}

// loadBatch upserts rows in one transaction.
func (s *Store) loadBatch(ctx context.Context, rows []importRow, operator string) (created, updated, skipped int, err error) {
	var changedIDs []string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		changedIDs = changedIDs[:0]
		sel, err := tx.PrepareContext(ctx, s.d.rebind(qSelectPatron+s.d.forUpdate))
		if err != nil {
			return err
		}
		defer sel.Close()
		ins, err := tx.PrepareContext(ctx, s.d.rebind(qInsertPatron))
		if err != nil {
			return err
		}
		defer ins.Close()
		upd, err := tx.PrepareContext(ctx, s.d.rebind(qUpdatePatron))
		if err != nil {
			return err
		}
		defer upd.Close()
		aud, err := tx.PrepareContext(ctx, s.d.rebind(qInsertAudit))
		if err != nil {
			return err
		}
		defer aud.Close()
		now := s.now()
		for i := range rows {
			row := &rows[i]
			cur, err := scanRecord(sel.QueryRowContext(ctx, row.r.ID))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				r := row.create(now)
				if _, err := ins.ExecContext(ctx, r.args()...); err != nil {
					return fmt.Errorf("line %d: %w", row.line, err)
				}
				if _, err := aud.ExecContext(ctx, now.UnixMilli(), operator, "import-create", r.ID, fmt.Sprintf("line %d", row.line), ClientAddr(ctx)); err != nil {
					return err
				}
				created++
				changedIDs = append(changedIDs, r.ID)
			case err != nil:
				return err
			default:
				changed := row.merge(cur, now)
				if len(changed) == 0 {
					skipped++
					continue
				}
				if _, err := upd.ExecContext(ctx, cur.args()...); err != nil {
					return fmt.Errorf("line %d: %w", row.line, err)
				}
				if _, err := aud.ExecContext(ctx, now.UnixMilli(), operator, "import-update", cur.ID,
					fmt.Sprintf("line %d changed: %s", row.line, strings.Join(changed, ",")), ClientAddr(ctx)); err != nil {
					return err
				}
				updated++
				changedIDs = append(changedIDs, cur.ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	s.notify(changedIDs...)
	return created, updated, skipped, nil
}

// create makes a new record from the row.
func (row *importRow) create(now time.Time) *record {
	r := row.r
	if r.UUID == "" {
		r.UUID = newUUID()
	}
	if r.Institution == "" {
		r.Institution = InstitutionFor(r.ID)
	}
	if r.Status == "" {
		r.Status = StatusActive
	}
	if r.Status == StatusSuperseded {
		r.SupersededAt = now
	}
	if r.Status == StatusSuspended {
		r.SuspendedBy, r.SuspendedAt, r.SuspendReason = "import", now, "imported as suspended"
	}
	r.Generation = 1
	r.CreatedAt, r.ModifiedAt = now, now
	return &r
}

// merge applies the row to cur and returns the names of the columns that
// changed. Empty pin_hash, status, must_change and uuid cells keep the
// stored value; other empty cells clear it (institution then follows the
// JULAC prefix).
func (row *importRow) merge(cur *record, now time.Time) []string {
	var changed []string
	str := func(col string, dst *string, v string) {
		if row.has[col] && *dst != v {
			*dst = v
			changed = append(changed, col)
		}
	}
	keep := func(col string, dst *string, v string) {
		if v != "" {
			str(col, dst, v)
		}
	}
	tm := func(col string, dst *time.Time, v time.Time) {
		if row.has[col] && !dst.Equal(v) {
			*dst = v
			changed = append(changed, col)
		}
	}
	n := &row.r
	keep("uuid", &cur.UUID, n.UUID)
	str("name", &cur.Name, n.Name)
	str("given_name", &cur.GivenName, n.GivenName)
	str("surname", &cur.Surname, n.Surname)
	str("email", &cur.Email, n.Email)
	str("category", &cur.Category, n.Category)
	inst := n.Institution
	if inst == "" {
		inst = InstitutionFor(n.ID)
	}
	str("institution", &cur.Institution, inst)
	tm("active_from", &cur.ActiveFrom, n.ActiveFrom)
	tm("expires", &cur.Expires, n.Expires)
	oldStatus := cur.Status
	keep("status", (*string)(&cur.Status), string(n.Status))
	if cur.Status != oldStatus {
		if cur.Status != StatusSuspended {
			cur.SuspendedBy, cur.SuspendedAt, cur.SuspendReason = "", time.Time{}, ""
		} else {
			cur.SuspendedBy, cur.SuspendedAt, cur.SuspendReason = "import", now, "imported as suspended"
		}
		if cur.Status == StatusSuperseded {
			cur.SupersededAt = now
		}
	}
	if cur.Status == StatusSuperseded {
		str("superseded_by", &cur.SupersededBy, n.SupersededBy)
	}
	if n.pinHash != "" && n.pinHash != cur.pinHash {
		cur.pinHash, cur.HasPIN = n.pinHash, true
		cur.clearFailures()
		changed = append(changed, "pin_hash")
	}
	if row.mustChangeSet && n.MustChange != cur.MustChange {
		cur.MustChange = n.MustChange
		changed = append(changed, "must_change")
	}
	if len(changed) > 0 {
		cur.Generation++
		cur.ModifiedAt = now
	}
	return changed
}
