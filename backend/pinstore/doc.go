// Package pinstore is bindery's own patron and PIN store (SQLite or
// PostgreSQL): argon2id PINs, lockout, the account life cycle, and the
// staff operations binderyctl and the web pages call, each audited. It is
// a backend.Authenticator, PasswordChanger, PatronChecker, Searcher and
// Invalidator. See README.md.
package pinstore
