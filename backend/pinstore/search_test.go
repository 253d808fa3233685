package pinstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bindery/bindery/backend"
)

func eq(attr, v string) *backend.Filter {
	return &backend.Filter{Op: backend.FilterEqual, Attr: attr, Value: v}
}
func present(attr string) *backend.Filter {
	return &backend.Filter{Op: backend.FilterPresent, Attr: attr}
}
func sub(attr, initial string, any []string, final string) *backend.Filter {
	return &backend.Filter{Op: backend.FilterSubstring, Attr: attr, Initial: initial, Any: any, Final: final}
}
func and(fs ...*backend.Filter) *backend.Filter {
	return &backend.Filter{Op: backend.FilterAnd, Children: fs}
}
func or(fs ...*backend.Filter) *backend.Filter {
	return &backend.Filter{Op: backend.FilterOr, Children: fs}
}
func not(f *backend.Filter) *backend.Filter {
	return &backend.Filter{Op: backend.FilterNot, Children: []*backend.Filter{f}}
}

// searchAll walks every page and returns the IDs.
func searchAll(t *testing.T, s *Store, f *backend.Filter, pageSize int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100000 {
			t.Fatal("paging does not end")
		}
		p, err := s.Search(context.Background(), backend.Query{Filter: f, PageSize: pageSize, Cursor: cursor})
		if err != nil {
			t.Fatalf("Search: %v", err)
		}
		if len(p.Entries) > pageSize {
			t.Fatalf("page of %d entries, want at most %d", len(p.Entries), pageSize)
		}
		for _, e := range p.Entries {
			ids = append(ids, e.ID)
		}
		if p.Cursor == "" {
			return ids
		}
		cursor = p.Cursor
	}
}

