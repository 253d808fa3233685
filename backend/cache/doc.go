// Package cache is the bind cache bindery puts in front of each backend: a
// decorator of backend.Authenticator with a positive cache of keyed
// password HMACs, a negative cache, coalescing of identical binds and an
// optional serve-stale mode. Plaintext passwords are never stored. See
// README.md.
package cache
