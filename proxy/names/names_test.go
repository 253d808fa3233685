package names

import (
	"errors"
	"strings"
	"testing"
	"unsafe"
)

const suffix = "dc=library,dc=example,dc=edu"

func newTestParser(t testing.TB, upn string) *Parser {
	t.Helper()
	p, err := NewParser(suffix, upn)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestParse is the table of accepted and refused forms.
func TestParse(t *testing.T) {
	p := newTestParser(t, "library.example.edu")
	noUPN := newTestParser(t, "")
	hk, err := NewParser("dc=hku,dc=hk", "hku.hk")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", MaxIDLen)
	tests := []struct {
		name    string
		in      string
		parser  *Parser
		want    Name
		wantErr bool
	}{
		{name: "anonymous", in: "", want: Name{Kind: Anonymous}},
		{name: "uid DN", in: "uid=CU1234567,ou=people," + suffix, want: Name{Person, "CU1234567"}},
		{name: "cn DN", in: "cn=jchan,ou=people," + suffix, want: Name{Person, "jchan"}},
		{name: "case and spaces", in: "UID=CU1234567, OU=People, DC=Library,DC=example,DC=edu", want: Name{Person, "CU1234567"}},
		{name: "spaces around =", in: "uid = u3551234 , ou = people , dc = library , dc = example , dc = edu", want: Name{Person, "u3551234"}},
		{name: "leading blanks", in: "  uid=jchan,ou=people," + suffix, want: Name{Person, "jchan"}},
		{name: "ID case kept", in: "uid=JChan,ou=PEOPLE," + suffix, want: Name{Person, "JChan"}},
		{name: "semicolon separators", in: "uid=a;ou=people;dc=library;dc=example;dc=edu", want: Name{Person, "a"}},
		{name: "escaped comma", in: `uid=a\,b,ou=people,` + suffix, want: Name{Person, "a,b"}},
		{name: "hex comma", in: `uid=a\2Cb,ou=people,` + suffix, want: Name{Person, "a,b"}},
		{name: "hex lower", in: `uid=a\2cb,ou=people,` + suffix, want: Name{Person, "a,b"}},
		{name: "escaped plus", in: `uid=a\+b,ou=people,` + suffix, want: Name{Person, "a+b"}},
		{name: "escaped hash", in: `uid=\#1,ou=people,` + suffix, want: Name{Person, "#1"}},
		{name: "escaped backslash", in: `uid=a\\b,ou=people,` + suffix, want: Name{Person, `a\b`}},
		{name: "escaped equals", in: `uid=a\=b,ou=people,` + suffix, want: Name{Person, "a=b"}},
		{name: "raw equals in value", in: `uid=a=b,ou=people,` + suffix, want: Name{Person, "a=b"}},
		{name: "escaped trailing space", in: `uid=a\ ,ou=people,` + suffix, want: Name{Person, "a "}},
		{name: "UTF-8 hex", in: `uid=\e9\99\b3,ou=people,` + suffix, want: Name{Person, "陳"}},
		{name: "UTF-8 raw", in: `uid=陳大文,ou=people,` + suffix, want: Name{Person, "陳大文"}},
		{name: "BER hex value", in: `uid=#040261 62,ou=people,` + suffix, wantErr: true},
		{name: "BER hex value ok", in: `uid=#04026162,ou=people,` + suffix, want: Name{Person, "ab"}},
		{name: "service", in: "cn=koha,ou=services," + suffix, want: Name{Service, "koha"}},
		{name: "service case", in: "CN=EZproxy,OU=Services," + strings.ToUpper(suffix), want: Name{Service, "EZproxy"}},
		{name: "group", in: "cn=julac,ou=groups," + suffix, want: Name{Group, "julac"}},
		{name: "suffix", in: suffix, want: Name{Kind: Suffix}},
		{name: "suffix spaced", in: "DC=Library, DC=Example, DC=Edu", want: Name{Kind: Suffix}},
		{name: "people container", in: "ou=People," + suffix, want: Name{Container, OUPeople}},
		{name: "groups container", in: "ou=groups," + suffix, want: Name{Container, OUGroups}},
		{name: "bare ID", in: "CU1234567", want: Name{Person, "CU1234567"}},
		{name: "bare ID with space", in: "j chan", want: Name{Person, "j chan"}},
		{name: "UPN", in: "jchan@library.example.edu", want: Name{Person, "jchan"}},
		{name: "UPN case", in: "JChan@Library.Example.EDU", want: Name{Person, "JChan"}},
		{name: "UPN other domain", in: "jchan@other.edu", want: Name{Person, "jchan@other.edu"}},
		{name: "UPN not configured", in: "jchan@library.example.edu", parser: noUPN, want: Name{Person, "jchan@library.example.edu"}},
		{name: "UPN empty ID", in: "@library.example.edu", wantErr: true},
		{name: "UPN Kelvin sign", in: "a@hk\u212a.hk", parser: hk, want: Name{Person, "a@hk\u212a.hk"}},
		{name: "UPN hk", in: "a@HKU.hk", parser: hk, want: Name{Person, "a"}},
		{name: "star", in: "*", want: Name{Person, "*"}},
		{name: "prefix star", in: "a*", want: Name{Person, "a*"}},
		{name: "paren ID", in: "x)(cn", want: Name{Person, "x)(cn"}},
		{name: "filter injection in DN value", in: "uid=x)(uid=*,ou=people," + suffix, want: Name{Person, "x)(uid=*"}},
		{name: "filter injection bare", in: "x)(uid=*", wantErr: true},
		{name: "wrong suffix", in: "uid=a,ou=people,dc=other,dc=edu", want: Name{Kind: OtherDN}},
		{name: "longer suffix", in: "uid=a,ou=people,dc=x," + suffix, want: Name{Kind: OtherDN}},
		{name: "suffix look-alike", in: "uid=a,ou=people,dc=library,dc=example,dc=eduu", want: Name{Kind: OtherDN}},
		{name: "Kelvin sign in suffix", in: "uid=a,ou=people,dc=h\u212au,dc=hk", parser: hk, want: Name{Kind: OtherDN}},
		{name: "hk suffix", in: "uid=a,ou=people,dc=HKU,dc=hk", parser: hk, want: Name{Person, "a"}},
		{name: "wrong ou", in: "uid=a,ou=staff," + suffix, want: Name{Kind: OtherDN}},
		{name: "uid under services", in: "uid=a,ou=services," + suffix, want: Name{Kind: OtherDN}},
		{name: "mail under people", in: "mail=a@b,ou=people," + suffix, want: Name{Kind: OtherDN}},
		{name: "admin", in: "cn=admin," + suffix, want: Name{Kind: OtherDN}},
		{name: "ou not first", in: "o=people," + suffix, want: Name{Kind: OtherDN}},
		{name: "outside", in: "cn=Directory Manager", want: Name{Kind: OtherDN}},
		{name: "oid type", in: "0.9.2342.19200300.100.1.1=a,ou=people," + suffix, want: Name{Kind: OtherDN}},
		{name: "multi-valued", in: "uid=a+cn=b,ou=people," + suffix, wantErr: true},
		{name: "multi-valued outside", in: "uid=a+cn=b,dc=other", want: Name{Kind: OtherDN}},
		{name: "empty value", in: "uid=,ou=people," + suffix, wantErr: true},
		{name: "blank value", in: "uid= ,ou=people," + suffix, wantErr: true},
		{name: "too long", in: "uid=" + long + "a,ou=people," + suffix, wantErr: true},
		{name: "longest", in: "uid=" + long + ",ou=people," + suffix, want: Name{Person, long}},
		{name: "bare too long", in: long + "a", wantErr: true},
		{name: "NUL escaped", in: `uid=a\00b,ou=people,` + suffix, wantErr: true},
		{name: "NUL raw", in: "uid=a\x00b,ou=people," + suffix, wantErr: true},
		{name: "NUL bare", in: "a\x00b", wantErr: true},
		{name: "newline bare", in: "a\nb", wantErr: true},
		{name: "newline hex", in: `uid=a\0ab,ou=people,` + suffix, wantErr: true},
		{name: "DEL", in: "a\x7f", wantErr: true},
		{name: "C1 control", in: "a\u0085", wantErr: true},
		{name: "bad UTF-8", in: "a\xff", wantErr: true},
		{name: "bad UTF-8 hex", in: `uid=\ff,ou=people,` + suffix, wantErr: true},
		{name: "trailing comma", in: "uid=a,ou=people," + suffix + ",", wantErr: true},
		{name: "missing type", in: "=a,ou=people," + suffix, wantErr: true},
		{name: "bad hex", in: `uid=a\zz,ou=people,` + suffix, wantErr: true},
		{name: "dangling backslash", in: `uid=a\`, wantErr: true},
		{name: "unescaped quote", in: `uid="a",ou=people,` + suffix, wantErr: true},
		{name: "bad type", in: "u id=a,ou=people," + suffix, wantErr: true},
		{name: "bad oid type", in: "1..2=a", wantErr: true},
		{name: "only equals", in: "=", wantErr: true},
		{name: "huge", in: "uid=" + strings.Repeat("a", MaxNameLen), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pp := p
			if tc.parser != nil {
				pp = tc.parser
			}
			got, err := pp.Parse(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse(%q) = %+v, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestBuildRoundTrip: the DN builders escape so that Parse gives back the
// value.
func TestBuildRoundTrip(t *testing.T) {
	p := newTestParser(t, "")
	values := []string{"CU1234567", "a,b", "a+b", "#a", " a", "a ", "  a  ", `a\`, `a\\ `, "a=b", `"q"`, "<x>", "a;b",
		"x)(uid=*", "*", "陳大文", strings.Repeat("z", MaxIDLen)}
	for _, v := range values {
		for _, c := range []struct {
			dn   string
			kind Kind
		}{{p.PersonDN(v), Person}, {p.ServiceDN(v), Service}, {p.GroupDN(v), Group}} {
			got, err := p.Parse(c.dn)
			if err != nil || got != (Name{c.kind, v}) {
				t.Fatalf("Parse(%q) = %+v, %v; want %v %q", c.dn, got, err, c.kind, v)
			}
		}
	}
	if got := p.PersonDN("a,b"); got != `uid=a\,b,ou=people,`+suffix {
		t.Fatalf("PersonDN = %q", got)
	}
	if got := p.ContainerDN(OUPeople); got != "ou=people,"+suffix {
		t.Fatalf("ContainerDN = %q", got)
	}
	if got := EscapeValue("\x01a\x00 "); got != `\01a\00\ ` {
		t.Fatalf("EscapeValue = %q", got)
	}
}

// TestNewParser checks the suffix validation.
func TestNewParser(t *testing.T) {
	for _, s := range []string{"", "dc=a+dc=b", "dc=a,", `dc=\zz`} {
		if _, err := NewParser(s, ""); err == nil {
			t.Fatalf("NewParser(%q) accepted", s)
		}
	}
	// A zero-value Parser with a bad suffix reports it on Parse.
	p := &Parser{Suffix: "dc=a+"}
	if _, err := p.Parse("a"); err == nil {
		t.Fatal("bad suffix not reported")
	}
}

// TestKindString covers Kind.String.
func TestKindString(t *testing.T) {
	if Person.String() != "person" || Kind(99).String() != "kind(99)" {
		t.Fatal(Person.String(), Kind(99).String())
	}
}

// FuzzParse: no panic; errors wrap ErrInvalid; IDs obey the limits; a
// parsed person ID survives PersonDN and Parse again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "uid=CU1234567,ou=people," + suffix, "UID=a, OU=People, DC=Library,DC=example,DC=edu",
		"jchan", "jchan@library.example.edu", `uid=a\2Cb,ou=people,` + suffix, "cn=julac,ou=groups," + suffix,
		"uid=a+cn=b,ou=people," + suffix, "x)(uid=*", "*", `uid=#04026162,ou=people,` + suffix, "ou=people," + suffix} {
		f.Add(s)
	}
	p, err := NewParser(suffix, "library.example.edu")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := p.Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		switch n.Kind {
		case Person, Service, Group:
			if checkID(n.ID) != nil {
				t.Fatalf("bad ID %q accepted", n.ID)
			}
			var dn string
			switch n.Kind {
			case Person:
				dn = p.PersonDN(n.ID)
			case Service:
				dn = p.ServiceDN(n.ID)
			default:
				dn = p.GroupDN(n.ID)
			}
			back, err := p.Parse(dn)
			if err != nil || back != n {
				t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, n, dn, back, err)
			}
		}
	})
}

