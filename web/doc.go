// Package web is bindery's browser side: the self-service PIN page
// (first-time set-up with a one-time set-up code or a one-time / migrated
// PIN at /pin/setup, a PIN change at /pin/change) and the staff console
// for the library counter at /staff/ (look-up, unlock, PIN reset onto a
// printable slip, set-up codes, card replacement, dates, suspension,
// import and export), both in English and Traditional Chinese. See
// README.md.
//
// Pages are rendered on the server with html/template and work without
// JavaScript. Forms carry CSRF tokens, every response a strict
// Content-Security-Policy and the usual security headers; failed attempts
// are throttled per client address here and per account by the PIN
// store's lockout counters and the server's bind throttle; no PIN, code or
// password is ever put in a URL or a log line.
//
// The PIN page talks to a PIN store through the small Store interface and
// finds the store of a card number through Options.Resolve, the way a bind
// is routed. The console resolves IDs through internal/desk (as binderyctl
// does), checks staff passwords with the server's own bind path
// (proxy.Server.Authenticate) and acts through the pinstore's own calls.
package web
