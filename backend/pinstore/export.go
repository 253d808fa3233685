package pinstore

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// Export writes every patron as CSV in the Import format, ordered by id,
// so that export -> import round-trips. Without withHashes the pin_hash
// column is left out (an import then keeps the stored PINs); with it, the
// hashes are written, so the file must be protected like the database.
// The dump comes from one query, a consistent snapshot.
func (s *Store) Export(ctx context.Context, w io.Writer, withHashes bool) error {
	const op = "export"
	cols := make([]string, 0, len(csvColumns))
	for _, c := range csvColumns {
		if c != "pin_hash" || withHashes {
			cols = append(cols, c)
		}
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(qSelectExport))
	if err != nil {
		return s.dbErr(op, err)
	}
	defer rows.Close()
	out := make([]string, len(cols))
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return s.dbErr(op, err)
		}
		for i, c := range cols {
			out[i] = s.exportCell(r, c)
		}
		if err := cw.Write(out); err != nil {
			return fmt.Errorf("pinstore: %s: %w", op, err)
		}
	}
	if err := rows.Err(); err != nil {
		return s.dbErr(op, err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	return nil
}

func (s *Store) exportCell(r *record, col string) string {
	switch col {
	case "id":
		return r.ID
	case "uuid":
		return r.UUID
	case "name":
		return r.Name
	case "given_name":
		return r.GivenName
	case "surname":
		return r.Surname
	case "email":
		return r.Email
	case "category":
		return r.Category
	case "institution":
		return r.Institution
	case "active_from":
		return formatDate(r.ActiveFrom, s.loc)
	case "expires":
		return formatDate(r.Expires, s.loc)
	case "status":
		return string(r.Status)
	case "superseded_by":
		return r.SupersededBy
	case "pin_hash":
		return r.pinHash
	case "must_change":
		return strconv.FormatBool(r.MustChange)
	}
	return ""
}
