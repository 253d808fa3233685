// Package proxy is bindery's LDAP front: an LDAPv3 server (RFC 4511) that
// answers simple binds by routing each login ID to the identity source that
// owns it, serves look-ups to service accounts, the Root DSE, Compare, WhoAmI
// (RFC 4532), StartTLS and Password Modify (RFC 3062).
//
// The model is the server of github.com/miekg/dns: a [Server] is a struct of
// documented fields whose zero values work; [Server.Serve] and
// [Server.ServeTLS] run it on a listener, [Server.Shutdown] stops it
// gracefully, and [Server.SetRoutes] swaps the routes and service accounts
// while it runs.
//
// The package depends on the backend interfaces only (package backend), never
// on a concrete identity source. Handlers return errors; the connection loop
// turns each into one LDAP result, logs it once and recovers panics.
package proxy
