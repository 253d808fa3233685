package passhash

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"
)

// cheap keeps the suite fast; DefaultParams is exercised once.
var cheap = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// Fixtures made once with slappasswd (OpenLDAP 2.5/2.6, -s secret),
// openssl passwd, the argon2 reference CLI and golang.org/x/crypto/bcrypt.
var fixtures = []struct {
	name    string
	encoded string
	secret  string
}{
	{"argon2id reference CLI", "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo", "password"},
	{"argon2id default params", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$6G4RVhNf4sYzxbGJQzsImNwnF3BnniV+nogjylwdjiA", "secret"},
	{"SSHA slappasswd", "{SSHA}0wwR31ayHNuhkChV2X6CHG3+dskdYXzP", "secret"},
	{"SSHA slappasswd 2", "{SSHA}/LfyMNzwvlBaCcNgHdL0of92lkEy7qbL", "secret"},
	{"ssha lower-case scheme", "{ssha}CLL9J3nqN9+ovGzG2OJUGEkTsn7ZXCh4", "secret"},
	{"SHA slappasswd", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret"},
	{"SMD5 slappasswd", "{SMD5}7GBbKyQvGTGHCvE4Oo0OGREYeI0=", "secret"},
	{"MD5 slappasswd", "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "secret"},
	{"SSHA256 pw-sha2", "{SSHA256}kkFbK0jhuDajHKJDoqAN3yZwuYwKO0Ozhe7+Cvv50RbxVSjsLeJ3uA==", "secret"},
	{"SSHA512 pw-sha2", "{SSHA512}HLOdOn3tM5neobr2wt5r0HPpjrrFZXtEPU2IFWXtfzAR7tAMbYghXFBeq9dfVJo1fruspm3KNnJDQ72khUnC8IRdqNOIeZqQ", "secret"},
	{"SHA256 pw-sha2", "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", "secret"},
	{"SHA512 pw-sha2", "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==", "secret"},
	{"CRYPT $6$ slappasswd", "{CRYPT}$6$5s2G2zYs9aOS5gC9$14.6VUchVnj3WiDRWgzx5OomxrsFjOsvtRFn5tYI0aZ6C/41tpX4l1A.tyTve.JxAHkbyfsohwcX8.uP7.3560", "secret"},
	{"CRYPT $5$ slappasswd", "{CRYPT}$5$t1rbNlCBDxfcfN7B$w96HhJ4z7YQQqmYKdiCgJ.FI8V18F9Qo3e2ctqxGnJ1", "secret"},
	{"CRYPT $1$ slappasswd", "{CRYPT}$1$vEkfsAvj$OEFPfS/wAPgeI3jlhoAxl0", "secret"},
	{"crypt $6$ spec vector", "{crypt}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!"},
	{"crypt $5$ spec vector", "{CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!"},
	{"crypt $6$ rounds", "{CRYPT}$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.", "Hello world!"},
	{"crypt $5$ rounds", "{CRYPT}$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA", "Hello world!"},
	{"bare $1$ openssl", "$1$saltstr$2v0xBJ/TLP2HGP.WwPB8M.", "secret"},
	{"bcrypt $2a$", "$2a$04$rSwL/NUtrG5NiiJBLB7DHeaDMPOr/Djhr6/pR6aGUmR3Z93oJLf2a", "secret"},
	{"bcrypt $2b$", "$2b$04$rSwL/NUtrG5NiiJBLB7DHeaDMPOr/Djhr6/pR6aGUmR3Z93oJLf2a", "secret"},
	{"bcrypt $2y$", "$2y$04$rSwL/NUtrG5NiiJBLB7DHeaDMPOr/Djhr6/pR6aGUmR3Z93oJLf2a", "secret"},
}

func TestFixtures(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			if err := Check(f.encoded); err != nil {
				t.Fatalf("Check: %v", err)
			}
			ok, rehash, err := Verify(f.encoded, f.secret)
			if err != nil || !ok {
				t.Fatalf("Verify right secret = %v, %v, %v; want ok", ok, rehash, err)
			}
			wantRehash := f.name != "argon2id default params"
			if rehash != wantRehash {
				t.Errorf("needsRehash = %v, want %v", rehash, wantRehash)
			}
			for _, wrong := range []string{"Secret", f.secret + "x", "", strings.Repeat("a", 100)} {
				ok, rehash, err := Verify(f.encoded, wrong)
				if err != nil || ok || rehash {
					t.Errorf("Verify(%q) = %v, %v, %v; want false, false, nil", wrong, ok, rehash, err)
				}
			}
		})
	}
}

