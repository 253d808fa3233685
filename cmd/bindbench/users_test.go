package main

import (
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		needID  bool
		wantIDs []string
		wantErr []string // substrings of the error, e.g. line numbers
	}{
		{"header and id column", "bind_dn,password,id\n\"uid=CU1,ou=people,dc=x,dc=y\",Pw-00000001x,CU1\n", true, []string{"CU1"}, nil},
		{"id from first RDN", "\"uid=jchan,ou=people,dc=x\",Secret-123\n\"cn=Bob Lee,dc=x\",Secret-456\n", true, []string{"jchan", "Bob Lee"}, nil},
		{"bind mode takes bare IDs", "CU1234567,Pw-00000001x\n", false, []string{""}, nil},
		{"comments", "# users\n\"uid=a,dc=x\",Secret-123\n", true, []string{"a"}, nil},
		{"quoted comma in DN", "\"uid=a,ou=x\\, y,dc=z\",Secret-123\n", true, []string{"a"}, nil},
		{"too few columns", "bind_dn,password\nuid=a,pw\nonlyone\n", false, nil, []string{"line 3: 1 columns"}},
		{"unquoted DN", "uid=a,ou=people,dc=x,Secret-123\n", true, nil, []string{"line 1: 4 columns", "double quotes"}},
		{"too many columns", "a,b,c,d\n", false, nil, []string{"line 1: 4 columns"}},
		{"empty password and empty DN", "\"uid=a,dc=x\",\n,pw\n", false, nil, []string{"line 1: empty password", "line 2: empty bind_dn"}},
		{"not a DN in search-bind", "\"uid=ok,dc=x\",pw\nCU1234567,pw\n", true, nil, []string{"line 2: no id column and bind_dn is not a DN"}},
		{"bad quoting", "\"uid=a,pw\n", false, nil, []string{"line 1"}},
		{"empty file", "bind_dn,password\n", false, nil, []string{"no users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := ParseUsers(strings.NewReader(tt.in), tt.needID)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want %v", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "Secret") {
					t.Errorf("error shows a password: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != len(tt.wantIDs) {
				t.Fatalf("%d users, want %d", len(users), len(tt.wantIDs))
			}
			for i, u := range users {
				if u.ID != tt.wantIDs[i] {
					t.Errorf("user %d id %q, want %q", i, u.ID, tt.wantIDs[i])
				}
				if u.Wrong == u.Password || len(u.Wrong) != len(u.Password) {
					t.Errorf("user %d: wrong password %q for %q", i, u.Wrong, u.Password)
				}
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	for _, pw := range []string{"Pw-00000001x", "abc9", "XYZ", "a#", "pässwort-é", "z"} {
		w := wrongPassword(pw)
		if w == pw || len([]rune(w)) != len([]rune(pw)) {
			t.Errorf("wrongPassword(%q) = %q", pw, w)
		}
	}
}

func TestPrepareFiltersEscapes(t *testing.T) {
	users := []User{{ID: "a*)(uid=*"}}
	prepareFilters(users, "(&(objectClass=person)(uid=%s))")
	if want := `(&(objectClass=person)(uid=a\2a\29\28uid=\2a))`; users[0].Filter != want {
		t.Errorf("filter %q, want %q", users[0].Filter, want)
	}
}
