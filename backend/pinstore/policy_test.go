package pinstore

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bindery/bindery/backend"
)

func TestPolicyCheck(t *testing.T) {
	p := DefaultPolicy
	type prob struct {
		code string
		pos  int
	}
	cases := []struct {
		name string
		pin  string
		want []prob
	}{
		{"9 chars", "abcd12345", []prob{{"too_short", 0}}},
		{"10 chars", "abcd123456", nil},
		{"20 chars", "abcdefghij1234567890", nil},
		{"21 chars", "abcdefghij12345678901", []prob{{"too_long", 0}}},
		{"letters+digits", "abcdefgh12", nil},
		{"letters+special", "abcdefgh#$", nil},
		{"digits+special", "12345678#$", nil},
		{"all three", "abc123#$%X", nil},
		{"letters only", "abcdefghijk", []prob{{"too_few_classes", 0}}},
		{"digits only", "12345678901", []prob{{"too_few_classes", 0}}},
		{"special only", "#$%&'()*+,-", []prob{{"too_few_classes", 0}}},
		{"e acute", "abcdé12345", []prob{{"bad_char", 5}}},
		{"chinese", "中abcdef1234", []prob{{"bad_char", 1}}},
		{"control", "abcde\x0712345", []prob{{"bad_char", 6}}},
		{"tab", "abcde\t12345", []prob{{"bad_char", 6}}},
		{"NUL", "abcde\x0012345", []prob{{"bad_char", 6}}},
		{"DEL", "abcde\x7f12345", []prob{{"bad_char", 6}}},
		{"leading space", " abcde12345", []prob{{"bad_char", 1}}},
		{"trailing space", "abcde12345 ", []prob{{"bad_char", 11}}},
		{"inner space", "abcde 12345", []prob{{"bad_char", 6}}},
		{"invalid utf8", "abcde\xff12345", []prob{{"bad_char", 6}}},
		{"empty", "", []prob{{"too_short", 0}, {"too_few_classes", 0}}},
		{"every problem", "é1", []prob{{"too_short", 0}, {"too_few_classes", 0}, {"bad_char", 1}}},
		{"long and one class", strings.Repeat("a", 25), []prob{{"too_long", 0}, {"too_few_classes", 0}}},
		{"runes not bytes", "中中中中中中中中中中", []prob{{"too_few_classes", 0}, {"bad_char", 1}, {"bad_char", 2}, {"bad_char", 3}, {"bad_char", 4}, {"bad_char", 5}, {"bad_char", 6}, {"bad_char", 7}, {"bad_char", 8}, {"bad_char", 9}, {"bad_char", 10}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := p.Check(c.pin)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var pe *backend.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("Check = %v, want *backend.PolicyError", err)
			}
			var got []prob
			for _, pr := range pe.Problems {
				got = append(got, prob{pr.Code, pr.Position})
				if c.pin != "" && strings.Contains(pr.Message, c.pin) {
					t.Errorf("message %q echoes the PIN", pr.Message)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("problems = %v, want %v", got, c.want)
			}
		})
	}
}

func TestPolicyMessages(t *testing.T) {
	err := DefaultPolicy.Check("ab é")
	want := "PIN fails the rules: PIN must be 10 to 20 characters long; PIN must use at least 2 of: letters, digits, special characters; " +
		"PIN character 3 is not allowed: use only letters, digits and printable ASCII symbols; " +
		"PIN character 4 is not allowed: use only letters, digits and printable ASCII symbols"
	if err == nil || err.Error() != want {
		t.Errorf("Check = %v\nwant %s", err, want)
	}
	var pe *backend.PolicyError
	if !errors.As(err, &pe) || !pe.TooShort() {
		t.Error("TooShort() false")
	}
}

func TestGenerate(t *testing.T) {
	policies := []Policy{DefaultPolicy, {MinLength: 4, MaxLength: 6, MinClasses: 3}, {MinLength: 16, MaxLength: 64, MinClasses: 1}, {MinLength: 20, MaxLength: 20, MinClasses: 2}}
	for _, p := range policies {
		seen := map[string]bool{}
		for range 1000 {
			pin := p.Generate()
			if err := p.Check(pin); err != nil {
				t.Fatalf("%+v: Generate() = %q fails: %v", p, pin, err)
			}
			if strings.ContainsAny(pin, "0O1lIo") {
				t.Fatalf("Generate() = %q has an ambiguous character", pin)
			}
			seen[pin] = true
		}
		if len(seen) < 990 {
			t.Errorf("%+v: only %d distinct PINs in 1000", p, len(seen))
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	bad := []Policy{{}, {MinLength: 10, MaxLength: 5, MinClasses: 2}, {MinLength: 1, MaxLength: 2, MinClasses: 3}, {MinLength: 10, MaxLength: 20, MinClasses: 4}}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("%+v: Validate = nil", p)
		}
	}
	if err := DefaultPolicy.Validate(); err != nil {
		t.Error(err)
	}
}

func TestInstitutionFor(t *testing.T) {
	cases := map[string]string{
		"CITYU5012345": "City University of Hong Kong",
		"cityu5012345": "City University of Hong Kong",
		"CU1234567":    "The Chinese University of Hong Kong",
		"BU1234567":    "Hong Kong Baptist University",
		"UST2012345":   "Hong Kong University of Science and Technology",
		"LU3012345":    "Lingnan University",
		"EDU4012345":   "The Education University of Hong Kong",
		"PU5012345":    "The Hong Kong Polytechnic University",
		"21234567890":  "",
		"LUCY":         "",
		"CU":           "",
		"jchan":        "",
	}
	for id, want := range cases {
		if got := InstitutionFor(id); got != want {
			t.Errorf("InstitutionFor(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestSplitName(t *testing.T) {
	cases := []struct{ name, given, sur string }{
		{"Mary Smith", "Mary", "Smith"},
		{"Mary Ann Smith", "Mary Ann", "Smith"},
		{"CHAN Tai Man", "Tai Man", "CHAN"},
		{"Chan, Tai Man", "Tai Man", "Chan"},
		{"Madonna", "", "Madonna"},
		{"", "", ""},
		{"MARY SMITH", "MARY", "SMITH"},
	}
	for _, c := range cases {
		g, s := splitName(c.name)
		if g != c.given || s != c.sur {
			t.Errorf("splitName(%q) = %q, %q; want %q, %q", c.name, g, s, c.given, c.sur)
		}
	}
}
