//go:build race

package pinstore

// raceEnabled: the race detector slows SQLite (pure Go) about twentyfold.
const raceEnabled = true
