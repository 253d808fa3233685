package pinstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/bindery/bindery/backend"
)

// Search page sizes.
const (
	DefaultSearchPage = 500
	MaxSearchPage     = 5000
)

var _ backend.Searcher = (*Store)(nil)

// Search lists patrons matching q.Filter (backend.Searcher): the filter is
// translated into a parameterised SQL condition, rows come in id order with
// keyset pagination (the cursor is the last id returned), at most PageSize
// rows per call, so no call ever loads the whole table. Superseded card
// numbers are never listed (as Lookup). Where a virtual attribute cannot be
// computed in SQL exactly (sn and givenName split from the full name), the
// condition errs towards "maybe" and the caller's own check decides.
func (s *Store) Search(ctx context.Context, q backend.Query) (backend.Page, error) {
	size := q.PageSize
	if size <= 0 {
		size = DefaultSearchPage
	}
	size = min(size, MaxSearchPage)
	query, args := searchQuery(q.Filter, q.Cursor, size)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return backend.Page{}, s.dbErr("search", err)
	}
	defer rows.Close()
	var page backend.Page
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return backend.Page{}, s.dbErr("search", err)
		}
		page.Entries = append(page.Entries, r.entry())
	}
	if err := rows.Err(); err != nil {
		return backend.Page{}, s.dbErr("search", err)
	}
	if len(page.Entries) == size {
		page.Cursor = page.Entries[size-1].ID
	}
	return page, nil
}

// searchQuery builds the SELECT of one page: the translated filter, the
// keyset condition and the limit; every value is a placeholder argument.
func searchQuery(f *backend.Filter, after string, limit int) (string, []any) {
	t := &sqlFilter{}
	cond := t.translate(f, true, 0)
	where := []string{"status <> 'superseded'", cond}
	if after != "" {
		where = append(where, "id > "+t.arg(after))
	}
	q := `SELECT ` + patronCols + ` FROM patrons WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY id LIMIT ` + t.arg(limit)
	return q, t.args
}

// sqlFilter accumulates the arguments of a translated filter.
type sqlFilter struct{ args []any }

func (t *sqlFilter) arg(v any) string {
	t.args = append(t.args, v)
	return "$" + strconv.Itoa(len(t.args))
}

const (
	sqlTrue  = "1=1"
	sqlFalse = "1=0"
)

// cnExpr computes cn as Patron.entry does: the name, else given name and
// surname, else the ID.
const cnExpr = `(CASE WHEN name <> '' THEN name ` +
	`WHEN trim(given_name || ' ' || surname) <> '' THEN trim(given_name || ' ' || surname) ELSE id END)`

// namesKnown: given name and surname come from their columns, not from
// splitting the full name (which SQL cannot do the way splitName does).
const namesKnown = `(given_name <> '' OR surname <> '')`

// column is how one virtual attribute is computed in SQL: expr always
// gives its value ("" = absent) when known holds; otherwise the value is
// not computable in SQL. constant, when set, is the attribute's fixed
// value set (objectClass).
type column struct {
	expr     string
	known    string // "" = always known
	constant []string
}

// columns maps lower-case virtual attribute names to SQL.
var columns = map[string]column{
	"uid":            {expr: "id"},
	"employeenumber": {expr: "id"},
	"cn":             {expr: cnExpr},
	"mail":           {expr: "email"},
	"employeetype":   {expr: "category"},
	"o":              {expr: "institution"},
	"entryuuid":      {expr: "uuid"},
	"givenname":      {expr: "given_name", known: namesKnown},
	"sn":             {expr: "(CASE WHEN surname <> '' THEN surname ELSE " + cnExpr + " END)", known: namesKnown},
	"objectclass":    {constant: backend.PersonObjectClasses},
	// Computed outside SQL: always "maybe".
	"createtimestamp": {known: sqlFalse},
	"modifytimestamp": {known: sqlFalse},
	"memberof":        {known: sqlFalse}, // the proxy rewrites memberOf into employeeType
}

// translate returns an SQL condition for f. sup=true: a condition that
// holds for every matching row (and maybe others); sup=false: one that
// holds only for matching rows. Negation swaps the two, so a filter of any
// shape stays a superset at the top. Attributes a patron never has are
// exactly absent.
func (t *sqlFilter) translate(f *backend.Filter, sup bool, depth int) string {
	if f == nil {
		return sqlTrue
	}
	if depth > 64 {
		return maybe(sup)
	}
	switch f.Op {
	case backend.FilterAnd, backend.FilterOr:
		if len(f.Children) == 0 {
			if f.Op == backend.FilterAnd {
				return sqlTrue
			}
			return sqlFalse
		}
		parts := make([]string, len(f.Children))
		for i, c := range f.Children {
			parts[i] = t.translate(c, sup, depth+1)
		}
		sep := " AND "
		if f.Op == backend.FilterOr {
			sep = " OR "
		}
		return "(" + strings.Join(parts, sep) + ")"
	case backend.FilterNot:
		if len(f.Children) != 1 {
			return maybe(sup)
		}
		return "(NOT " + t.translate(f.Children[0], !sup, depth+1) + ")"
	}
	col, ok := columns[strings.ToLower(f.Attr)]
	if !ok {
		return sqlFalse // no patron has this attribute
	}
	if col.constant != nil {
		return constantMatch(f, col.constant, sup)
	}
	if strings.ContainsRune(f.Value+f.Initial+f.Final+strings.Join(f.Any, ""), 0) {
		return sqlFalse // no stored text holds NUL (PostgreSQL cannot even take it as an argument)
	}
	var cond string
	switch f.Op {
	case backend.FilterEqual:
		if f.Value == "" {
			return sqlFalse
		}
		cond = "lower(" + col.expr + ") = " + t.arg(asciiLower(f.Value))
	case backend.FilterPresent:
		cond = col.expr + " <> ''"
	case backend.FilterSubstring:
		cond = "lower(" + col.expr + ") LIKE " + t.arg(likePattern(f)) + ` ESCAPE '\'`
	default:
		return maybe(sup)
	}
	switch {
	case col.known == "":
		return cond
	case col.known == sqlFalse:
		return maybe(sup)
	case sup:
		return "((" + col.known + " AND " + cond + ") OR NOT " + col.known + ")"
	default:
		return "(" + col.known + " AND " + cond + ")"
	}
}

// maybe is the condition for "cannot tell": true in a superset, false in a
// subset.
func maybe(sup bool) string {
	if sup {
		return sqlTrue
	}
	return sqlFalse
}

// constantMatch evaluates a leaf on an attribute whose values are the same
// for every patron (objectClass).
func constantMatch(f *backend.Filter, values []string, sup bool) string {
	match, decided := backend.MatchConstant(f, values)
	switch {
	case !decided:
		return maybe(sup)
	case match:
		return sqlTrue
	}
	return sqlFalse
}

// likePattern is the LIKE pattern of a substring filter, lower-cased, with
// the LIKE metacharacters of the values escaped (ESCAPE '\').
func likePattern(f *backend.Filter) string {
	var b strings.Builder
	b.WriteString(likeEscape(asciiLower(f.Initial)))
	b.WriteByte('%')
	for _, a := range f.Any {
		b.WriteString(likeEscape(asciiLower(a)))
		b.WriteByte('%')
	}
	b.WriteString(likeEscape(asciiLower(f.Final)))
	return b.String()
}

// likeEscape escapes \, % and _ for a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// asciiLower lower-cases A-Z only, as SQLite's lower() does, so that both
// sides of a comparison are folded alike.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