// TestGeneratedDigests builds {SSHA}-style values with the standard library
// so the digest layout (digest then salt) is checked independently.
func TestGeneratedDigests(t *testing.T) {
	salt := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	secret := "Library#2026"
	mk := func(scheme string, sum []byte, salt []byte) string {
		return "{" + scheme + "}" + base64.StdEncoding.EncodeToString(append(sum, salt...))
	}
	s1 := sha1.Sum(append([]byte(secret), salt...))
	s256 := sha256.Sum256(append([]byte(secret), salt...))
	s512 := sha512.Sum512(append([]byte(secret), salt...))
	p1 := sha1.Sum([]byte(secret))
	cases := []string{
		mk("SSHA", s1[:], salt),
		mk("SSHA256", s256[:], salt),
		mk("SSHA512", s512[:], salt),
		mk("SHA", p1[:], nil),
		strings.TrimRight(mk("SSHA", s1[:], salt), "="), // unpadded
	}
	for _, enc := range cases {
		ok, rehash, err := Verify(enc, secret)
		if !ok || !rehash || err != nil {
			t.Errorf("Verify(%s) = %v, %v, %v; want true, true, nil", enc, ok, rehash, err)
		}
	}
}

func TestHashRoundTrip(t *testing.T) {
	enc, err := Hash("Library#2026", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("Hash = %q", enc)
	}
	parts := strings.Split(enc, "$")
	if len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Errorf("salt/hash segment lengths %d/%d, want 22/43 (16/32 bytes, no padding)", len(parts[4]), len(parts[5]))
	}
	if strings.HasSuffix(enc, "=") {
		t.Errorf("padding in %q", enc)
	}
	cases := []struct {
		secret     string
		want       Params
		ok, rehash bool
	}{
		{"Library#2026", cheap, true, false},
		{"Library#2026", DefaultParams, true, true},
		{"Library#2027", cheap, false, false},
		{"", cheap, false, false},
	}
	for _, c := range cases {
		ok, rehash, err := VerifyWith(enc, c.secret, c.want)
		if err != nil || ok != c.ok || rehash != c.rehash {
			t.Errorf("VerifyWith(%q, %v) = %v, %v, %v; want %v, %v, nil", c.secret, c.want, ok, rehash, err, c.ok, c.rehash)
		}
	}
	if NeedsRehash(enc, cheap) || !NeedsRehash(enc, DefaultParams) {
		t.Error("NeedsRehash wrong")
	}
	other, _ := Hash("Library#2026", cheap)
	if other == enc {
		t.Error("two hashes of the same secret are equal: salt not random")
	}
}

func TestDefaultParams(t *testing.T) {
	enc, err := Hash("Library#2026", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash = %q", enc)
	}
	ok, rehash, err := Verify(enc, "Library#2026")
	if !ok || rehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v", ok, rehash, err)
	}
	DummyVerify("anything")
}

