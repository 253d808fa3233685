package ldapbackend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/slapdtest"
)

func feq(attr, v string) *backend.Filter {
	return &backend.Filter{Op: backend.FilterEqual, Attr: attr, Value: v}
}
func fpresent(attr string) *backend.Filter {
	return &backend.Filter{Op: backend.FilterPresent, Attr: attr}
}
func fsub(attr, initial string, any []string, final string) *backend.Filter {
	return &backend.Filter{Op: backend.FilterSubstring, Attr: attr, Initial: initial, Any: any, Final: final}
}
func fand(fs ...*backend.Filter) *backend.Filter {
	return &backend.Filter{Op: backend.FilterAnd, Children: fs}
}
func forr(fs ...*backend.Filter) *backend.Filter {
	return &backend.Filter{Op: backend.FilterOr, Children: fs}
}
func fnot(f *backend.Filter) *backend.Filter {
	return &backend.Filter{Op: backend.FilterNot, Children: []*backend.Filter{f}}
}

func TestSearchFilterTranslation(t *testing.T) {
	b, err := New(Config{URLs: []string{"ldap://127.0.0.1:1"}, BaseDN: "ou=people,dc=example,dc=org",
		UserFilter: "(&(objectClass=person)(uid={id}))",
		Attributes: map[string]string{"o": "ou", "displayName": "displayName"}})
	if err != nil {
		t.Fatal(err)
	}
	const users = "(&(objectClass=person)(uid=*))"
	tests := []struct {
		name   string
		filter *backend.Filter
		want   string // "" = matches nothing, no upstream search
	}{
		{"nil lists users", nil, users},
		{"objectClass=person is the user filter", feq("objectClass", "person"), users},
		{"objectClass=device matches nothing", feq("objectClass", "device"), ""},
		{"equality", feq("cn", "Chan"), "(&" + users + "(cn=Chan))"},
		{"mapped attribute", feq("o", "HKU"), "(&" + users + "(ou=HKU))"},
		{"extra attribute", fpresent("displayName"), "(&" + users + "(displayName=*))"},
		{"uid is the id attribute", feq("uid", "jchan"), "(&" + users + "(uid=jchan))"},
		{"employeeNumber is the id attribute", feq("employeeNumber", "jchan"), "(&" + users + "(uid=jchan))"},
		{"unknown attribute is absent", feq("telephoneNumber", "1"), ""},
		{"not unknown attribute is true", fnot(fpresent("telephoneNumber")), users},
		{"substring", fsub("cn", "Ch", []string{"a", ""}, "n"), "(&" + users + "(cn=Ch*a*n))"},
		{"and or not", fand(feq("employeeType", "staff"), forr(fsub("mail", "j", nil, ""), fnot(feq("sn", "Lee")))),
			"(&" + users + "(&(employeeType=staff)(|(mail=j*)(!(sn=Lee)))))"},
		{"or with an absent branch", forr(feq("cn", "x"), feq("pager", "1")), "(&" + users + "(cn=x))"},
		{"empty value", feq("mail", ""), ""},
		{"memberOf is left to the caller", feq("memberOf", "cn=staff,ou=groups,dc=x"), users},
		{"not memberOf is left to the caller", fnot(feq("memberOf", "cn=staff,ou=groups,dc=x")), users},
		// Injection: every value is escaped.
		{"star", feq("uid", "*"), `(&` + users + `(uid=\2a))`},
		{"paren injection", feq("uid", "x)(uid=*"), `(&` + users + `(uid=x\29\28uid=\2a))`},
		{"backslash", feq("cn", `a\b`), `(&` + users + `(cn=a\5cb))`},
		{"NUL", feq("cn", "a\x00b"), `(&` + users + `(cn=a\00b))`},
		{"percent and underscore are plain", fsub("mail", "100%", nil, "_x"), "(&" + users + "(mail=100%*_x))"},
		{"star in a substring part", fsub("cn", "*", []string{")("}, ""), `(&` + users + `(cn=\2a*\29\28*))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := b.upstreamFilter(tt.filter)
			if !ok {
				got = ""
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTemplateParent(t *testing.T) {
	for tmpl, want := range map[string]string{
		"uid={id},ou=people,dc=example,dc=org": "ou=people,dc=example,dc=org",
		"uid={id}":                             "",
	} {
		if got := templateParent(tmpl); got != want {
			t.Errorf("templateParent(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

// manyPeople is the fixture plus n numbered students.
func manyPeople(n int) string {
	var b strings.Builder
	b.WriteString(fixture())
	for i := range n {
		b.WriteString(slapdtest.UserLDIF(slapdtest.PeopleDN, slapdtest.User{
			UID: fmt.Sprintf("s%04d", i), CN: fmt.Sprintf("Student %d", i), SN: "Student", EmployeeType: "student",
			Mail: fmt.Sprintf("s%04d@example.org", i)}))
	}
	return b.String()
}

func TestSearchAgainstSlapd(t *testing.T) {
	// A campus directory grants the sync account paged walks beyond its
	// default size limit (500) with size.prtotal.
	sl := slapdtest.Start(t, slapdtest.Options{LDIF: manyPeople(1200),
		ExtraDatabase: `limits dn.exact="` + serviceDN + `" size.prtotal=unlimited`})
	b := newBackend(t, Config{URLs: []string{sl.URL()}, BindDN: serviceDN, BindPassword: servicePW,
		BaseDN: slapdtest.PeopleDN, Attributes: map[string]string{"o": "ou"}})
	ctx := context.Background()

	walk := func(t *testing.T, f *backend.Filter, size int) []string {
		t.Helper()
		var ids []string
		cursor := ""
		for range 10000 {
			p, err := b.Search(ctx, backend.Query{Filter: f, PageSize: size, Cursor: cursor})
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			if len(p.Entries) > size {
				t.Fatalf("page of %d > %d", len(p.Entries), size)
			}
			for _, e := range p.Entries {
				ids = append(ids, e.ID)
			}
			if p.Cursor == "" {
				return ids
			}
			cursor = p.Cursor
		}
		t.Fatal("paging does not end")
		return nil
	}

	tests := []struct {
		name   string
		filter *backend.Filter
		size   int
		want   []string // nil: check count only
		count  int
	}{
		{"equality", feq("mail", "jchan@example.org"), 10, []string{"jchan"}, 1},
		{"staff", feq("employeeType", "staff"), 10, []string{"jchan"}, 1},
		{"cn substring", fsub("cn", "wing", nil, ""), 10, []string{"u3551234"}, 1},
		{"star is literal", feq("uid", "*"), 10, []string{}, 0},
		{"injection finds nothing", feq("uid", "x)(uid=*"), 10, []string{}, 0},
		{"unknown attribute", feq("pager", "1"), 10, []string{}, 0},
		{"students paged by 100", feq("employeeType", "student"), 100, nil, 1201},
		{"everyone paged by 250 (above slapd's 500 default size limit in total)", nil, 250, nil, 1204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := walk(t, tt.filter, tt.size)
			if len(ids) != tt.count {
				t.Fatalf("%d entries, want %d", len(ids), tt.count)
			}
			if tt.want != nil && !slices.Equal(ids, tt.want) && !(len(ids) == 0 && len(tt.want) == 0) {
				t.Fatalf("got %v, want %v", ids, tt.want)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("%s listed twice", id)
				}
				seen[id] = true
			}
		})
	}

	t.Run("entries are virtual", func(t *testing.T) {
		p, err := b.Search(ctx, backend.Query{Filter: feq("uid", "jchan")})
		if err != nil || len(p.Entries) != 1 {
			t.Fatalf("%v %v", p, err)
		}
		e := p.Entries[0]
		if e.ID != "jchan" || e.Mail != "jchan@example.org" || e.Category != "staff" || e.UUID == "" {
			t.Fatalf("entry %+v", e)
		}
	})

	t.Run("unknown cursor", func(t *testing.T) {
		_, err := b.Search(ctx, backend.Query{Cursor: "nope"})
		if !errors.Is(err, backend.ErrCursor) {
			t.Fatalf("got %v, want ErrCursor", err)
		}
	})

	t.Run("a cursor is used once", func(t *testing.T) {
		p, err := b.Search(ctx, backend.Query{PageSize: 10})
		if err != nil || p.Cursor == "" {
			t.Fatalf("%v %v", p.Cursor, err)
		}
		if _, err := b.Search(ctx, backend.Query{PageSize: 10, Cursor: p.Cursor}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Search(ctx, backend.Query{PageSize: 10, Cursor: p.Cursor}); !errors.Is(err, backend.ErrCursor) {
			t.Fatalf("reused cursor: %v", err)
		}
	})

	t.Run("upstream down is unavailable", func(t *testing.T) {
		down := newBackend(t, Config{URLs: []string{"ldap://127.0.0.1:1"}, BaseDN: slapdtest.PeopleDN})
		_, err := down.Search(ctx, backend.Query{})
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
	})
}
