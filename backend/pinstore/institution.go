package pinstore

import "strings"

// julac lists the JULAC card prefixes, longest first so CITYU wins over CU.
var julac = []struct{ prefix, name string }{
	{"CITYU", "City University of Hong Kong"},
	{"EDU", "The Education University of Hong Kong"},
	{"UST", "Hong Kong University of Science and Technology"},
	{"BU", "Hong Kong Baptist University"},
	{"CU", "The Chinese University of Hong Kong"},
	{"LU", "Lingnan University"},
	{"PU", "The Hong Kong Polytechnic University"},
}

// InstitutionFor returns the institution a JULAC card ID belongs to by its
// prefix (case-insensitive; the prefix must be followed by a digit), or ""
// when the ID has no JULAC prefix. AddPatron and Import use it when the
// institution is empty.
func InstitutionFor(id string) string {
	up := strings.ToUpper(id)
	for _, j := range julac {
		rest, ok := strings.CutPrefix(up, j.prefix)
		if ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return j.name
		}
	}
	return ""
}
