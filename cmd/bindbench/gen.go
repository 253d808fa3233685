package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/internal/slapdtest"
)

// GenOptions describe the users gen-users writes.
type GenOptions struct {
	Count     int
	Prefix    string // ID = Prefix + zero-padded number
	Start     int
	Digits    int
	PINFormat string // fmt pattern over the number, e.g. "Pw-%08dx"
	Category  string
	Domain    string // mail domain
}

// GenUser is one generated person.
type GenUser struct {
	ID, Password, Name, Email string
}

// Generate returns the users described by o, in order.
func Generate(o GenOptions) ([]GenUser, error) {
	if o.Count < 1 {
		return nil, errors.New("gen-users: --count must be at least 1")
	}
	if o.Digits < 1 || o.Digits > 18 {
		return nil, errors.New("gen-users: --digits must be 1-18")
	}
	if o.Start < 0 {
		return nil, errors.New("gen-users: --start must not be negative")
	}
	if last := o.Start + o.Count - 1; len(strconv.Itoa(last)) > o.Digits {
		return nil, fmt.Errorf("gen-users: %d users from %d do not fit in %d digits", o.Count, o.Start, o.Digits)
	}
	if probe := fmt.Sprintf(o.PINFormat, 1); strings.Contains(probe, "%!") || probe == fmt.Sprintf(o.PINFormat, 2) {
		return nil, fmt.Errorf("gen-users: --pin-format %q must contain one integer verb such as %%08d", o.PINFormat)
	}
	out := make([]GenUser, o.Count)
	for i := range out {
		n := o.Start + i
		id := fmt.Sprintf("%s%0*d", o.Prefix, o.Digits, n)
		out[i] = GenUser{
			ID:       id,
			Password: fmt.Sprintf(o.PINFormat, n),
			Name:     fmt.Sprintf("Bench User %d", n),
			Email:    strings.ToLower(id) + "@" + o.Domain,
		}
	}
	return out, nil
}

// WriteUsersCSV writes bind_dn,password,id rows with bind_dn uid=ID,<base>.
func WriteUsersCSV(w io.Writer, users []GenUser, base string) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"bind_dn", "password", "id"})
	for _, u := range users {
		_ = cw.Write([]string{"uid=" + ldap.EscapeDN(u.ID) + "," + base, u.Password, u.ID})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("users csv: %w", err)
	}
	return nil
}

// WriteLDIF writes one inetOrgPerson per user under base, with {SSHA}
// passwords (slapdtest.UserLDIF), preceded by the organizationalUnit entry
// of base when withOU is set and base starts with ou=.
func WriteLDIF(w io.Writer, users []GenUser, base string, withOU bool) error {
	bw := bufio.NewWriter(w)
	if withOU {
		dn, err := ldap.ParseDN(base)
		if err != nil {
			return fmt.Errorf("ldif: --base: %w", err)
		}
		if len(dn.RDNs) < 2 || !strings.EqualFold(dn.RDNs[0].Attributes[0].Type, "ou") {
			return fmt.Errorf("ldif: --base %q does not start with ou= (use --ldif-ou=false)", base)
		}
		parent := base[strings.Index(base, ",")+1:]
		bw.WriteString(slapdtest.OULDIF(dn.RDNs[0].Attributes[0].Value, parent))
	}
	for _, u := range users {
		sn := u.Name[strings.LastIndex(u.Name, " ")+1:]
		bw.WriteString(slapdtest.UserLDIF(base, slapdtest.User{
			UID: u.ID, CN: u.Name, SN: sn, Mail: u.Email, Password: u.Password,
		}))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("ldif: %w", err)
	}
	return nil
}

// HashFunc hashes one password for the import CSV.
type HashFunc func(string) (string, error)

// HashFor returns the hash function for --hash: "ssha" (fast to make; bindery
// rehashes it to argon2id at the first successful bind) or "argon2id".
func HashFor(scheme string, p passhash.Params) (HashFunc, error) {
	switch strings.ToLower(scheme) {
	case "ssha":
		return func(s string) (string, error) { return slapdtest.SSHA(s), nil }, nil
	case "argon2id":
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("gen-users: --argon2: %w", err)
		}
		return func(s string) (string, error) { return passhash.Hash(s, p) }, nil
	}
	return nil, fmt.Errorf("gen-users: --hash %q is not ssha or argon2id", scheme)
}

