package pinstore

import (
	"fmt"
	"strings"
	"time"
)

// CSV columns of Import and Export. id is required; the others optional.
// The brief's set is id,name,email,category,institution,active_from,
// expires,status,pin_hash,must_change; uuid, given_name, surname and
// superseded_by are added so that export -> import round-trips.
var csvColumns = []string{
	"id", "uuid", "name", "given_name", "surname", "email", "category", "institution",
	"active_from", "expires", "status", "superseded_by", "pin_hash", "must_change",
}

func knownColumn(c string) bool {
	for _, k := range csvColumns {
		if k == c {
			return true
		}
	}
	return false
}

// parseDate reads YYYY-MM-DD (midnight in loc) or an RFC 3339 timestamp;
// "" is the zero time.
func parseDate(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
}

// formatDate writes YYYY-MM-DD when t is midnight in loc, else RFC 3339.
func formatDate(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	lt := t.In(loc)
	if lt.Hour() == 0 && lt.Minute() == 0 && lt.Second() == 0 && lt.Nanosecond() == 0 {
		return lt.Format(time.DateOnly)
	}
	return lt.Format(time.RFC3339Nano)
}

// parseBool reads the must_change cell.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "y", "t":
		return true, nil
	case "0", "false", "no", "n", "f":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true/false", s)
}
