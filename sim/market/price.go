package market

import "math"

// The mid price path. log mid(minute) = log(base) + slow waves + a sum of
// value-noise octaves. Octave j has lattice spacing 2^j minutes and amplitude
// proportional to sqrt(2^j), as a random walk's moves over that span would
// be; octave 0 is fresh noise every minute. Everything is bounded: the path
// can never leave exp(±(waves + sum of amplitudes)) × base, so prices stay
// positive and plausible over any number of years.

const (
	octaves       = 17  // lattice spacings of 1 minute to 2^16 minutes (45 days)
	octaveScale   = 0.8 // amplitude of octave 0 in units of sigma; makes the std of a move over n minutes about sigma×sqrt(n), up to a month
	activityOctve = 4   // trade-rate noise changes over about 16 minutes
)

// sqrt2Pow[j] is sqrt(2^j).
var sqrt2Pow = func() (p [octaves]float64) {
	for j := range p {
		p[j] = math.Sqrt(float64(uint64(1) << j))
	}
	return p
}()

// logMid returns the log of the mid price at the start of the given Unix minute.
func (md *model) logMid(minute int64) float64 {
	l, _ := md.logMidPair(minute)
	return l
}

// logMidPair returns logMid(minute) and logMid(minute+1) for the price of
// one: both points share each octave's lattice cell. At minute+1 the
// interpolation may reach the cell's far end exactly, where smoothstep is 1.
func (md *model) logMidPair(minute int64) (l0, l1 float64) {
	for _, w := range md.waves {
		l0 += w.amp * math.Sin(w.omega*float64(minute)+w.phase)
		l1 += w.amp * math.Sin(w.omega*float64(minute+1)+w.phase)
	}
	for j := 0; j < octaves; j++ {
		cell := minute >> j // arithmetic shift: floor division, also before 1970
		v0 := signed(hash2(md.octaveKeys[j], uint64(cell)))
		v1 := signed(hash2(md.octaveKeys[j], uint64(cell+1)))
		inv := 1 / float64(int64(1)<<j)
		f0 := float64(minute-cell<<j) * inv
		amp := md.sigma * octaveScale * sqrt2Pow[j]
		l0 += amp * (v0 + (v1-v0)*smoothstep(f0))
		l1 += amp * (v0 + (v1-v0)*smoothstep(f0+inv))
	}
	return md.logBase + l0, md.logBase + l1
}

// smoothstep eases 0..1 into 0..1 with zero slope at both ends, so the
// interpolated noise has no kinks at lattice points.
func smoothstep(f float64) float64 { return f * f * (3 - 2*f) }

// valueNoise is smoothly interpolated lattice noise in [-1, 1) with lattice
// spacing 2^shift minutes, one independent field per salt.
func (md *model) valueNoise(salt uint64, shift int, minute int64) float64 {
	cell := minute >> shift
	v0 := signed(hash3(md.key, salt, uint64(cell)))
	v1 := signed(hash3(md.key, salt, uint64(cell+1)))
	frac := float64(minute-cell<<shift) / float64(int64(1)<<shift)
	return v0 + (v1-v0)*smoothstep(frac)
}

// activity scales the trade rate: busy and quiet spells of a quarter hour.
func (md *model) activity(minute int64) float64 {
	return math.Exp(0.6 * md.valueNoise(activitySalt, activityOctve, minute))
}

// Salts keep the noise fields of different purposes independent.
const (
	activitySalt = 100 + iota
	auctionSalt
	bookSalt
)
