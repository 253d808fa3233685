// Package cache is the authentication cache bindery puts in front of each
// backend: a decorator that implements backend.Authenticator itself.
//
//   - Positive cache: an expiring LRU (github.com/hashicorp/golang-lru/v2,
//     expirable) keyed by the normalised login ID, holding the
//     HMAC-SHA256 of the password under a key made at process start (never
//     written anywhere), the entry, the time it was verified and the
//     account's generation. A hit needs the same HMAC (compared in constant
//     time) and an entry younger than TTL; invalidation (backend.Invalidator)
//     removes the entry the moment the account's generation changes. A miss
//     with another password always goes to the backend: the cache never
//     rejects a password it has not seen fail.
//   - Negative cache: (ID, HMAC) pairs that failed with a wrong password or
//     an unknown user, answered as failures without asking the backend for
//     NegativeTTL, so a client retrying a stale password in a loop cannot
//     lock the patron out upstream.
//   - Identical concurrent binds (same ID and HMAC) are coalesced into one
//     backend call (golang.org/x/sync/singleflight).
//   - ServeStaleFor: while the backend is unavailable, a cached success
//     younger than this still succeeds.
//
// Plaintext passwords are never stored: only their keyed HMAC.
package cache
