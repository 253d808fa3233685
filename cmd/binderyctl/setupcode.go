package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/bindery/bindery/internal/config"
)

// cmdSetupCode issues a one-time set-up code for the self-service PIN page
// (binderyctl setup-code ID).
func cmdSetupCode(a *app, args []string) error {
	pos, err := parseArgs(newFlags("setup-code"), args, "ID")
	if err != nil {
		return err
	}
	return a.issueSetupCode(pos[0])
}

// issueSetupCode issues a code for id and prints it once, with its expiry
// and where to use it ([web] base_url).
func (a *app) issueSetupCode(id string) error {
	s, t, err := a.pinTarget(id, false)
	if err != nil {
		return err
	}
	ttl := config.Duration(a.cfg.Web.SetupCodeTTL, config.DefaultSetupCodeTTL)
	code, expires, err := s.IssueSetupCode(a.ctx, t.ID, ttl, a.operator)
	if err != nil {
		return a.clerkErr(err, s, t.ID)
	}
	url := ""
	if b := strings.TrimRight(a.cfg.Web.BaseURL, "/"); b != "" {
		url = b + "/pin/setup"
	}
	if a.json {
		return writeJSON(a.stdout, map[string]any{"id": t.ID, "setup_code": code, "expires": expires, "url": url})
	}
	fmt.Fprintf(a.stdout, "Set-up code for %s: %s (single use, valid until %s)\n", t.ID, code, expires.In(time.Local).Format("2006-01-02 15:04"))
	if url != "" {
		fmt.Fprintf(a.stdout, "The patron chooses a PIN at %s with the card number and this code.\n", url)
	} else {
		fmt.Fprintf(a.stdout, "The patron chooses a PIN on the PIN page (/pin/setup) with the card number and this code.\n")
	}
	if !a.cfg.Web.Enabled {
		a.warnf("[web] enabled is not set in %s: the PIN page is off, so the code cannot be used yet", a.cfgPath)
	}
	return nil
}
