package pinstore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/passhash"
)

// Set-up codes let a patron choose their first PIN on the self-service web
// page. A code is 16 characters of Crockford's base32 (digits and letters
// without I L O U), printed as four groups of four (80 bits); typing O for 0
// or I/L for 1, lower case, spaces or no dashes is accepted. Only an
// HMAC-SHA256 of it, keyed with a random per-row salt, is stored: the code is
// high-entropy, so a slow password hash would add nothing but cost.
// Issuing a new code replaces the previous one; a code is single use and
// expires (Options of the caller: [web] setup_code_ttl).

// SetupCodeAlphabet is the characters of a set-up code (Crockford's base32:
// 32 characters, 5 bits each).
const SetupCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// setupCodeLen is the number of code characters (without the dashes).
const setupCodeLen = 16

// SetupOperator is the operator recorded in the staff audit trail for a
// patron's own set-up on the web page.
const SetupOperator = "self-service"

// ErrBadSetupCode is the one answer of UseSetupCode for an unknown ID, a
// wrong or used code, a wrong one-time PIN, or a locked account: the caller
// cannot tell them apart.
var ErrBadSetupCode = errors.New("the card number or set-up code is not right")

// ErrSetupCodeExpired: the code was right but is past its expiry; staff must
// issue a new one. Only someone holding the right code learns this.
var ErrSetupCodeExpired = errors.New("the set-up code has expired")

const (
	qSelectSetupCode = `SELECT patron_uuid, salt, code_hash, expires_at FROM setup_codes WHERE id = $1`
	qDeleteSetupCode = `DELETE FROM setup_codes WHERE id = $1`
	qInsertSetupCode = `INSERT INTO setup_codes (id, patron_uuid, salt, code_hash, issued_at, expires_at, issued_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)`
	// qConsumeSetupCode deletes the code only when it is still the one that
	// was checked (a concurrent use or a new issue wins otherwise).
	qConsumeSetupCode = `DELETE FROM setup_codes WHERE id = $1 AND code_hash = $2`
)

// NormalizeSetupCode upper-cases a typed code, drops spaces and dashes and
// reads O as 0 and I or L as 1, so a code is accepted as printed or typed
// loosely.
func NormalizeSetupCode(code string) string {
	var b strings.Builder
	for _, r := range code {
		if r >= 'a' && r <= 'z' {
			r = r - 'a' + 'A'
		}
		switch r {
		case '-', ' ', '\t':
		case 'O':
			b.WriteByte('0')
		case 'I', 'L':
			b.WriteByte('1')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// newSetupCode returns a random code formatted XXXX-XXXX-XXXX-XXXX.
func newSetupCode() string {
	var raw [setupCodeLen]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("pinstore: crypto/rand failed: " + err.Error())
	}
	var b strings.Builder
	for i, v := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(SetupCodeAlphabet[int(v)%len(SetupCodeAlphabet)]) // 256 % 32 == 0: uniform
	}
	return b.String()
}

func codeHash(salt []byte, code string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(NormalizeSetupCode(code)))
	return hex.EncodeToString(m.Sum(nil))
}

// IssueSetupCode gives id a new one-time set-up code valid for ttl and
// returns it (to print once; only its keyed hash is stored) with its
// expiry. A code issued before for id stops working. Superseded cards get
// ErrNotPermitted, unknown IDs ErrNotFound. The staff audit trail records
// the issue (never the code). The account itself is not changed.
func (s *Store) IssueSetupCode(ctx context.Context, id string, ttl time.Duration, operator string) (string, time.Time, error) {
	const op = "issue setup code"
	if err := requireOperator(operator); err != nil {
		return "", time.Time{}, fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if ttl <= 0 {
		return "", time.Time{}, fmt.Errorf("pinstore: %s: %w: ttl must be positive", op, errInvalid)
	}
	code := newSetupCode()
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("pinstore: %s: %w", op, err)
	}
	now := s.now()
	expires := now.Add(ttl).Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := get(ctx, tx, s.d, id)
		if err != nil {
			return err
		}
		if r.Status == StatusSuperseded {
			return fmt.Errorf("card replaced by %s: %w", r.SupersededBy, backend.ErrNotPermitted)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(qDeleteSetupCode), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(qInsertSetupCode), id, r.UUID, hex.EncodeToString(salt[:]),
			codeHash(salt[:], code), now.UnixMilli(), expires.UnixMilli(), operator); err != nil {
			return err
		}
		return s.audit(ctx, tx, operator, "issue-setup-code", id, "expires="+expires.Format(time.RFC3339))
	})
	if err != nil {
		return "", time.Time{}, s.dbErr(op, err)
	}
	return code, expires, nil
}

// setupRow is one setup_codes row.
type setupRow struct {
	uuid, hash string
	salt       []byte
	expires    time.Time
}

