//go:build race

package stream

// raceEnabled is true under the race detector, which makes the decoder
// some 20 times slower; exhaustive tests sample instead.
const raceEnabled = true
