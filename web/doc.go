// Package web is bindery's self-service PIN page: first-time set-up with a
// one-time set-up code (or a one-time / migrated PIN) at /pin/setup, and a
// PIN change with the current PIN at /pin/change, in English and
// Traditional Chinese.
//
// Pages are rendered on the server with html/template and work without
// JavaScript; a small script (/pin/static/app.js) checks the PIN rules as
// the user types. Forms carry a double-submit CSRF token, every response
// carries a strict Content-Security-Policy and the usual security headers,
// failed attempts are throttled per client address here and per card by the
// PIN store's lockout counters, and no PIN or code is ever put in a URL or
// a log line.
//
// The package talks to the PIN store through the small Store interface
// (pinstore.Store implements it) and finds the store of a card number
// through Options.Resolve, the way a bind is routed.
package web