// BenchmarkParse parses the common DN form.
func BenchmarkParse(b *testing.B) {
	p, err := NewParser(suffix, "library.example.edu")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse("uid=CU1234567,ou=people,dc=library,dc=example,dc=edu"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlainMatchesParseDN: the fast path gives what ldap.ParseDN gives,
// for every name it accepts, and declines the names it must not take.
func TestPlainMatchesParseDN(t *testing.T) {
	p := &Parser{Suffix: "dc=library,dc=example,dc=edu"}
	for _, tc := range []struct {
		name  string
		plain bool // taken by the fast path
	}{
		{"uid=CU1234567,ou=people,dc=library,dc=example,dc=edu", true},
		{"UID=cu1234567,OU=People,DC=Library,DC=Example,DC=Edu", true},
		{"cn=ezproxy,ou=services,dc=library,dc=example,dc=edu", true},
		{"cn=staff,ou=groups,dc=library,dc=example,dc=edu", true},
		{"ou=people,dc=library,dc=example,dc=edu", true},
		{"dc=library,dc=example,dc=edu", true},
		{"uid=a=b,ou=people,dc=library,dc=example,dc=edu", true},
		{"uid=,ou=people,dc=library,dc=example,dc=edu", true},
		{"uid=x,ou=people,dc=other,dc=edu", true},
		{"0.9.2342.19200300.100.1.1=CU1,ou=people,dc=library,dc=example,dc=edu", true},
		{"uid=x,ou=people,dc=library,dc=example,dc=edu,o=a,o=b,o=c", true},
		{"uid=x,ou=people,dc=library,dc=example,dc=edu,o=a,o=b,o=c,o=d", false}, // 9 RDNs
		{"uid=CU1 ,ou=people,dc=library,dc=example,dc=edu", false},
		{"uid = CU1,ou=people,dc=library,dc=example,dc=edu", false},
		{"uid=C\\55,ou=people,dc=library,dc=example,dc=edu", false},
		{"uid=a+cn=b,ou=people,dc=library,dc=example,dc=edu", false},
		{"uid=#04024869,ou=people,dc=library,dc=example,dc=edu", false},
		{"uid=x;ou=people;dc=library,dc=example,dc=edu", false},
		{"uid=\"x\",ou=people,dc=library,dc=example,dc=edu", false},
		{"uid=é,ou=people,dc=library,dc=example,dc=edu", false},
		{"uid=x,,dc=library,dc=example,dc=edu", false},
		{"uid=x,ou=people,dc=library,dc=example,dc=edu,", false},
		{"=x,ou=people,dc=library,dc=example,dc=edu", false},
		{"x)(uid=*,ou=people,dc=library,dc=example,dc=edu", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, plain := splitPlain(tc.name, make([]rdn, 0, 8))
			if plain != tc.plain {
				t.Errorf("fast path took it: %v, want %v", plain, tc.plain)
			}
			got, gotErr := p.Parse(tc.name)
			want, wantErr := p.parseDN(tc.name, nil)
			if got != want || (gotErr == nil) != (wantErr == nil) {
				t.Errorf("Parse = %+v, %v; ParseDN path = %+v, %v", got, gotErr, want, wantErr)
			}
		})
	}
}

// FuzzPlainMatchesParseDN: Parse (fast path when it applies) always
// agrees with the ldap.ParseDN path.
func FuzzPlainMatchesParseDN(f *testing.F) {
	for _, s := range []string{
		"uid=CU1234567,ou=people,dc=library,dc=example,dc=edu",
		"cn=a=b,ou=services,dc=library,dc=example,dc=edu",
		"uid=x,,dc=library", "1.2=x,ou=groups,dc=library,dc=example,dc=edu",
	} {
		f.Add(s)
	}
	p := &Parser{Suffix: "dc=library,dc=example,dc=edu"}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || len(name) > MaxNameLen || !strings.Contains(name, "=") {
			return
		}
		got, gotErr := p.Parse(name)
		want, wantErr := p.parseDN(name, nil)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%q: Parse = %+v, %v; ParseDN path = %+v, %v", name, got, gotErr, want, wantErr)
		}
	})
}