func TestSearchFilters(t *testing.T) {
	s, _ := newStore(t, nil)
	ctx := context.Background()
	patrons := []Patron{
		{ID: "CU1000001", Name: "Chan Tai Man", Email: "chan@example.edu", Category: "julac"},
		{ID: "CU1000002", Name: "Wong Siu Ming", Email: "wong@example.edu", Category: "julac"},
		{ID: "20231234", Name: "Lee Ka Yan", Email: "lee_k@example.edu", Category: "alumni"},
		{ID: "20231235", GivenName: "Mary", Surname: "Smith", Email: "100%mary@example.edu", Category: "friend"},
		{ID: "20231236", Name: `Back\slash`, Category: "friend"},
		{ID: "20231237", Category: "friend"}, // no name: cn is the ID
	}
	for _, p := range patrons {
		if err := s.AddPatron(ctx, p, staff); err != nil {
			t.Fatal(err)
		}
	}
	// A superseded number is never listed.
	if err := s.AddPatron(ctx, Patron{ID: "CU1000009", Name: "Old Card", Category: "julac"}, staff); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceCard(ctx, "CU1000009", "CU1000010", staff); err != nil {
		t.Fatal(err)
	}
	all := []string{"20231234", "20231235", "20231236", "20231237", "CU1000001", "CU1000002", "CU1000010"}

	tests := []struct {
		name   string
		filter *backend.Filter
		want   []string
	}{
		{"nil filter lists all", nil, all},
		{"objectClass=person", eq("objectClass", "person"), all},
		{"objectClass=device", eq("objectClass", "device"), nil},
		{"objectClass present", present("objectclass"), all},
		{"uid equality case-insensitive", eq("uid", "cu1000001"), []string{"CU1000001"}},
		{"employeeNumber is the ID", eq("employeeNumber", "20231234"), []string{"20231234"}},
		{"category", eq("employeeType", "JULAC"), []string{"CU1000001", "CU1000002", "CU1000010"}},
		{"cn prefix", sub("cn", "chan", nil, ""), []string{"CU1000001"}},
		{"cn from given and surname", eq("cn", "mary smith"), []string{"20231235"}},
		{"cn falls back to the ID", eq("cn", "20231237"), []string{"20231237"}},
		{"cn any", sub("cn", "", []string{"ka"}, ""), []string{"20231234"}},
		{"mail final", sub("mail", "", nil, "@example.edu"), []string{"20231234", "20231235", "CU1000001", "CU1000002"}},
		{"mail present", present("mail"), []string{"20231234", "20231235", "CU1000001", "CU1000002"}},
		{"not mail present", not(present("mail")), []string{"20231236", "20231237", "CU1000010"}},
		{"and", and(eq("employeeType", "julac"), sub("cn", "wong", nil, "")), []string{"CU1000002"}},
		{"or", or(eq("uid", "20231234"), eq("mail", "wong@example.edu")), []string{"20231234", "CU1000002"}},
		{"not", and(eq("employeeType", "friend"), not(eq("uid", "20231236"))), []string{"20231235", "20231237"}},
		{"absolute true", and(), all},
		{"absolute false", or(), nil},
		{"unknown attribute is absent", eq("telephoneNumber", "1"), nil},
		{"not unknown attribute", not(present("telephoneNumber")), all},
		{"empty value never matches", eq("mail", ""), nil},
		// LIKE metacharacters and escapes are literals.
		{"percent is literal", sub("mail", "100%", nil, ""), []string{"20231235"}},
		{"percent alone finds nothing", sub("mail", "%", nil, ""), nil},
		{"underscore is literal", sub("mail", "lee_", nil, ""), []string{"20231234"}},
		{"underscore alone finds nothing", sub("cn", "c_an", nil, ""), nil},
		{"backslash is literal", sub("cn", `back\`, nil, ""), []string{"20231236"}},
		{"star in an equality value is literal", eq("uid", "*"), nil},
		{"injection in a value", eq("uid", "x' OR '1'='1"), nil},
		{"paren in a value", eq("cn", ")(uid=*"), nil},
		{"NUL in a value", eq("cn", "Chan\x00"), nil},
		// sn and givenName split from the name are "maybe" in SQL: the
		// result is a superset that the proxy checks again.
		{"sn from the surname column", and(eq("sn", "smith"), eq("employeeType", "friend")), []string{"20231235", "20231236", "20231237"}},
		{"not sn stays a superset", and(not(eq("sn", "smith")), eq("employeeType", "friend")), []string{"20231236", "20231237"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := searchAll(t, s, tt.filter, 2)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSearchSQLIsParameterised(t *testing.T) {
	f := and(eq("cn", "x' OR 1=1 --"), sub("mail", "a%b_c\\", []string{"d"}, "e"), not(present("o")))
	q, args := searchQuery(f, "CU1", 10)
	for _, bad := range []string{"x'", "1=1 --", "a%b"} {
		if strings.Contains(q, bad) {
			t.Errorf("value %q in the SQL text: %s", bad, q)
		}
	}
	if !strings.Contains(q, `ESCAPE '\'`) || !strings.Contains(q, "ORDER BY id LIMIT") {
		t.Errorf("query: %s", q)
	}
	want := []any{"x' or 1=1 --", `a\%b\_c\\%d%e`, "CU1", 10}
	if fmt.Sprint(args) != fmt.Sprint(want) {
		t.Errorf("args %q, want %q", args, want)
	}
}

func TestSearchPaging10k(t *testing.T) {
	s, _ := newStore(t, nil)
	var b strings.Builder
	b.WriteString("id,name,category\n")
	const n = 10_000
	for i := range n {
		fmt.Fprintf(&b, "CU%07d,Patron %d,julac\n", i, i)
	}
	if sum, err := s.Import(context.Background(), strings.NewReader(b.String()), ImportOptions{Operator: staff}); err != nil || sum.Created != n {
		t.Fatalf("import: %+v %v", sum, err)
	}
	ids := searchAll(t, s, eq("objectClass", "person"), 100)
	if len(ids) != n {
		t.Fatalf("walked %d patrons, want %d", len(ids), n)
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
		if i > 0 && ids[i-1] >= id {
			t.Fatalf("not in id order at %d", i)
		}
	}
	if got := searchAll(t, s, sub("cn", "patron 999", nil, ""), 7); len(got) != 11 { // 999, 9990-9999
		t.Fatalf("substring over 10k: %d hits", len(got))
	}
	// The page size is capped.
	p, err := s.Search(context.Background(), backend.Query{PageSize: MaxSearchPage * 2})
	if err != nil || len(p.Entries) != MaxSearchPage || p.Cursor == "" {
		t.Fatalf("capped page: %d entries, cursor %q, %v", len(p.Entries), p.Cursor, err)
	}
}
