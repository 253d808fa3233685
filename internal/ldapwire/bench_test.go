package ldapwire

import (
	"testing"
)

// BenchmarkDecodeBind decodes a simple bind as go-ldap writes it.
func BenchmarkDecodeBind(b *testing.B) {
	raw := envelope(42, simpleBindOp("uid=CU1234567,ou=people,dc=library,dc=example,dc=edu", "s3cret-PIN#1"))
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSearch decodes a typical search-then-bind look-up.
func BenchmarkDecodeSearch(b *testing.B) {
	raw := clientSeeds(b)["search"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBindResponse encodes a bind response into a reused buffer.
func BenchmarkAppendBindResponse(b *testing.B) {
	buf := make([]byte, 0, 512)
	r := Result{Code: 49, DiagnosticMessage: "Invalid credentials"}
	ctl := []Control{PpolicyResponseControl(PpolicyChangeAfterReset, -1, -1)}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBindResponse(buf[:0], 12345, r, ctl)
	}
}

// BenchmarkAppendSearchEntry encodes an entry like the people entries.
func BenchmarkAppendSearchEntry(b *testing.B) {
	buf := make([]byte, 0, 4096)
	attrs := []Attribute{
		{Type: "objectClass", Values: []string{"top", "person", "organizationalPerson", "inetOrgPerson"}},
		{Type: "uid", Values: []string{"CU1234567"}},
		{Type: "cn", Values: []string{"Chan Tai Man"}},
		{Type: "mail", Values: []string{"chan@example.edu"}},
		{Type: "memberOf", Values: []string{"cn=julac,ou=groups,dc=library,dc=example,dc=edu"}},
	}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendSearchEntry(buf[:0], 7, "uid=CU1234567,ou=people,dc=library,dc=example,dc=edu", attrs, nil)
	}
}
