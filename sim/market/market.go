// Package market is the simulated exchange's model: a deterministic universe
// of instruments and their trades, candles, order books and trading status.
//
// Everything is a pure function of (seed, instrument, time). Nothing is
// stored except caches, so the simulator's stream and REST history agree by
// construction, across restarts: the candles REST returns for a past period
// are exactly those the stream showed while it formed.
//
// How a price comes about, bottom up:
//   - The mid price path is exp of a sum of value-noise octaves (periods of 1
//     minute to 45 days, amplitudes growing like a random walk's) plus slow
//     bounded waves, evaluated at whole minutes (price.go).
//   - Each minute of trading gets a hash-derived number of trades at
//     hash-derived instants; between the minute's end points the mid follows
//     a Brownian bridge, and each trade hits the bid or the ask around it,
//     rounded to the exact decimal increment (trades.go, decimal.go).
//   - Candles aggregate trades; closed minute and hour aggregates are cached
//     in bounded sharded caches (candles.go, cache.go).
//   - Trading status comes from the session string and a per-venue profile
//     (status.go); books and instrument info derive from the above (book.go,
//     info.go).
//
// Conventions: times in and out are instants (returned in UTC); prices are
// exact multiples of the instrument's increment, bonds quoted in percent of
// face value as on MOEX; volumes are in lots. Unknown FIGIs get empty
// answers, never panics. The model runs from 1990 to 2200; times outside are
// clamped and see no trading. Sessions must be whole minutes, which every
// TradingView session string is.
//
// All methods are safe for concurrent use.
package market

import (
	"math"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the universe's timezones must load on any machine

	"tvbridge"
)

// Config selects a universe and its prices.
type Config struct {
	// Seed drives every price, trade and quantity: same seed => same
	// universe and same prices forever. (The catalogue itself is the same
	// for every seed, so stored data keyed by FIGI stays meaningful.)
	Seed int64
	// Instruments is the catalogue size: 0 => the default universe (~100);
	// N > default => the default plus generated ones up to N (for
	// 10,000-instrument tests); 0 < N < default => the first N default
	// instruments, which cover one of each behaviour from N = 7.
	Instruments int
}

// Instrument is a tradable instrument plus the model parameters that drive it.
type Instrument struct {
	tvbridge.Instrument                    // FIGI, Ticker, ISIN, Name, Type, Currency, Lot, MinPriceIncrement, MinQuantity, Exchange, Timezone, Session
	Schedule            *tvbridge.Schedule // parsed Session in Timezone
	BasePrice           float64            // typical price; bonds in percent of FaceValue
	FaceValue           float64            // bonds only, else 0
	// Listed is local midnight (in UTC) of the first trading day. There are
	// no trades before it, so the bridge finds a real first bar.
	Listed time.Time
}

// Trade is one synthetic exchange trade.
type Trade struct {
	Time  time.Time // UTC, microsecond precision
	Price float64   // an exact multiple of MinPriceIncrement (the float64 nearest the decimal)
	Lots  int64     // > 0
}

// Market is the model. Create it with New; it is safe for concurrent use.
type Market struct {
	list     []*Instrument
	byFIGI   map[string]*model
	byTicker map[string][]*Instrument

	minutes    *cache[minuteData] // trades of recently used minutes
	minuteAggs *cache[agg]        // aggregate of each closed minute
	hourAggs   *cache[agg]        // aggregate of each whole hour inside one segment
	closes     *cache[refPrice]   // previous trading day's close, per local date
}

// Cache sizes, in entries; each cache may briefly hold twice as many. A
// liquid minute of trades is about 3 KB, an aggregate under 100 bytes with
// map overhead: about 100 MB at most in all, far less in ordinary use. The
// minute cache holds every instrument's current minute with 10,000
// instruments.
const (
	minuteCacheSize    = 1 << 14
	minuteAggCacheSize = 1 << 18
	hourAggCacheSize   = 1 << 16
	closeCacheSize     = 1 << 15
)

// New builds the market. The catalogue is fixed and independent of the seed;
// the seed drives every price, trade and quantity.
func New(cfg Config) *Market {
	rows := universeRows(cfg.Instruments)
	m := &Market{
		list:       make([]*Instrument, 0, len(rows)),
		byFIGI:     make(map[string]*model, len(rows)),
		byTicker:   make(map[string][]*Instrument),
		minutes:    newCache[minuteData](minuteCacheSize),
		minuteAggs: newCache[agg](minuteAggCacheSize),
		hourAggs:   newCache[agg](hourAggCacheSize),
		closes:     newCache[refPrice](closeCacheSize),
	}
	b := newBuilder()
	for _, r := range rows {
		inst := b.instrument(r)
		md := newModel(cfg.Seed, uint32(len(m.list)), inst, r)
		m.list = append(m.list, inst)
		m.byFIGI[inst.FIGI] = md
		m.byTicker[inst.Ticker] = append(m.byTicker[inst.Ticker], inst)
	}
	return m
}

