package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/config"
)

// eachPinger is a backend with several upstream URLs that can contact
// each on its own (the ldap backend's PingEach).
type eachPinger interface {
	PingEach(ctx context.Context) []error
}

// runCheck is `bindery --check`: the configuration has been parsed and
// validated; the files and folders start-up opens are tried as this user
// (config.CheckFiles), and with --connect every backend is reached.
func runCheck(cfg *config.Config, connect bool, stdout, stderr io.Writer) int {
	probs, warnings := cfg.CheckFiles()
	if len(probs) > 0 {
		fmt.Fprintf(stderr, "bindery: %s: the server would not start: %v\n", cfg.Path, probs)
		return 1
	}
	for _, w := range append(warnings, cfg.Warnings()...) {
		fmt.Fprintf(stderr, "bindery: warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s: configuration OK (%d routes, %d backends, %d service accounts)\n",
		cfg.Path, len(cfg.Routes), len(cfg.Backends), len(cfg.ServiceAccounts))
	if connect {
		return checkConnect(cfg, stdout)
	}
	return 0
}

// checkConnect opens every backend and reaches it: each PIN store answers
// a query, each upstream directory accepts the service bind on every URL,
// failover ones included. It prints one line per check and returns the
// exit status.
func checkConnect(cfg *config.Config, out io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := config.Build(ctx, cfg, quiet)
	if err != nil {
		fmt.Fprintf(out, "FAIL  %v\n", err)
		return 1
	}
	defer rt.Close()
	names := make([]string, 0, len(rt.Backends))
	for n := range rt.Backends {
		names = append(names, n)
	}
	sort.Strings(names)
	status := 0
	report := func(ok bool, what string, err error) {
		if ok {
			fmt.Fprintf(out, "ok    %s\n", what)
			return
		}
		status = 1
		fmt.Fprintf(out, "FAIL  %s: %v\n", what, err)
	}
	for _, name := range names {
		if st, ok := rt.Stores[name]; ok {
			err := st.Ping(ctx)
			report(err == nil, fmt.Sprintf("backend %s (pinstore %s)", name, cfg.Backends[name].PINStore().Driver), err)
			continue
		}
		b := rt.Backends[name]
		p, ok := backend.As[backend.Pinger](b)
		if !ok {
			fmt.Fprintf(out, "ok    backend %s (%s, nothing to reach)\n", name, cfg.Backends[name].Type)
			continue
		}
		pe, ok := backend.As[eachPinger](b)
		if !ok {
			err := p.Ping(ctx)
			report(err == nil, fmt.Sprintf("backend %s (%s)", name, cfg.Backends[name].Type), err)
			continue
		}
		// Every URL on its own, failover ones included.
		errs := pe.PingEach(ctx)
		var urls []string
		for _, u := range upstreamState(rt, name) {
			urls = append(urls, u.URL)
		}
		if len(urls) != len(errs) {
			report(false, fmt.Sprintf("backend %s (%s)", name, cfg.Backends[name].Type), fmt.Errorf("%d URLs but %d answers", len(urls), len(errs)))
			continue
		}
		var failed []string
		for i, err := range errs {
			if err != nil {
				failed = append(failed, urls[i])
			}
		}
		var err error
		if len(failed) > 0 {
			err = fmt.Errorf("%d of %d URLs did not answer: %s", len(failed), len(urls), strings.Join(failed, ", "))
		}
		report(err == nil, fmt.Sprintf("backend %s (%s)", name, cfg.Backends[name].Type), err)
		for i, e := range errs {
			if e == nil {
				fmt.Fprintf(out, "        %s up\n", urls[i])
			} else {
				fmt.Fprintf(out, "        %s down: %v\n", urls[i], e)
			}
		}
	}
	return status
}
