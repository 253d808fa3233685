//go:build !race

package pinstore

const raceEnabled = false