func (s *Store) getSetupCode(ctx context.Context, id string) (*setupRow, error) {
	var row setupRow
	var salt string
	var exp int64
	err := s.r.QueryRowContext(ctx, s.d.rebind(qSelectSetupCode), id).Scan(&row.uuid, &salt, &row.hash, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if row.salt, err = hex.DecodeString(salt); err != nil {
		return nil, fmt.Errorf("setup code of %q: bad salt: %w", id, err)
	}
	row.expires = time.UnixMilli(exp).UTC()
	return &row, nil
}

// UseSetupCode sets a patron's PIN with a set-up code (first-time set-up)
// or, for an account in the must-change state (a counter reset or a
// migration), with its one-time or migrated PIN given as the code.
//
// newPIN is checked with Policy.Check first (a *backend.PolicyError; nothing
// is consumed). An unknown ID, a wrong, used or replaced code, a wrong
// one-time PIN and a locked account all give ErrBadSetupCode; every one of
// those costs one argon2id verification, and a wrong code or PIN on a known
// unlocked account counts toward its lockout like a wrong PIN in a bind. A
// right but expired code gives ErrSetupCodeExpired. A right code on a
// superseded, suspended or expired account gives ErrNotPermitted; a pending
// account may set its PIN before it opens.
//
// On success the PIN is hashed with argon2id, must_change, failures and lock
// are cleared, the generation is bumped (the cache drops the old PIN), any
// set-up code of the account is deleted and the staff audit trail records
// "setup-pin" by SetupOperator with the client address.
func (s *Store) UseSetupCode(ctx context.Context, id, code, newPIN, clientAddr string) error {
	const op = "use setup code"
	if clientAddr != "" && ClientAddr(ctx) == "" {
		ctx = WithClientAddr(ctx, clientAddr)
	}
	if err := s.policy.Check(newPIN); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	dummy := func() error {
		return s.hashing(ctx, op, clientAddr, func() { passhash.DummyVerifyWith(code, s.hash) })
	}
	r, err := get(ctx, s.r, s.d, id)
	if errors.Is(err, backend.ErrNotFound) {
		if err := dummy(); err != nil {
			return err
		}
		return fmt.Errorf("pinstore: %s: %w", op, ErrBadSetupCode)
	}
	if err != nil {
		return s.dbErr(op, err)
	}
	now := s.now()
	if r.locked(now) {
		if err := dummy(); err != nil {
			return err
		}
		return fmt.Errorf("pinstore: %s: %w", op, ErrBadSetupCode)
	}
	row, err := s.getSetupCode(ctx, id)
	if err != nil {
		return s.dbErr(op, err)
	}
	codeOK := row != nil && row.uuid == r.UUID &&
		subtle.ConstantTimeCompare([]byte(codeHash(row.salt, code)), []byte(row.hash)) == 1
	otpOK := false
	if !codeOK && r.MustChange && r.HasPIN {
		var verr error
		if perr := s.hashing(ctx, op, clientAddr, func() { otpOK, _, verr = passhash.VerifyWith(r.pinHash, code, s.hash) }); perr != nil {
			return perr
		}
		otpOK = otpOK && verr == nil
	} else if err := dummy(); err != nil {
		return err
	}
	if !codeOK && !otpOK {
		if _, _, _, cerr := s.countFailure(ctx, r.ID, clientAddr, now); cerr != nil && !errors.Is(cerr, sql.ErrNoRows) {
			s.log.Warn("pinstore: could not record a wrong set-up code", "id", r.ID, "err", cerr)
		}
		return fmt.Errorf("pinstore: %s: %w", op, ErrBadSetupCode)
	}
	if codeOK && !row.expires.After(now) {
		return fmt.Errorf("pinstore: %s: %w", op, ErrSetupCodeExpired)
	}
	switch {
	case r.Status == StatusSuperseded:
		return fmt.Errorf("pinstore: %s: card replaced by %s: %w", op, r.SupersededBy, backend.ErrNotPermitted)
	case r.Status == StatusSuspended, r.expired(now):
		return fmt.Errorf("pinstore: %s: account is %s: %w", op, r.blockReason(now), backend.ErrNotPermitted)
	}
	if otpOK && subtle.ConstantTimeCompare([]byte(newPIN), []byte(code)) == 1 {
		return fmt.Errorf("pinstore: %s: %w", op, &backend.PolicyError{Problems: []backend.PolicyProblem{
			{Code: "same_as_old", Message: "new PIN must differ from the current PIN"}}})
	}
	var hash string
	if perr := s.hashing(ctx, op, clientAddr, func() { hash, err = passhash.Hash(newPIN, s.hash) }); perr != nil {
		return perr
	}
	if err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	how := "setup code"
	if !codeOK {
		how = "one-time PIN"
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := get(ctx, tx, s.d, id)
		if err != nil {
			return err
		}
		if cur.Generation != r.Generation || cur.pinHash != r.pinHash { // changed since checked
			return ErrBadSetupCode
		}
		if codeOK {
			res, err := tx.ExecContext(ctx, s.d.rebind(qConsumeSetupCode), id, row.hash)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 { // used or replaced meanwhile
				return ErrBadSetupCode
			}
		} else if _, err := tx.ExecContext(ctx, s.d.rebind(qDeleteSetupCode), id); err != nil {
			return err
		}
		cur.setPIN(hash, false)
		cur.ModifiedAt = now
		if _, err := tx.ExecContext(ctx, s.d.rebind(qUpdatePatron), cur.args()...); err != nil {
			return err
		}
		detail := "with " + how
		if clientAddr != "" {
			detail += " addr=" + clientAddr
		}
		return s.audit(ctx, tx, SetupOperator, "setup-pin", id, detail)
	})
	if err != nil {
		if errors.Is(err, ErrBadSetupCode) {
			return fmt.Errorf("pinstore: %s: %w", op, err)
		}
		return s.dbErr(op, err)
	}
	s.notify(id)
	return nil
}
