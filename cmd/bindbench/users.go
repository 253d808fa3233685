package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// User is one row of a users CSV: whom to bind as, with which password,
// and (for search-bind) the ID to search for.
type User struct {
	BindDN   string
	Password string
	ID       string // optional third column, or the first RDN's value of BindDN
	// Wrong is a wrong password of the same length (for --wrong).
	Wrong string
	// Filter is the search filter with ID filled in (search-bind only).
	Filter string
}

// LoadUsersFile reads a users CSV (see ParseUsers).
func LoadUsersFile(path string, needID bool) ([]User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer f.Close()
	users, err := ParseUsers(f, needID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return users, nil
}

// ParseUsers reads CSV rows of `bind_dn,password[,id]` (RFC 4180: a DN
// with commas is in double quotes, as gen-users writes it). A first row whose first
// cell is "bind_dn" is a header and skipped; lines starting with '#' are
// comments. With needID, a row without an id cell takes the value of the
// first RDN of bind_dn (uid=CU1234567,ou=people,... gives CU1234567). Every
// bad row is reported with its line number; no users are returned then.
func ParseUsers(r io.Reader, needID bool) ([]User, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	var users []User
	var probs []string
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("users: %w", err) // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if strings.EqualFold(strings.TrimSpace(rec[0]), "bind_dn") {
				continue
			}
		}
		u, err := parseUserRow(rec, needID)
		if err != nil {
			probs = append(probs, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		users = append(users, u)
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("users: %d bad rows:\n  %s", len(probs), strings.Join(probs, "\n  "))
	}
	if len(users) == 0 {
		return nil, errors.New("users: no users")
	}
	return users, nil
}

func parseUserRow(rec []string, needID bool) (User, error) {
	if len(rec) < 2 || len(rec) > 3 {
		return User{}, fmt.Errorf("%d columns, want bind_dn,password[,id] (put a DN with commas in double quotes)", len(rec))
	}
	u := User{BindDN: strings.TrimSpace(rec[0]), Password: rec[1]}
	if len(rec) == 3 {
		u.ID = strings.TrimSpace(rec[2])
	}
	if u.BindDN == "" {
		return User{}, errors.New("empty bind_dn")
	}
	if u.Password == "" {
		return User{}, errors.New("empty password (an unauthenticated bind proves nothing)")
	}
	if u.ID == "" && needID {
		id, err := firstRDNValue(u.BindDN)
		if err != nil {
			return User{}, fmt.Errorf("no id column and %w", err)
		}
		u.ID = id
	}
	u.Wrong = wrongPassword(u.Password)
	return u, nil
}

// firstRDNValue returns the value of the first attribute of dn's first RDN.
func firstRDNValue(dn string) (string, error) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return "", fmt.Errorf("bind_dn is not a DN: %w", err)
	}
	if len(parsed.RDNs) == 0 || len(parsed.RDNs[0].Attributes) == 0 || parsed.RDNs[0].Attributes[0].Value == "" {
		return "", errors.New("bind_dn has no first RDN to take the id from")
	}
	return parsed.RDNs[0].Attributes[0].Value, nil
}

// wrongPassword returns pw with its last character changed: same length
// and character classes, never equal to pw.
func wrongPassword(pw string) string {
	r := []rune(pw)
	last := r[len(r)-1]
	switch {
	case last >= '0' && last <= '9':
		r[len(r)-1] = '0' + (last-'0'+1)%10
	case last >= 'a' && last <= 'z':
		r[len(r)-1] = 'a' + (last-'a'+1)%26
	case last >= 'A' && last <= 'Z':
		r[len(r)-1] = 'A' + (last-'A'+1)%26
	case last == '#':
		r[len(r)-1] = '%'
	default:
		r[len(r)-1] = '#'
	}
	return string(r)
}

// prepareFilters fills Filter for search-bind: filter with %s replaced by the
// escaped ID.
func prepareFilters(users []User, filter string) {
	for i := range users {
		users[i].Filter = strings.ReplaceAll(filter, "%s", ldap.EscapeFilter(users[i].ID))
	}
}