// universeRows returns the catalogue rows for a requested size: the default
// universe, its first n rows, or the default plus generated rows up to n.
func universeRows(n int) []row {
	switch {
	case n <= 0 || n == len(defaultRows):
		return defaultRows
	case n < len(defaultRows):
		return defaultRows[:n]
	}
	rows := make([]row, 0, n)
	rows = append(rows, defaultRows...)
	for i := 0; len(rows) < n; i++ {
		rows = append(rows, generatedRow(i))
	}
	return rows
}

// Instruments returns the catalogue in a stable order. The instruments are
// shared: do not modify them.
func (m *Market) Instruments() []*Instrument {
	return append([]*Instrument(nil), m.list...)
}

// Instrument looks an instrument up by FIGI.
func (m *Market) Instrument(figi string) (*Instrument, bool) {
	md, ok := m.byFIGI[figi]
	if !ok {
		return nil, false
	}
	return md.inst, true
}

// ByTicker returns the instruments with this ticker, one per venue that lists
// it (YNDX trades on both MOEX and SPB), or nil.
func (m *Market) ByTicker(ticker string) []*Instrument {
	return append([]*Instrument(nil), m.byTicker[ticker]...)
}

// model is an instrument's hidden parameters: everything its prices,
// trades and statuses are computed from.
type model struct {
	inst *Instrument
	id   uint32 // index in the catalogue, the cache key
	key  uint64 // hash of seed and FIGI, the root of all its randomness

	step       priceStep
	profile    profile
	loc        *time.Location
	overnight  bool      // some session range starts on the previous calendar day
	listed     int64     // Listed, in Unix nanoseconds
	listedDate time.Time // Listed's local date, as 00:00 UTC of that date

	logBase     float64
	octaveKeys  [octaves]uint64 // per-octave roots of the price noise
	sigma       float64         // per-minute volatility of the log mid
	waves       [2]wave         // slow bounded drift
	rate        float64         // mean trades per minute in normal trading
	lotScale    float64         // typical trade size in lots
	spreadTicks int64           // bid-ask spread in increments, >= 1
	limits      bool

	days [daySlots]atomic.Pointer[dayEntry] // recently used days' segments

	coupon       float64 // bonds: annual coupon rate
	couponAnchor int64   // bonds: a coupon date, as a Unix day number
}

// wave is one slow sinusoid of the log price.
type wave struct{ amp, omega, phase float64 }

func newModel(seed int64, id uint32, inst *Instrument, r row) *model {
	key := hash2(uint64(seed), hashString(inst.FIGI))
	md := &model{
		inst:     inst,
		id:       id,
		key:      key,
		step:     mustPriceStep(inst.MinPriceIncrement),
		profile:  r.k.profile,
		loc:      inst.Schedule.Location(),
		listed:   inst.Listed.UnixNano(),
		logBase:  math.Log(r.base),
		sigma:    r.k.dailyVol / math.Sqrt(24*60) * (0.7 + 0.6*unit(hash2(key, 1))),
		rate:     r.rate,
		lotScale: 1 + 4*unit(hash2(key, 2)),
		limits:   r.k.limits,
		coupon:   r.coupon,
	}
	for j := range md.octaveKeys {
		md.octaveKeys[j] = hash2(key, 1000+uint64(j))
	}
	md.overnight = hasOvernight(inst.Schedule)
	md.listedDate = md.localDate(md.listed)
	// Busier instruments quote tighter: SBER's spread is a tick or two, an
	// illiquid bond's a hundred.
	liquidity := math.Sqrt(10 / max(r.rate, 0.1))
	md.spreadTicks = max(1, int64(math.Round(r.base*r.k.spreadRel*liquidity/inst.MinPriceIncrement)))
	// Drift waves of 1-5 years, scaled with volatility so bonds stay calm.
	calm := math.Min(1, r.k.dailyVol/0.02)
	const minutesPerYear = 365.25 * 24 * 60
	for i := range md.waves {
		period := minutesPerYear * (1 + 4*unit(hash3(key, 3, uint64(i))))
		md.waves[i] = wave{
			amp:   calm * 0.2 / float64(i+1),
			omega: 2 * math.Pi / period,
			phase: 2 * math.Pi * unit(hash3(key, 4, uint64(i))),
		}
	}
	md.couponAnchor = epochDay + int64(hash2(key, 5)%couponDays)
	return md
}

// hasOvernight reports whether any trading period opens before the local
// midnight of its trading day, by looking at one week of periods.
func hasOvernight(s *tvbridge.Schedule) bool {
	for d := 0; d < 7; d++ {
		date := time.Date(2024, 1, 1+d, 0, 0, 0, 0, time.UTC)
		midnight := time.Date(2024, 1, 1+d, 0, 0, 0, 0, s.Location())
		for _, p := range s.Periods(date) {
			if p.Open.Before(midnight) {
				return true
			}
		}
	}
	return false
}

func (m *Market) model(figi string) (*model, bool) {
	md, ok := m.byFIGI[figi]
	return md, ok
}
