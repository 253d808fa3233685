package proxy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/ldapwire"
	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

func TestPasswordModify(t *testing.T) {
	tooShort := &backend.PolicyError{Problems: []backend.PolicyProblem{{Code: "too_short", Message: "at least 10 characters"}}}
	tests := []struct {
		name       string
		bindDN, pw string
		prep       func(e *env)
		req        *ldap.PasswordModifyRequest
		wantCode   int
		wantGen    string
		wantForce  bool
		wantTarget string
	}{
		{name: "self change", bindDN: "CU1234567", pw: "right-pin-123",
			req: ldap.NewPasswordModifyRequest("", "right-pin-123", "brand-new-pin-1"), wantTarget: "CU1234567"},
		{name: "self change naming itself", bindDN: "CU1234567", pw: "right-pin-123",
			req: ldap.NewPasswordModifyRequest(personDN("cu1234567"), "right-pin-123", "brand-new-pin-1"), wantTarget: "CU1234567"},
		{name: "self generated", bindDN: "CU1234567", pw: "right-pin-123", prep: func(e *env) { e.pin.generated = "gen-PIN-0000" },
			req: ldap.NewPasswordModifyRequest("", "right-pin-123", ""), wantGen: "gen-PIN-0000", wantTarget: "CU1234567"},
		{name: "wrong old", bindDN: "CU1234567", pw: "right-pin-123",
			req: ldap.NewPasswordModifyRequest("", "nope", "brand-new-pin-1"), wantCode: 53},
		{name: "missing old", bindDN: "CU1234567", pw: "right-pin-123",
			req: ldap.NewPasswordModifyRequest("", "", "brand-new-pin-1"), wantCode: 53},
		{name: "policy", bindDN: "CU1234567", pw: "right-pin-123", prep: func(e *env) { e.pin.changeErr = tooShort },
			req: ldap.NewPasswordModifyRequest("", "right-pin-123", "short"), wantCode: 19},
		{name: "not permitted", bindDN: "CU1234567", pw: "right-pin-123", prep: func(e *env) { e.pin.changeErr = backend.ErrNotPermitted },
			req: ldap.NewPasswordModifyRequest("", "right-pin-123", "brand-new-pin-1"), wantCode: 50},
		{name: "unavailable", bindDN: "CU1234567", pw: "right-pin-123", prep: func(e *env) { e.pin.changeErr = backend.ErrUnavailable },
			req: ldap.NewPasswordModifyRequest("", "right-pin-123", "brand-new-pin-1"), wantCode: 52},
		{name: "read-only store", bindDN: "CU1234567", pw: "right-pin-123", prep: func(e *env) { e.pin.changeErr = backend.ErrReadOnly },
			req: ldap.NewPasswordModifyRequest("", "right-pin-123", "brand-new-pin-1"), wantCode: 80},
		{name: "person changing another", bindDN: "CU1234567", pw: "right-pin-123",
			req: ldap.NewPasswordModifyRequest(personDN("CITYU5012345"), "other-pin-456", "brand-new-pin-1"), wantCode: 50},
		{name: "service reset", bindDN: serviceDN("ils"), pw: "ils-secret",
			req: ldap.NewPasswordModifyRequest("cu1234567", "", "brand-new-pin-1"), wantForce: true, wantTarget: "CU1234567"},
		{name: "service reset generated", bindDN: serviceDN("ils"), pw: "ils-secret", prep: func(e *env) { e.pin.generated = "gen-PIN-0001" },
			req: ldap.NewPasswordModifyRequest(personDN("CU1234567"), "", ""), wantGen: "gen-PIN-0001", wantForce: true, wantTarget: "CU1234567"},
		{name: "service without CanReset", bindDN: serviceDN("nosearch"), pw: "ns-secret",
			req: ldap.NewPasswordModifyRequest(personDN("CU1234567"), "", "brand-new-pin-1"), wantCode: 50},
		{name: "service own password", bindDN: serviceDN("ils"), pw: "ils-secret",
			req: ldap.NewPasswordModifyRequest("", "ils-secret", "x"), wantCode: 53},
		{name: "campus backend cannot change", bindDN: "jchan", pw: "portal-pw",
			req: ldap.NewPasswordModifyRequest("", "portal-pw", "brand-new-pin-1"), wantCode: 53},
		{name: "unknown target", bindDN: serviceDN("ils"), pw: "ils-secret",
			req: ldap.NewPasswordModifyRequest("CU7654321", "", "brand-new-pin-1"), wantCode: 32},
		{name: "anonymous", req: ldap.NewPasswordModifyRequest(personDN("CU1234567"), "right-pin-123", "brand-new-pin-1"), wantCode: 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tc.prep != nil {
				tc.prep(e)
			}
			c := e.dial()
			if tc.bindDN != "" {
				if err := c.Bind(tc.bindDN, tc.pw); err != nil {
					t.Fatal(err)
				}
			}
			res, err := c.PasswordModify(tc.req)
			if code(err) != tc.wantCode {
				t.Fatalf("code %d (%v), want %d", code(err), err, tc.wantCode)
			}
			if err != nil {
				return
			}
			if res.GeneratedPassword != tc.wantGen {
				t.Errorf("generated %q, want %q", res.GeneratedPassword, tc.wantGen)
			}
			last := e.pin.lastChange
			if last.ID != tc.wantTarget || last.Force != tc.wantForce || last.MustChange {
				t.Errorf("change request %+v", last)
			}
			// The operator is the DN the connection is bound as (a bare
			// ID binds as its person DN, normalised by the route).
			wantOp := tc.bindDN
			if !strings.Contains(wantOp, "=") {
				wantOp = personDN(strings.ToUpper(wantOp))
			}
			if last.Operator != wantOp || last.ClientAddr == "" {
				t.Errorf("operator %q (want %q) or no client address: %+v", last.Operator, wantOp, last)
			}
		})
	}
}

