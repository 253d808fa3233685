package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/bindery/bindery/backend"
	ldapbackend "github.com/bindery/bindery/backend/ldap"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/backend/static"
)

// Backend is one [backend.NAME] table: its type, and the rest of the table
// decoded into the configuration that type's package declares.
type Backend struct {
	Type   string
	Config BackendConfig // nil when Type is missing or unknown
}

// BackendConfig is what a backend package declares for its tables: the
// keys (toml tags), the defaults (in the value the registry makes) and a
// Validate that joins one error per problem, each starting with its key
// relative to the table (e.g. "urls[0]: ...").
type BackendConfig interface {
	Validate() error
}

// backendType is one entry of the registry: how to make a type's
// configuration with its defaults, and how to open a backend from it.
type backendType struct {
	newConfig func() BackendConfig
	open      func(ctx context.Context, env openEnv, cfg BackendConfig) (backend.Authenticator, error)
}

// backendTypes is the registry: every type a [backend.NAME] table may name.
var backendTypes = map[string]backendType{
	"ldap":     {func() BackendConfig { return ldapbackend.NewConfig() }, openLDAP},
	"pinstore": {func() BackendConfig { return &pinstore.Config{} }, openPINStore},
	"static":   {func() BackendConfig { return &static.Config{} }, openStatic},
}

func typeNames() string {
	names := make([]string, 0, len(backendTypes))
	for n := range backendTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// LDAP is the table's configuration when it is of type ldap, else nil.
func (b *Backend) LDAP() *ldapbackend.Config {
	c, _ := b.Config.(*ldapbackend.Config)
	return c
}

// PINStore is the table's configuration when it is of type pinstore, else nil.
func (b *Backend) PINStore() *pinstore.Config {
	c, _ := b.Config.(*pinstore.Config)
	return c
}

// Static is the table's configuration when it is of type static, else nil.
func (b *Backend) Static() *static.Config {
	c, _ := b.Config.(*static.Config)
	return c
}

// decodeBackends decodes each [backend.NAME] table by its type.
func (c *Config) decodeBackends(md *toml.MetaData, tables map[string]toml.Primitive) Problems {
	var p Problems
	c.Backends = make(map[string]*Backend, len(tables))
	for _, name := range sortedKeys(tables) {
		key := "backend." + name
		b := &Backend{}
		c.Backends[name] = b
		var table map[string]any
		if err := md.PrimitiveDecode(tables[name], &table); err != nil {
			p.add("%s: not a table ([backend.%s] with a type)", key, name)
			continue
		}
		b.Type, _ = table["type"].(string)
		t, ok := backendTypes[b.Type]
		if !ok {
			if b.Type == "" {
				p.add("%s.type: required (%s)", key, typeNames())
			} else {
				p.add("%s.type: %q is not one of %s", key, b.Type, typeNames())
			}
			continue
		}
		delete(table, "type")
		var probs Problems
		b.Config, probs = decodeTable(key, b.Type, t, table)
		p = append(p, probs...)
	}
	return p
}

// decodeTable decodes one backend table (without its type) into a new
// configuration of type typ. A value the decoder cannot take (a malformed
// duration, a string for a number) is a problem naming its key, and the
// table is decoded again without that key, so that the configuration's
// Validate still finds every other problem. A key the type does not
// declare is a problem too.
func decodeTable(key, typ string, t backendType, table map[string]any) (BackendConfig, Problems) {
	var p Problems
	for range len(table) + 1 {
		text, err := toml.Marshal(table)
		if err != nil {
			p.add("%s: %v", key, err)
			return nil, p
		}
		bc := t.newConfig()
		md, err := toml.Decode(string(text), bc)
		if err == nil {
			for _, k := range md.Undecoded() {
				p.add("%s.%s: %s", key, k, unknownBackendKey(typ, k[0]))
			}
			return bc, p
		}
		bad, why := decodeErrorKey(err)
		first, _, _ := strings.Cut(bad, ".")
		if table[first] == nil {
			p.add("%s: %v", key, err)
			return nil, p
		}
		p.add("%s.%s: %s", key, bad, why)
		delete(table, first)
	}
	return nil, p
}

// lastKeyRE finds the key in the decoder's type errors, which are plain
// errors ("toml: line 2 (last key "pool_size"): incompatible types...").
var lastKeyRE = regexp.MustCompile(`\(last key "([^"]*)"\): (.*)$`)

// decodeErrorKey is the key a decoding error is about, and why.
func decodeErrorKey(err error) (key, why string) {
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.LastKey != "" {
		return pe.LastKey, pe.Message
	}
	if m := lastKeyRE.FindStringSubmatch(err.Error()); m != nil {
		return m[1], m[2]
	}
	return "", err.Error()
}

// unknownBackendKey words a key a backend type does not declare: foreign
// when another type declares it (a urls in a static table), else unknown.
func unknownBackendKey(typ, k string) string {
	for other, t := range backendTypes {
		if other != typ && declares(t.newConfig(), k) {
			return fmt.Sprintf("not a key of a %q backend", typ)
		}
	}
	return "unknown key"
}

// declares reports whether the struct v points to has a field tagged
// toml:"k".
func declares(v any, k string) bool {
	rt := reflect.TypeOf(v).Elem()
	for i := range rt.NumField() {
		if name, _, _ := strings.Cut(rt.Field(i).Tag.Get("toml"), ","); name == k {
			return true
		}
	}
	return false
}

func (c *Config) validateBackends() Problems {
	var p Problems
	for _, name := range sortedKeys(c.Backends) {
		if b := c.Backends[name]; b.Config != nil {
			p = append(p, keyed("backend."+name, b.Config.Validate())...)
		}
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
