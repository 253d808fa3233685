package config

import (
	"net"
	"strconv"

	"github.com/go-ldap/ldap/v3"
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