// TestPasswordModifyPpolicyErrors checks the ppolicy error sent with 19 and
// with a missing old password, through a raw connection (go-ldap's
// PasswordModify does not return response controls).
func TestPasswordModifyPpolicyErrors(t *testing.T) {
	tests := []struct {
		name      string
		changeErr error
		old       string
		wantCode  int
		wantPP    int
	}{
		{"too short", &backend.PolicyError{Problems: []backend.PolicyProblem{{Code: "too_short"}}}, "right-pin-123", 19, 6},
		{"quality", &backend.PolicyError{Problems: []backend.PolicyProblem{{Code: "too_few_classes"}}}, "right-pin-123", 19, 5},
		{"missing old", nil, "", 53, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.pin.changeErr = tc.changeErr
			c := e.dial()
			if err := c.Bind("CU1234567", "right-pin-123"); err != nil {
				t.Fatal(err)
			}
			r := dialRaw(t, e.addr)
			r.send(rawBind(1, "CU1234567", "right-pin-123"))
			r.read()
			r.send(rawPasswordModify(2, tc.old, "new-pin-value-1", ppolicyRequestControl()))
			resp := r.read()
			if got := resultCode(resp); got != tc.wantCode {
				t.Fatalf("code %d, want %d", got, tc.wantCode)
			}
			ctl, err := responsePpolicy(resp)
			if err != nil {
				t.Fatal(err)
			}
			if int(ctl.Error) != tc.wantPP {
				t.Fatalf("ppolicy error %d, want %d", ctl.Error, tc.wantPP)
			}
		})
	}
}

func rawPasswordModify(id int64, old, newPW string, controls ...*ber.Packet) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldapwire.TagExtendedRequest, nil, "Extended")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, ldapwire.OIDPasswordModify, "oid"))
	v := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "value")
	if old != "" {
		v.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, old, "old"))
	}
	if newPW != "" {
		v.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, newPW, "new"))
	}
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, string(v.Bytes()), "value"))
	return message(id, op, controls...)
}

// responsePpolicy decodes the ppolicy response control of a response.
func responsePpolicy(p *ber.Packet) (*ldap.ControlBeheraPasswordPolicy, error) {
	if len(p.Children) < 3 {
		return nil, errors.New("no response controls")
	}
	for _, cp := range p.Children[2].Children {
		ctl, err := ldap.DecodeControl(cp)
		if err != nil {
			return nil, err
		}
		if pp, ok := ctl.(*ldap.ControlBeheraPasswordPolicy); ok {
			return pp, nil
		}
	}
	return nil, errors.New("no ppolicy control")
}

// TestPasswordModifyNamesTheRules: the 19 of a PIN that breaks the rules
// carries every rule in the store's words, never the PIN.
func TestPasswordModifyNamesTheRules(t *testing.T) {
	e := newEnv(t, nil)
	e.pin.changeErr = &backend.PolicyError{Problems: []backend.PolicyProblem{
		{Code: "too_short", Message: "PIN must be 10 to 20 characters long"},
		{Code: "too_few_classes", Message: "PIN must use at least 2 of: letters, digits, special characters"},
	}}
	c := e.dial()
	if err := c.Bind("CU1234567", "right-pin-123"); err != nil {
		t.Fatal(err)
	}
	_, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", "right-pin-123", "abc"))
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != 19 {
		t.Fatalf("got %v, want 19", err)
	}
	want := "PIN must be 10 to 20 characters long; PIN must use at least 2 of: letters, digits, special characters"
	if le.Err.Error() != want {
		t.Fatalf("diagnostic %q, want %q", le.Err.Error(), want)
	}
	// A PIN with a problem per character: four, then a count.
	var many []backend.PolicyProblem
	for i := range 1000 {
		many = append(many, backend.PolicyProblem{Code: "bad_char", Position: i + 1, Message: fmt.Sprintf("PIN character %d is not allowed", i+1)})
	}
	e.pin.changeErr = &backend.PolicyError{Problems: many}
	_, err = c.PasswordModify(ldap.NewPasswordModifyRequest("", "right-pin-123", "abc"))
	if !errors.As(err, &le) || le.Err.Error() != "PIN character 1 is not allowed; PIN character 2 is not allowed; PIN character 3 is not allowed; PIN character 4 is not allowed; and 996 more" {
		t.Fatalf("got %v", err)
	}
	// A backend without messages: OpenLDAP's text.
	e.pin.changeErr = &backend.PolicyError{Problems: []backend.PolicyProblem{{Code: "too_short"}}}
	_, err = c.PasswordModify(ldap.NewPasswordModifyRequest("", "right-pin-123", "abc"))
	if !errors.As(err, &le) || le.Err.Error() != textPolicy {
		t.Fatalf("got %v", err)
	}
}