// BenchmarkParseEscaped parses a DN that needs ldap.ParseDN (an escape in
// the value), the slow path.
func BenchmarkParseEscaped(b *testing.B) {
	p, err := NewParser(suffix, "library.example.edu")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(`uid=CU123456\37,ou=people,dc=library,dc=example,dc=edu`); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIDSharesNothingWithTheName: the ID Parse returns never points into
// the name it was given, in each of its paths (bare ID, UPN, the plain DN
// fast path, ldap.ParseDN): the proxy's bind name shares the request's
// buffer, and the ID is kept (cache keys, throttle, the identity).
func TestIDSharesNothingWithTheName(t *testing.T) {
	p := newTestParser(t, "library.example.edu")
	for _, in := range []string{
		"CU1234567",
		"jchan@library.example.edu",
		"uid=CU1234567,ou=people," + suffix,
		"uid=CU1234567, ou=people, " + suffix,
	} {
		n, err := p.Parse(in)
		if err != nil || n.Kind != Person || n.ID == "" {
			t.Fatalf("%q: %+v, %v", in, n, err)
		}
		start := uintptr(unsafe.Pointer(unsafe.StringData(in)))
		id := uintptr(unsafe.Pointer(unsafe.StringData(n.ID)))
		if id >= start && id < start+uintptr(len(in)) {
			t.Errorf("%q: the ID %q points into the name", in, n.ID)
		}
	}
}
