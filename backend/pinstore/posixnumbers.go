package pinstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/bindery/bindery/backend"
)

// The store keeps the uidNumbers of the POSIX view ([posix], see
// backend.UIDNumbers) for every account, its own patrons and campus
// users alike, in posix_uids: the first number free among the caller's
// candidates, kept for good.

const (
	qSelectUIDByUUID   = `SELECT uid_number, id FROM posix_uids WHERE uuid = $1`
	qSelectUIDOwner    = `SELECT uuid, id FROM posix_uids WHERE uid_number = $1`
	qInsertUID         = `INSERT INTO posix_uids (uid_number, uuid, id, assigned_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`
	qUpdateUIDID       = `UPDATE posix_uids SET id = $1 WHERE uuid = $2`
	maxUIDNumberProbes = 64
)

// UIDNumber implements backend.UIDNumbers.
func (s *Store) UIDNumber(ctx context.Context, acct backend.NumberedAccount, candidate func(try int) int64) (int64, error) {
	const op = "uid number"
	uuid := strings.ToLower(acct.UUID)
	if uuid == "" {
		return 0, s.dbErr(op, fmt.Errorf("%w: no entryUUID", errInvalid))
	}
	n, id, err := s.uidByUUID(ctx, uuid)
	switch {
	case err == nil:
		if id != acct.ID && acct.ID != "" {
			if _, err := s.w.ExecContext(ctx, s.d.rebind(qUpdateUIDID), acct.ID, uuid); err != nil {
				return 0, s.dbErr(op, err)
			}
		}
		return n, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, s.dbErr(op, err)
	}
	for try := range maxUIDNumberProbes {
		c := candidate(try)
		res, err := s.w.ExecContext(ctx, s.d.rebind(qInsertUID), c, uuid, acct.ID, s.now().UnixMilli())
		if err != nil {
			return 0, s.dbErr(op, err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			return c, nil
		}
		// Taken: by another account, or by this one in a race with
		// another process.
		if n, _, err := s.uidByUUID(ctx, uuid); err == nil {
			return n, nil
		}
	}
	return 0, s.dbErr(op, fmt.Errorf("%w: %d candidate numbers are all taken: widen [posix] uid_range", backend.ErrUnavailable, maxUIDNumberProbes))
}

func (s *Store) uidByUUID(ctx context.Context, uuid string) (int64, string, error) {
	var n int64
	var id string
	err := s.r.QueryRowContext(ctx, s.d.rebind(qSelectUIDByUUID), uuid).Scan(&n, &id)
	return n, id, err
}

// UIDOwner implements backend.UIDNumbers.
func (s *Store) UIDOwner(ctx context.Context, n int64) (backend.NumberedAccount, error) {
	var a backend.NumberedAccount
	err := s.r.QueryRowContext(ctx, s.d.rebind(qSelectUIDOwner), n).Scan(&a.UUID, &a.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("pinstore: uid owner %d: %w", n, backend.ErrNotFound)
	}
	if err != nil {
		return a, s.dbErr("uid owner", err)
	}
	return a, nil
}
