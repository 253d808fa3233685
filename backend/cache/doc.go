// Package cache is the authentication cache bindery puts in front of each
// backend: a decorator that implements backend.Authenticator itself.
//
//   - Positive cache: a bounded store of its own (store.go) keyed by the
//     normalised login ID, holding the HMAC-SHA256 of the password under a
//     key made at process start (never written anywhere, truncated to 128
//     bits), the entry, the time it was verified and the account's
//     generation. The store is sharded by a seeded hash of the ID; each
//     shard is a mutex, a map from ID to a slot in a slab of fixed-size
//     records and an LRU list through int32 links, with a global bound of
//     MaxEntries. The ID and the entry are packed into one string per record
//     (pack.go); a hit rebuilds the entry from substrings of it. Category
//     and Institution values are interned in a small per-cache table
//     (intern.go). Records older than max(TTL, ServeStaleFor) are dropped
//     when read: the cache runs no goroutine. A hit needs the same HMAC
//     (compared in constant time) and an entry younger than TTL;
//     invalidation (backend.Invalidator) removes the entry the moment the
//     account's generation changes. A miss with another password always
//     goes to the backend: the cache never rejects a password it has not
//     seen fail.
//   - Negative cache: (ID, HMAC) pairs that failed with a wrong password or
//     an unknown user, answered as failures without asking the backend for
//     NegativeTTL, so a client retrying a stale password in a loop cannot
//     lock the patron out upstream (golang-lru's simplelru under a mutex,
//     ages checked on read; negative.go).
//   - Identical concurrent binds (same ID and HMAC) are coalesced into one
//     backend call (golang.org/x/sync/singleflight).
//   - ServeStaleFor: while the backend is unavailable, a cached success
//     younger than this still succeeds.
//
// Plaintext passwords are never stored: only their keyed HMAC.
package cache
