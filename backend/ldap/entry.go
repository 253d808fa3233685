package ldapbackend

import (
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
)

// uuidNamespace is the UUIDv5 namespace of fallbackUUID.
var uuidNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/bindery/bindery/backend/ldap"))

// fallbackUUID is a stable UUID for an entry without UUIDAttribute: a
// name-based UUIDv5 of the backend name and the login ID.
func fallbackUUID(name, id string) string {
	return uuid.NewSHA1(uuidNamespace, []byte(name+"\x00"+id)).String()
}

// toEntry maps an upstream entry to the virtual one. The upstream DN is
// never exposed. Only the first value of the single-valued fields is used;
// Extra attributes keep every value. Category is employeeType as mapped,
// left empty when the upstream has none (the route's config may default it).
func (b *Backend) toEntry(id string, e *ldap.Entry) *backend.Entry {
	out := &backend.Entry{ID: id}
	for virt, up := range b.s.attrs {
		vals := e.GetEqualFoldAttributeValues(up)
		if len(vals) == 0 {
			continue
		}
		switch strings.ToLower(virt) {
		case "cn":
			out.CommonName = vals[0]
		case "sn":
			out.Surname = vals[0]
		case "givenname":
			out.GivenName = vals[0]
		case "mail":
			out.Mail = vals[0]
		case "employeetype":
			out.Category = vals[0]
		case "o":
			out.Institution = vals[0]
		default:
			if out.Extra == nil {
				out.Extra = map[string][]string{}
			}
			out.Extra[virt] = append([]string(nil), vals...)
		}
	}
	out.UUID = formatUUID(b.s.UUIDAttribute, e.GetEqualFoldRawAttributeValue(b.s.UUIDAttribute))
	if out.UUID == "" {
		out.UUID = fallbackUUID(b.s.Name, id)
	}
	out.Created = parseGeneralizedTime(e.GetEqualFoldAttributeValue("createTimestamp"))
	out.Modified = parseGeneralizedTime(e.GetEqualFoldAttributeValue("modifyTimestamp"))
	return out
}

// formatUUID renders a UUID attribute value: text as is (lower-cased), or
// 16 raw bytes as a UUID (Active Directory's objectGUID stores its first
// three fields little-endian). Anything else gives "".
func formatUUID(attr string, raw []byte) string {
	if len(raw) == 16 {
		var u uuid.UUID
		copy(u[:], raw)
		if strings.EqualFold(attr, "objectGUID") {
			u[0], u[1], u[2], u[3] = raw[3], raw[2], raw[1], raw[0]
			u[4], u[5] = raw[5], raw[4]
			u[6], u[7] = raw[7], raw[6]
		}
		return u.String()
	}
	if u, err := uuid.ParseBytes(raw); err == nil {
		return u.String()
	}
	return ""
}

// parseGeneralizedTime parses the common forms of LDAP GeneralizedTime
// ("20240131120000Z", AD's "20240131120000.0Z"); zero on failure.
func parseGeneralizedTime(s string) time.Time {
	for _, layout := range []string{"20060102150405Z", "20060102150405.0Z", "20060102150405.000000Z", "20060102150405Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
