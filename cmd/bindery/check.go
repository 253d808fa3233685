package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/config"
)

// checkConnect opens every backend and reaches it: each PIN store answers
// a query, each upstream directory accepts the service bind on each URL.
// It prints one line per check and returns the exit status.
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
		err := p.Ping(ctx)
		report(err == nil, fmt.Sprintf("backend %s (%s)", name, cfg.Backends[name].Type), err)
		for _, u := range upstreamState(rt, name) {
			if u.Up {
				fmt.Fprintf(out, "        %s up\n", u.URL)
			} else if u.LastError != "" {
				fmt.Fprintf(out, "        %s down: %s\n", u.URL, u.LastError)
			}
		}
	}
	return status
}
