package passhash

import (
	"errors"
	"fmt"
)

// Params are the argon2id cost parameters; the toml keys are those of the
// configuration's [pin_policy.argon2].
type Params struct {
	MemoryKiB   uint32 `toml:"memory_kib"`  // m, memory in KiB
	Iterations  uint32 `toml:"iterations"`  // t, passes over the memory
	Parallelism uint8  `toml:"parallelism"` // p, lanes
}

// DefaultParams is the OWASP minimum for argon2id: m=19456 KiB (19 MiB),
// t=2, p=1.
var DefaultParams = Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}

// Sizes of the salt and key of every hash this package creates.
const (
	SaltLen = 16
	KeyLen  = 32
)

// Upper bounds accepted when parsing a stored hash, so a hostile import row
// cannot make a verification allocate gigabytes or run for minutes.
const (
	maxMemoryKiB  = 4 << 20 // 4 GiB
	maxIterations = 1000
)

// Validate reports whether p can be used to create hashes.
// Each problem is its own error, its text starting with the parameter's
// [pin_policy.argon2] key.
func (p Params) Validate() error {
	var errs []error
	if p.MemoryKiB < 8*uint32(max(p.Parallelism, 1)) || p.MemoryKiB > maxMemoryKiB {
		errs = append(errs, fmt.Errorf("memory_kib: must be %d..%d KiB", 8*uint32(max(p.Parallelism, 1)), maxMemoryKiB))
	}
	if p.Iterations < 1 || p.Iterations > maxIterations {
		errs = append(errs, fmt.Errorf("iterations: must be 1..%d", maxIterations))
	}
	if p.Parallelism < 1 {
		errs = append(errs, errors.New("parallelism: must be at least 1"))
	}
	return errors.Join(errs...)
}

// String returns the PHC parameter segment, e.g. "m=19456,t=2,p=1".
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
}
