// Package integration holds bindery's end-to-end tests: the real bindery and
// binderyctl binaries, a real OpenLDAP slapd as the campus directory, and
// real OpenLDAP clients (ldapwhoami, ldapsearch, ldappasswd) and go-ldap
// talking to bindery over loopback. It has no non-test code.
package integration
