package market

import (
	"fmt"
	"time"

	"tvbridge"
)

// builder turns catalogue rows into Instruments, generating FIGIs and ISINs
// where the row has none and sharing parsed schedules between instruments.
type builder struct {
	figis     map[string]bool
	schedules map[[2]string]*tvbridge.Schedule
}

func newBuilder() *builder {
	b := &builder{figis: make(map[string]bool), schedules: make(map[[2]string]*tvbridge.Schedule)}
	// Reserve the known FIGIs first so generated ones never take them.
	for _, r := range defaultRows {
		if r.figi != "" {
			b.figis[r.figi] = true
		}
	}
	return b
}

// faceValue is the nominal of every simulated bond, in its currency.
const faceValue = 1000

func (b *builder) instrument(r row) *Instrument {
	figi := r.figi
	if figi == "" {
		figi = b.newFIGI(r.ticker + "|" + r.k.exchange)
	}
	listed := r.k.listed
	if r.listed != "" {
		listed = r.listed
	}
	inst := &Instrument{
		Instrument: tvbridge.Instrument{
			FIGI:              figi,
			Ticker:            r.ticker,
			ISIN:              isinFor(r),
			Name:              r.name,
			Type:              r.k.typ,
			Currency:          r.k.currency,
			Lot:               r.lot,
			MinPriceIncrement: r.inc,
			Exchange:          r.k.exchange,
			Timezone:          r.k.timezone,
			Session:           r.k.session,
		},
		Schedule:  b.schedule(r.k.session, r.k.timezone),
		BasePrice: r.base,
	}
	y, m, d := mustDate(listed).Date()
	inst.Listed = time.Date(y, m, d, 0, 0, 0, 0, inst.Schedule.Location()).UTC()
	if r.k.typ == tvbridge.Currency {
		inst.MinQuantity = 1
	}
	if r.k.typ == tvbridge.Bond {
		inst.FaceValue = faceValue
	}
	return inst
}

// schedule parses each distinct (session, timezone) once: loading a zone is
// slow, and 10,000 instruments share a handful of them.
func (b *builder) schedule(session, tz string) *tvbridge.Schedule {
	k := [2]string{session, tz}
	if s, ok := b.schedules[k]; ok {
		return s
	}
	s := tvbridge.MustSchedule(session, tz)
	b.schedules[k] = s
	return s
}

// figiAlphabet is the FIGI character set: digits and consonants.
const figiAlphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ"

// newFIGI derives a FIGI-shaped id ("BBG" + 9 characters) from a name,
// rehashing on the rare collision so every instrument's id is unique.
func (b *builder) newFIGI(name string) string {
	for salt := uint64(0); ; salt++ {
		h := hash2(hashString(name), salt)
		var id [12]byte
		copy(id[:], "BBG")
		for i := 3; i < len(id); i++ {
			id[i] = figiAlphabet[h%uint64(len(figiAlphabet))]
			h = mix64(h)
		}
		if s := string(id[:]); !b.figis[s] {
			b.figis[s] = true
			return s
		}
	}
}

// isinFor returns an ISIN-shaped code with a valid check digit. Currencies
// have none, as in the Tinkoff catalogue; bonds listed by ISIN reuse it.
func isinFor(r row) string {
	switch {
	case r.k.typ == tvbridge.Currency:
		return ""
	case len(r.ticker) == 12 && r.ticker[:2] == "RU" && r.k.typ == tvbridge.Bond:
		return r.ticker
	}
	// Modern Russian ISINs start RU000A; US ones are all digits.
	country, alphabet := "RU000A", figiAlphabet
	if r.k.currency == "USD" {
		country, alphabet = "US", "0123456789"
	}
	h := hashString("isin|" + r.ticker + "|" + r.k.exchange)
	body := []byte(country)
	for len(body) < 11 {
		body = append(body, alphabet[h%uint64(len(alphabet))])
		h = mix64(h)
	}
	return string(body) + string(isinCheckDigit(string(body)))
}

// isinCheckDigit computes the ISIN check digit: letters become two digits
// (A=10 ... Z=35), then the Luhn algorithm runs over the digit string.
func isinCheckDigit(body string) byte {
	var digits []int
	for _, c := range body {
		if c >= '0' && c <= '9' {
			digits = append(digits, int(c-'0'))
			continue
		}
		v := int(c-'A') + 10
		digits = append(digits, v/10, v%10)
	}
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := digits[i]
		if (len(digits)-1-i)%2 == 0 { // rightmost digit of the body is doubled
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

func mustDate(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(fmt.Sprintf("catalogue date %q: %v", s, err))
	}
	return t
}
