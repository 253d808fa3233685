package pinstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/bindery/bindery/backend"
)

// testUIDNumbers: the first free candidate is taken and kept; a taken
// number is never given again (also across two stores on one database,
// concurrently); an ID change is recorded for reverse look-ups; rows
// outlive their accounts.
func testUIDNumbers(t *testing.T) {
	s1, s2, _ := newPair(t, nil)
	ctx := context.Background()
	// Every account's first candidate is 5000: collisions on purpose.
	cand := func(uuid string) func(int) int64 {
		return func(try int) int64 {
			if try == 0 {
				return 5000
			}
			return 5000 + int64(len(uuid))*int64(try)
		}
	}
	a := backend.NumberedAccount{UUID: "uuid-a", ID: "CU1"}
	n, err := s1.UIDNumber(ctx, a, cand(a.UUID))
	if err != nil || n != 5000 {
		t.Fatalf("first account: %d %v", n, err)
	}
	b := backend.NumberedAccount{UUID: "uuid-bb", ID: "CU2"}
	if n, err := s2.UIDNumber(ctx, b, cand(b.UUID)); err != nil || n != 5007 {
		t.Fatalf("second account: %d %v, want 5007 (5000 is taken)", n, err)
	}
	// Stable, whatever the candidates say now; the new ID is recorded.
	a.ID = "CU9"
	if n, err := s2.UIDNumber(ctx, a, func(int) int64 { return 42 }); err != nil || n != 5000 {
		t.Fatalf("again: %d %v", n, err)
	}
	if got, err := s1.UIDOwner(ctx, 5000); err != nil || got.ID != "CU9" || got.UUID != "uuid-a" {
		t.Fatalf("owner of 5000: %+v %v", got, err)
	}
	if _, err := s1.UIDOwner(ctx, 5001); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("owner of a free number: %v", err)
	}
	// The same account from many goroutines on two stores: one number.
	var wg sync.WaitGroup
	got := make([]int64, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s1
			if i%2 == 1 {
				s = s2
			}
			c := backend.NumberedAccount{UUID: "uuid-race", ID: "CU3"}
			n, err := s.UIDNumber(ctx, c, func(try int) int64 { return 6000 + int64(try) })
			if err != nil {
				t.Error(err)
			}
			got[i] = n
		}()
	}
	wg.Wait()
	for _, n := range got {
		if n != got[0] {
			t.Fatalf("one account got %v", got)
		}
	}
	// All candidates taken: an error, not a shared number.
	for i := range 64 {
		if _, err := s1.UIDNumber(ctx, backend.NumberedAccount{UUID: fmt.Sprintf("fill-%d", i), ID: "X"}, func(int) int64 { return 7000 + int64(i) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s1.UIDNumber(ctx, backend.NumberedAccount{UUID: "late", ID: "Y"}, func(try int) int64 { return 7000 + int64(try) }); err == nil {
		t.Fatal("a number was given although every candidate is taken")
	}
	if _, err := s1.UIDNumber(ctx, backend.NumberedAccount{ID: "Z"}, cand("")); err == nil {
		t.Fatal("an account without entryUUID got a number")
	}
}
