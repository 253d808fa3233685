package pinstore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/bindery/bindery/backend"
)

// Policy is the library PIN rules. Policy.Check is the one function every
// path (self-service change, staff set, reset, import of a plaintext never)
// uses to judge a new PIN.
type Policy struct {
	MinLength  int // in characters; [pin_policy] min_length
	MaxLength  int // [pin_policy] max_length
	MinClasses int // of letters, digits, special characters; [pin_policy] min_classes
}

// DefaultPolicy is the rule of the design: 10 to 20 characters from at least
// 2 of the 3 classes.
var DefaultPolicy = Policy{MinLength: 10, MaxLength: 20, MinClasses: 2}

// MaxPINLength is the most max_length may allow.
const MaxPINLength = 128

// Validate reports whether the policy can be satisfied, listing every
// problem at once, each error's text starting with its [pin_policy] key.
func (p Policy) Validate() error {
	var errs []error
	if p.MinLength < 1 {
		errs = append(errs, errors.New("min_length: must be at least 1"))
	}
	switch {
	case p.MaxLength < p.MinLength:
		errs = append(errs, fmt.Errorf("max_length: %d is less than min_length %d", p.MaxLength, p.MinLength))
	case p.MaxLength > MaxPINLength:
		errs = append(errs, fmt.Errorf("max_length: at most %d", MaxPINLength))
	case p.MaxLength < p.MinClasses:
		errs = append(errs, fmt.Errorf("max_length: %d is less than min_classes %d", p.MaxLength, p.MinClasses))
	}
	if p.MinClasses < 1 || p.MinClasses > 3 {
		errs = append(errs, errors.New("min_classes: must be 1, 2 or 3"))
	}
	return errors.Join(errs...)
}

// character classes
const (
	classLetter = 1 << iota
	classDigit
	classSpecial
)

// classOf returns the class of r, or 0 when r is not allowed in a PIN
// (space, control characters, anything outside printable ASCII).
func classOf(r rune) int {
	switch {
	case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		return classLetter
	case r >= '0' && r <= '9':
		return classDigit
	case r >= 0x21 && r <= 0x7e:
		return classSpecial
	}
	return 0
}

// Check returns nil when pin meets the rules, or a *backend.PolicyError
// listing every problem. Length is counted in characters (runes). Messages
// give positions, never the PIN.
func (p Policy) Check(pin string) error {
	var problems []backend.PolicyProblem
	n, classes := 0, 0
	for _, r := range pin { // an invalid UTF-8 byte is U+FFFD: not allowed
		n++
		c := classOf(r)
		if c == 0 {
			problems = append(problems, backend.PolicyProblem{
				Code:     "bad_char",
				Position: n,
				Message:  fmt.Sprintf("PIN character %d is not allowed: use only letters, digits and printable ASCII symbols", n),
			})
			continue
		}
		classes |= c
	}
	// The words of the rules as the PIN page lists them ("PIN must be 10
	// to 20 characters long"); binderyctl prints them and Password Modify
	// puts them in the diagnostic of its 19.
	var head []backend.PolicyProblem
	length := fmt.Sprintf("PIN must be %d to %d characters long", p.MinLength, p.MaxLength)
	if n < p.MinLength {
		head = append(head, backend.PolicyProblem{Code: "too_short", Message: length})
	}
	if n > p.MaxLength {
		head = append(head, backend.PolicyProblem{Code: "too_long", Message: length})
	}
	if k := bitsSet(classes); k < p.MinClasses {
		msg := fmt.Sprintf("PIN must use at least %d of: letters, digits, special characters", p.MinClasses)
		if p.MinClasses == 1 {
			msg = "PIN must use letters, digits or special characters"
		}
		head = append(head, backend.PolicyProblem{Code: "too_few_classes", Message: msg})
	}
	problems = append(head, problems...)
	if len(problems) == 0 {
		return nil
	}
	return &backend.PolicyError{Problems: problems}
}

func bitsSet(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// Alphabets for Generate, without look-alikes (0/O/o, 1/l/I) and without
// symbols that are hard to read out or type on a counter keypad.
const (
	genLetters = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
	genDigits  = "23456789"
	genSpecial = "#$%+=@*"
)

// Generate returns a random PIN (crypto/rand) that passes Check: the policy's
// minimum length but at least 12 characters where the maximum allows,
// letters and digits, plus special characters only when MinClasses is 3.
func (p Policy) Generate() string {
	length := max(p.MinLength, min(12, p.MaxLength))
	sets := []string{genLetters, genDigits}
	if p.MinClasses >= 3 {
		sets = append(sets, genSpecial)
	}
	all := ""
	for _, s := range sets {
		all += s
	}
	for {
		out := make([]byte, 0, length)
		for _, s := range sets { // one of each required class
			if len(out) < length {
				out = append(out, s[randIndex(len(s))])
			}
		}
		for len(out) < length {
			out = append(out, all[randIndex(len(all))])
		}
		for i := len(out) - 1; i > 0; i-- { // Fisher-Yates
			j := randIndex(i + 1)
			out[i], out[j] = out[j], out[i]
		}
		if pin := string(out); p.Check(pin) == nil {
			return pin
		}
	}
}

func randIndex(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("pinstore: crypto/rand failed: " + err.Error())
	}
	return int(v.Int64())
}
