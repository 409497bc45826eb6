package stream

import (
	"testing"
	"time"
)

// FuzzParseTime checks the hand-written RFC 3339 parser against time.Parse:
// what it accepts, time.Parse accepts as the same instant, and the Time
// value is exactly want.UTC() (so == and map keys agree too).
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2019-08-07T15:35:00Z", "2019-08-07T15:35:00.029721253Z", "2020-05-12T12:39:25.26326835Z",
		"2019-08-07T18:35:00+03:00", "2019-02-29T00:00:00Z", "2020-02-29T23:59:59.5-00:30", "2019-08-07T24:00:00Z",
		"2019-08-07T15:35:00,5Z", "0000-01-01T00:00:00Z", "0000-02-29T00:00:00+01:00", "1969-12-31T23:59:59.999999999Z",
		"9999-12-31T23:59:59.9999999999-23:59", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := parseTime([]byte(in))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, in)
		if err != nil || got != want.UTC() {
			t.Fatalf("parseTime(%q) = %#v, time.Parse says %#v, %v", in, got, want.UTC(), err)
		}
	})
}

// TestDaysFromCivil compares the day count with time.Date's on every day of
// the years around the Unix epoch and today, and at both ends of the years
// RFC 3339 can write.
func TestDaysFromCivil(t *testing.T) {
	check := func(from, to int) {
		for d := time.Date(from, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < to; d = d.AddDate(0, 0, 1) {
			want := int(d.Unix() / 86400)
			if got := daysFromCivil(d.Year(), int(d.Month()), d.Day()); got != want {
				t.Fatalf("daysFromCivil(%s) = %d, time says %d", d.Format(time.DateOnly), got, want)
			}
		}
	}
	check(0, 5)
	check(1890, 2110)
	check(9995, 10000)
}
