package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bindery/bindery/backend/pinstore"
)

// progressMin is the number of rows above which import shows progress
// (on a terminal).
const progressMin = 5000

func cmdImport(a *app, args []string) error {
	fs := newFlags("import")
	strict := fs.Bool("strict", false, "load nothing if any row is bad")
	backendName := fs.String("backend", "", "the pinstore backend (needed when there are several)")
	pos, err := parseArgs(fs, args, "FILE.csv")
	if err != nil {
		return err
	}
	s, _, err := a.onlyPinstore(*backendName)
	if err != nil {
		return err
	}
	name := pos[0]
	var in io.Reader = a.in
	total := 0
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("cannot read the import file: %w", err)
		}
		defer f.Close()
		in = f
		if a.stderrTTY {
			if total, err = countLines(f); err != nil {
				return fmt.Errorf("cannot read the import file: %w", err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("cannot read the import file: %w", err)
			}
			total-- // the header
		}
	}
	opts := pinstore.ImportOptions{Strict: *strict, Operator: a.operator}
	showProgress := a.stderrTTY && total > progressMin
	if showProgress {
		opts.Progress = func(done int) {
			fmt.Fprintf(a.stderr, "\rimporting: %d of %d rows (%d%%)", done, total, done*100/max(total, 1))
		}
	}
	sum, err := s.Import(a.ctx, in, opts)
	if showProgress {
		fmt.Fprintln(a.stderr)
	}
	rejected := *strict && err != nil && len(sum.Errors) > 0
	if err != nil && !rejected {
		if len(sum.Errors) > 0 || sum.Created+sum.Updated > 0 {
			a.printImport(sum, false)
		}
		return a.clerkErr(err, s, "")
	}
	if err := a.printImport(sum, rejected); err != nil {
		return err
	}
	if len(sum.Errors) > 0 {
		if rejected {
			a.errorf("%d bad row(s) in %s; with --strict nothing was loaded: fix them and import again", len(sum.Errors), name)
		} else {
			a.errorf("%d bad row(s) in %s were skipped; the other rows were loaded: fix them and import the file again (it is safe to re-run)", len(sum.Errors), name)
		}
		return errSilent
	}
	return nil
}

// printImport writes each bad row and the summary.
func (a *app) printImport(sum pinstore.ImportSummary, rejected bool) error {
	if a.json {
		type rowErr struct {
			Line   int    `json:"line"`
			Reason string `json:"reason"`
		}
		out := struct {
			Created       int      `json:"created"`
			Updated       int      `json:"updated"`
			Skipped       int      `json:"skipped"`
			NothingLoaded bool     `json:"nothing_loaded"`
			Errors        []rowErr `json:"errors"`
		}{Created: sum.Created, Updated: sum.Updated, Skipped: sum.Skipped, NothingLoaded: rejected, Errors: []rowErr{}}
		for _, e := range sum.Errors {
			out.Errors = append(out.Errors, rowErr{e.Line, e.Reason})
		}
		return writeJSON(a.stdout, out)
	}
	for _, e := range sum.Errors {
		fmt.Fprintf(a.stdout, "line %d: %s\n", e.Line, e.Reason)
	}
	fmt.Fprintf(a.stdout, "created %d, updated %d, skipped %d", sum.Created, sum.Updated, sum.Skipped)
	if len(sum.Errors) > 0 {
		fmt.Fprintf(a.stdout, ", %d bad", len(sum.Errors))
	}
	if rejected {
		fmt.Fprint(a.stdout, " (--strict: nothing loaded)")
	}
	_, err := fmt.Fprintln(a.stdout)
	return err
}

// countLines counts the lines of r (a last line without a newline counts).
func countLines(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]byte, 64<<10)
	n, last := 0, byte('\n')
	for {
		k, err := br.Read(buf)
		if k > 0 {
			n += bytes.Count(buf[:k], []byte{'\n'})
			last = buf[k-1]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	return n, nil
}

func cmdExport(a *app, args []string) error {
	fs := newFlags("export")
	withHashes := fs.Bool("with-hashes", false, "include the PIN hashes (protect the file like the database)")
	backendName := fs.String("backend", "", "the pinstore backend (needed when there are several)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	s, _, err := a.onlyPinstore(*backendName)
	if err != nil {
		return err
	}
	if *withHashes {
		a.warnf("the export holds PIN hashes: keep the file as safe as the database, and delete it when done")
	}
	if err := s.Export(a.ctx, a.stdout, *withHashes); err != nil {
		return a.clerkErr(err, s, "")
	}
	return nil
}
