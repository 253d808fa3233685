// Package proxy is bindery's LDAP front: a Server (in the manner of
// miekg/dns) that routes each bind by its login ID to a backend behind its
// cache, and answers searches, Compare, WhoAmI, StartTLS and Password
// Modify. It imports the backend interfaces, never a concrete backend.
// See README.md.
package proxy
