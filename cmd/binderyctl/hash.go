package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/passhash"
)

func cmdHash(a *app, args []string) error {
	if _, err := parseArgs(newFlags("hash"), args); err != nil {
		return err
	}
	params, err := a.hashParams()
	if err != nil {
		return err
	}
	secret, err := a.readSecret("secret", nil)
	if err != nil {
		return err
	}
	h, err := passhash.Hash(secret, params)
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	if a.json {
		return writeJSON(a.stdout, map[string]string{"hash": h, "params": params.String()})
	}
	_, err = fmt.Fprintln(a.stdout, h)
	return err
}

// hashParams returns the argon2id cost of the configuration, or
// passhash.DefaultParams when there is no configuration file. A file that
// does not validate (often because the hash being made is still missing
// from it) still gives its [pin_policy.argon2].
func (a *app) hashParams() (passhash.Params, error) {
	cfg, err := a.config()
	if err == nil {
		return cfg.HashParams(), nil
	}
	if _, serr := os.Stat(a.cfgPath); errors.Is(serr, fs.ErrNotExist) {
		if a.cfgExplicit {
			a.warnf("no configuration at %s: using the default argon2id parameters (%s)", a.cfgPath, passhash.DefaultParams)
		}
		return passhash.DefaultParams, nil
	}
	data, rerr := os.ReadFile(a.cfgPath)
	if rerr != nil {
		return passhash.Params{}, rerr
	}
	p, derr := config.PeekHashParams(data)
	if derr != nil {
		return passhash.Params{}, fmt.Errorf("%s: %w", a.cfgPath, derr)
	}
	if verr := p.Validate(); verr != nil {
		return passhash.Params{}, fmt.Errorf("%s: pin_policy.argon2: %w", a.cfgPath, verr)
	}
	a.warnf("the configuration does not load yet (%v); using its argon2id parameters (%s) anyway", err, p)
	return p, nil
}
