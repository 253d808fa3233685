package slapdtest

import (
	"fmt"
	"strings"
)

// Fixed locations of the Debian slapd package.
const (
	schemaDir  = "/etc/ldap/schema"
	moduleDir  = "/usr/lib/ldap"
	adminDN    = "cn=admin," + BaseDN
	defaultPwd = "admin-secret"
)

// schemas are included in this order (each depends on the previous ones).
var schemas = []string{"core", "cosine", "nis", "inetorgperson"}

// confParams is what slapdConf needs to know.
type confParams struct {
	dir           string
	rootPWHash    string
	certFile      string // empty: no TLS
	keyFile       string
	extraGlobal   string
	extraDatabase string
}

// slapdConf renders an old-style slapd.conf for one throwaway server.
func slapdConf(p confParams) string {
	var b strings.Builder
	for _, s := range schemas {
		fmt.Fprintf(&b, "include %s/%s.schema\n", schemaDir, s)
	}
	fmt.Fprintf(&b, "pidfile %q\n", p.dir+"/slapd.pid")
	fmt.Fprintf(&b, "argsfile %q\n", p.dir+"/slapd.args")
	fmt.Fprintf(&b, "modulepath %s\n", moduleDir)
	b.WriteString("moduleload back_mdb\n")
	b.WriteString("loglevel none\n")
	if p.certFile != "" {
		fmt.Fprintf(&b, "TLSCertificateFile %q\n", p.certFile)
		fmt.Fprintf(&b, "TLSCertificateKeyFile %q\n", p.keyFile)
	}
	if p.extraGlobal != "" {
		b.WriteString(strings.TrimRight(p.extraGlobal, "\n") + "\n")
	}
	b.WriteString("\ndatabase mdb\n")
	b.WriteString("maxsize 104857600\n")
	fmt.Fprintf(&b, "suffix %q\n", BaseDN)
	fmt.Fprintf(&b, "rootdn %q\n", adminDN)
	fmt.Fprintf(&b, "rootpw %s\n", p.rootPWHash)
	fmt.Fprintf(&b, "directory %q\n", p.dir+"/db")
	b.WriteString("index objectClass,uid eq\n")
	b.WriteString("access to attrs=userPassword by self write by anonymous auth by * none\n")
	b.WriteString("access to * by * read\n")
	if p.extraDatabase != "" {
		b.WriteString(strings.TrimRight(p.extraDatabase, "\n") + "\n")
	}
	return b.String()
}
