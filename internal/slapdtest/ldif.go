package slapdtest

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"
)

// BaseDN is the suffix of every test server.
const BaseDN = "dc=example,dc=org"

// PeopleDN is the container PeopleLDIF fills.
const PeopleDN = "ou=people," + BaseDN

// User is one person for PeopleLDIF and UserLDIF. Empty CN and SN default to
// the UID (both are required by the person object class); empty optional
// attributes are left out of the entry.
type User struct {
	UID          string
	CN           string
	SN           string
	GivenName    string
	Mail         string
	EmployeeType string
	Password     string // stored as {SSHA}; empty: no userPassword
}

// SSHA returns the OpenLDAP "{SSHA}" hash of secret with a random 8-byte
// salt, as `slappasswd -h '{SSHA}'` would.
func SSHA(secret string) string {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		panic(fmt.Sprintf("slapdtest: ssha: %v", err)) // crypto/rand never fails on Linux
	}
	h := sha1.New()
	h.Write([]byte(secret))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// baseLDIF is the suffix entry, loaded before Options.LDIF.
func baseLDIF() string {
	return "dn: " + BaseDN + "\n" +
		"objectClass: top\nobjectClass: dcObject\nobjectClass: organization\n" +
		"dc: example\no: Example\n\n"
}

// OULDIF returns an organizationalUnit entry ou=<ou>,<parent>.
func OULDIF(ou, parent string) string {
	return "dn: ou=" + ou + "," + parent + "\n" +
		"objectClass: top\nobjectClass: organizationalUnit\n" +
		"ou: " + ou + "\n\n"
}

// UserLDIF returns one inetOrgPerson entry uid=<UID>,<parent>.
func UserLDIF(parent string, u User) string {
	cn, sn := u.CN, u.SN
	if cn == "" {
		cn = u.UID
	}
	if sn == "" {
		sn = u.UID
	}
	var b strings.Builder
	line := func(attr, value string) {
		if value == "" {
			return
		}
		if needsBase64(value) {
			b.WriteString(attr + ":: " + base64.StdEncoding.EncodeToString([]byte(value)) + "\n")
			return
		}
		b.WriteString(attr + ": " + value + "\n")
	}
	line("dn", "uid="+u.UID+","+parent)
	b.WriteString("objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\n")
	line("uid", u.UID)
	line("cn", cn)
	line("sn", sn)
	line("givenName", u.GivenName)
	line("mail", u.Mail)
	line("employeeType", u.EmployeeType)
	if u.Password != "" {
		line("userPassword", SSHA(u.Password))
	}
	b.WriteString("\n")
	return b.String()
}

// PeopleLDIF returns the ou=people,dc=example,dc=org entry followed by one
// entry per user under it. Pass the result as Options.LDIF (concatenate
// further entries as needed, but only one PeopleLDIF: it creates ou=people).
func PeopleLDIF(users []User) string {
	var b strings.Builder
	b.WriteString(OULDIF("people", BaseDN))
	for _, u := range users {
		b.WriteString(UserLDIF(PeopleDN, u))
	}
	return b.String()
}

// needsBase64 reports whether an LDIF value must be written with "::"
// (RFC 2849 SAFE-STRING rules).
func needsBase64(v string) bool {
	if v == "" {
		return false
	}
	if v[0] == ' ' || v[0] == ':' || v[0] == '<' || v[len(v)-1] == ' ' {
		return true
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == 0 || c == '\n' || c == '\r' || c > 0x7f {
			return true
		}
	}
	return false
}