// ParseArgon2 reads "m=19456,t=2,p=1" (any order, all three required).
func ParseArgon2(s string) (passhash.Params, error) {
	var p passhash.Params
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, fmt.Errorf("gen-users: --argon2 %q: want m=KiB,t=N,p=N", s)
		}
		switch k {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return p, fmt.Errorf("gen-users: --argon2: p=%d is too large", n)
			}
			p.Parallelism = uint8(n)
		default:
			return p, fmt.Errorf("gen-users: --argon2: unknown parameter %q", k)
		}
		seen[k] = true
	}
	if len(seen) != 3 {
		return p, fmt.Errorf("gen-users: --argon2 %q: m, t and p are all required", s)
	}
	return p, nil
}

// WriteImportCSV writes id,name,email,category,pin_hash rows for
// `binderyctl import`, hashing on every CPU.
func WriteImportCSV(w io.Writer, users []GenUser, category string, hash HashFunc) error {
	hashes := make([]string, len(users))
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(users); i += len(errs) {
				h, err := hash(users[i].Password)
				if err != nil {
					errs[g] = err
					return
				}
				hashes[i] = h
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("import csv: hash: %w", err)
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "name", "email", "category", "pin_hash"})
	for i, u := range users {
		_ = cw.Write([]string{u.ID, u.Name, u.Email, category, hashes[i]})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("import csv: %w", err)
	}
	return nil
}

// writeFile creates path and lets write fill it.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func genUsersMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bindbench gen-users", "", stderr)
	var o GenOptions
	fs.IntVar(&o.Count, "count", 1000, "number of users")
	fs.StringVar(&o.Prefix, "prefix", "CU", "ID prefix; the ID is the prefix and a zero-padded number")
	fs.IntVar(&o.Start, "start", 1, "first number")
	fs.IntVar(&o.Digits, "digits", 7, "digits of the number")
	fs.StringVar(&o.PINFormat, "pin-format", "Pw-%08dx", "password of user number N (fmt pattern); the default meets bindery's PIN rules")
	fs.StringVar(&o.Category, "category", "julac", "category column of --import")
	fs.StringVar(&o.Domain, "mail-domain", "example.org", "mail domain")
	out := fs.String("out", "", "write a users CSV (bind_dn,password,id) with DNs under --base")
	base := fs.String("base", slapdtest.PeopleDN, "parent DN of the users (for --out and --ldif)")
	outB := fs.String("against-out", "", "write a second users CSV with DNs under --against-base (e.g. bindery's)")
	baseB := fs.String("against-base", "", "parent DN for --against-out, e.g. ou=people,dc=library,dc=example,dc=edu")
	ldif := fs.String("ldif", "", "write an LDIF of the users under --base with {SSHA} passwords (for slapadd)")
	ldifOU := fs.Bool("ldif-ou", true, "start the LDIF with the ou= entry of --base")
	imp := fs.String("import", "", "write a CSV for `binderyctl import` (id,name,email,category,pin_hash)")
	scheme := fs.String("hash", "ssha", "pin_hash of --import: ssha (fast; bindery rehashes at first bind) or argon2id")
	a2 := fs.String("argon2", "m=19456,t=2,p=1", "argon2id parameters for --hash argon2id")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "bindbench:", err)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, fmt.Errorf("gen-users: unexpected argument %q", fs.Arg(0)))
	}
	if *out == "" && *outB == "" && *ldif == "" && *imp == "" {
		return fail(2, errors.New("gen-users: nothing to write: give --out, --against-out, --ldif or --import"))
	}
	if *outB != "" && *baseB == "" {
		return fail(2, errors.New("gen-users: --against-out needs --against-base"))
	}
	params, err := ParseArgon2(*a2)
	if err != nil {
		return fail(2, err)
	}
	hash, err := HashFor(*scheme, params)
	if err != nil {
		return fail(2, err)
	}
	users, err := Generate(o)
	if err != nil {
		return fail(2, err)
	}
	jobs := []struct {
		path  string
		write func(io.Writer) error
	}{
		{*out, func(w io.Writer) error { return WriteUsersCSV(w, users, *base) }},
		{*outB, func(w io.Writer) error { return WriteUsersCSV(w, users, *baseB) }},
		{*ldif, func(w io.Writer) error { return WriteLDIF(w, users, *base, *ldifOU) }},
		{*imp, func(w io.Writer) error { return WriteImportCSV(w, users, o.Category, hash) }},
	}
	for _, j := range jobs {
		if j.path == "" {
			continue
		}
		if err := writeFile(j.path, j.write); err != nil {
			return fail(1, fmt.Errorf("gen-users: %s: %w", j.path, err))
		}
	}
	fmt.Fprintf(stdout, "bindbench: %d users %s … %s\n", len(users), users[0].ID, users[len(users)-1].ID)
	return 0
}