func TestMalformed(t *testing.T) {
	cases := []struct {
		encoded string
		want    error
	}{
		{"", ErrMalformed},
		{"secret", ErrUnsupported},
		{"Library#2026", ErrUnsupported},
		{"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ", ErrMalformed},
		{"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrUnsupported},
		{"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrUnsupported},
		{"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrMalformed},
		{"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrMalformed},
		{"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrMalformed},
		{"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ErrMalformed},
		{"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA", ErrMalformed},
		{"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFz", ErrMalformed},
		{"$2a$04$short", ErrMalformed},
		{"$2a$99$rSwL/NUtrG5NiiJBLB7DHeaDMPOr/Djhr6/pR6aGUmR3Z93oJLf2a", ErrMalformed},
		{"{SSHA}not base64!", ErrMalformed},
		{"{SSHA}0wwR31ayHNuhkChV2X6CHG3+dsk=", ErrMalformed}, // 20 bytes: no salt
		{"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ9", ErrMalformed},  // 21+ bytes
		{"{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ=", ErrUnsupported},
		{"{CLEARTEXT}secret", ErrUnsupported},
		{"{}x", ErrMalformed},
		{"{SSHA", ErrMalformed},
		{"{CRYPT}abJnggxhB/yWI", ErrUnsupported},            // DES
		{"{CRYPT}$y$j9T$salt$hashhashhash", ErrUnsupported}, // yescrypt
		{"{CRYPT}$1$salt$tooshort", ErrMalformed},
		{"{CRYPT}$6$salt$" + strings.Repeat("a", 85), ErrMalformed},
		{"{CRYPT}$6$rounds=x$salt$" + strings.Repeat("a", 86), ErrMalformed},
		{"{CRYPT}$5$salt$" + strings.Repeat("!", 43), ErrMalformed},
		{"$7$whatever", ErrUnsupported},
	}
	for _, c := range cases {
		err := Check(c.encoded)
		if !errors.Is(err, c.want) {
			t.Errorf("Check(%q) = %v, want %v", c.encoded, err, c.want)
		}
		ok, rehash, err := Verify(c.encoded, "secret")
		if ok || rehash || !errors.Is(err, c.want) {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, %v", c.encoded, ok, rehash, err, c.want)
		}
	}
}

func TestScheme(t *testing.T) {
	cases := map[string]string{
		fixtures[0].encoded: "argon2id",
		"$2y$04$x":          "bcrypt",
		"{ssha}abc":         "SSHA",
		"{CRYPT}$6$":        "CRYPT",
		"plain":             "",
	}
	for enc, want := range cases {
		if got := Scheme(enc); got != want {
			t.Errorf("Scheme(%q) = %q, want %q", enc, got, want)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	bad := []Params{{}, {MemoryKiB: 64, Iterations: 1}, {MemoryKiB: 4, Iterations: 1, Parallelism: 1}, {MemoryKiB: 64, Iterations: 0, Parallelism: 1}}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("%+v: Validate = nil", p)
		}
		if _, err := Hash("x", p); err == nil {
			t.Errorf("%+v: Hash accepted", p)
		}
	}
	if err := DefaultParams.Validate(); err != nil {
		t.Error(err)
	}
}

func BenchmarkVerifyArgon2idDefault(b *testing.B) {
	enc, err := Hash("Library#2026", DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		Verify(enc, "Library#2026")
	}
}

func BenchmarkDummyVerifyDefault(b *testing.B) {
	for b.Loop() {
		DummyVerify("Library#2026")
	}
}

func BenchmarkVerifySSHA(b *testing.B) {
	for b.Loop() {
		Verify(fixtures[2].encoded, "secret")
	}
}

// BenchmarkDummyVerifyParallel: verifications on every CPU at once, as
// the hashing pool runs them. With -cpu 1,2 it shows whether a second
// worker doubles the throughput (ns/op is per verification overall):
//
//	go test -run x -bench DummyVerifyParallel -cpu 1,2 ./internal/passhash
func BenchmarkDummyVerifyParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			DummyVerify("Library#2026")
		}
	})
}

func TestSetIDKeyRoutesEveryArgon2idDerivation(t *testing.T) {
	p := Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	encoded, err := Hash("1234-right", p)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	SetIDKey(func(secret, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		calls.Add(1)
		return argon2.IDKey(secret, salt, time, memory, threads, keyLen)
	})
	defer SetIDKey(nil)
	if ok, _, err := VerifyWith(encoded, "1234-right", p); !ok || err != nil {
		t.Fatalf("right secret through the set function: %v, %v", ok, err)
	}
	if ok, _, _ := VerifyWith(encoded, "1234-wrong", p); ok {
		t.Fatal("wrong secret accepted")
	}
	DummyVerifyWith("x", p)
	if _, err := Hash("new", p); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("the set function ran %d times, want 4 (verify twice, dummy, hash)", n)
	}
	SetIDKey(nil)
	if ok, _, _ := VerifyWith(encoded, "1234-right", p); !ok || calls.Load() != 4 {
		t.Fatalf("after SetIDKey(nil): ok %v, calls %d", ok, calls.Load())
	}
}
