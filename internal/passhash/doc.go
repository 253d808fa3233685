// Package passhash hashes and verifies bindery's PINs and passwords.
//
// New hashes are argon2id PHC strings
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", unpadded standard base64,
// as the reference implementation writes them). Verification also accepts
// the legacy formats that library systems and OpenLDAP export: bcrypt
// ($2a$, $2b$, $2y$), {SSHA}, {SHA}, {SSHA256}, {SHA256}, {SSHA512},
// {SHA512}, {SMD5}, {MD5} and {CRYPT} with MD5-crypt ($1$) or SHA-crypt
// ($5$, $6$). Every legacy match reports needsRehash so the caller can store
// an argon2id hash instead.
//
// All comparisons of digests are constant time. Errors are returned only for
// a malformed or unsupported hash, never for a wrong secret.
package passhash
