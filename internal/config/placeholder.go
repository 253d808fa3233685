package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Placeholder marks a value of a template that the administrator must
// fill in (the Debian package's /etc/bindery/bindery.toml): any string
// containing it is refused, naming its key, so that an unedited template
// fails `bindery --check` with a message that says what to do.
const Placeholder = "CHANGE-ME"

// placeholders lists the keys whose string values still hold Placeholder.
func placeholders(text string) Problems {
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return nil // the real decode reports it
	}
	var p Problems
	walkStrings("", raw, func(key, v string) {
		if strings.Contains(v, Placeholder) {
			p = append(p, fmt.Sprintf("%s: still the template's placeholder %q: fill it in", key, v))
		}
	})
	sort.Strings(p)
	return p
}

func walkStrings(key string, v any, fn func(key, v string)) {
	join := func(k string) string {
		if key == "" {
			return k
		}
		return key + "." + k
	}
	switch x := v.(type) {
	case string:
		fn(key, x)
	case map[string]any:
		for k, e := range x {
			walkStrings(join(k), e, fn)
		}
	case []map[string]any:
		for i, e := range x {
			walkStrings(fmt.Sprintf("%s[%d]", key, i), e, fn)
		}
	case []any:
		for i, e := range x {
			walkStrings(fmt.Sprintf("%s[%d]", key, i), e, fn)
		}
	}
}
