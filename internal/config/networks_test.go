package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestProxyNetworks(t *testing.T) {
	withServer := func(line string) string {
		return strings.Replace(base, "[server]\n", "[server]\n"+line+"\n", 1)
	}
	cfg, err := Parse([]byte(withServer(`proxy_protocol_from = ["10.0.0.0/8", "192.0.2.7", "2001:db8::1/32"]`) +
		"[web]\ntrusted_proxies = [\"127.0.0.1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(cfg.Server.ProxyProtocolFrom.Prefixes()); got != "[10.0.0.0/8 192.0.2.7/32 2001:db8::/32]" {
		t.Errorf("proxy_protocol_from = %s", got)
	}
	if got := fmt.Sprint(cfg.Web.TrustedProxies.Prefixes()); got != "[127.0.0.1/32]" {
		t.Errorf("trusted_proxies = %s", got)
	}
	_, err = Parse([]byte(withServer(`proxy_protocol_from = ["10.0.0.0/33", "lb.example.edu"]`) + "[web]\ntrusted_proxies = [\"\"]\n"))
	for _, want := range []string{
		`server.proxy_protocol_from[0]: "10.0.0.0/33" is not an address or CIDR prefix`,
		`server.proxy_protocol_from[1]: "lb.example.edu" is not an address or CIDR prefix`,
		`web.trusted_proxies[0]: "" is not an address or CIDR prefix`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestPlaceholdersAreRefused(t *testing.T) {
	text := strings.Replace(base, `suffix = "dc=library,dc=example,dc=edu"`, `suffix = "CHANGE-ME: e.g. dc=library,dc=example,dc=edu"`, 1) +
		"\n[[service_account]]\nname = \"gw\"\npassword_hash = \"CHANGE-ME: binderyctl hash\"\n"
	_, err := Parse([]byte(text))
	for _, want := range []string{
		`server.suffix: still the template's placeholder "CHANGE-ME: e.g. dc=library,dc=example,dc=edu": fill it in`,
		`service_account[1].password_hash: still the template's placeholder "CHANGE-ME: binderyctl hash": fill it in`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
