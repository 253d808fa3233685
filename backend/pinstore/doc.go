// Package pinstore is bindery's own patron and PIN store: JULAC card holders
// and other library users whose PIN bindery owns.
//
// A Store keeps patrons in SQL (SQLite through modernc.org/sqlite now;
// PostgreSQL later behind the same type), hashes PINs with argon2id
// (internal/passhash), counts failures and locks accounts atomically, and
// carries each account through its life cycle: pending, active, must change,
// locked, suspended, expired, superseded by a new card. It implements
// backend.Authenticator, backend.PasswordChanger and backend.PatronChecker,
// plus the staff operations that binderyctl calls (AddPatron, ResetPIN,
// ReplaceCard, Explain, Import, Export, ...). Every staff operation writes
// the staff_audit table; no PIN is ever stored in plaintext or logged.
package pinstore
