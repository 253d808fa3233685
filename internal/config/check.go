package config

import (
	"fmt"
	"net"
	"strconv"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/passhash"
)

func validDN(s string) bool {
	_, err := ldap.ParseDN(s)
	return err == nil
}

func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_ = host
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

func checkFilter(f string) error {
	if _, err := ldap.CompileFilter(f); err != nil {
		return fmt.Errorf("not a valid LDAP filter: %v", err)
	}
	return nil
}

func checkHash(h string) error {
	return passhash.Check(h)
}
