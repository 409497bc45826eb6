package tvbridge

import (
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleMoscowWeekdays(t *testing.T) {
	s := MustSchedule("1000-1840:23456", "Europe/Moscow")
	msk := mustLoc(t, "Europe/Moscow")
	cases := []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 11, 23, 9, 59, 59, 0, msk), false}, // Monday before open
		{time.Date(2026, 11, 23, 10, 0, 0, 0, msk), true},
		{time.Date(2026, 11, 23, 18, 39, 59, 0, msk), true},
		{time.Date(2026, 11, 23, 18, 40, 0, 0, msk), false}, // close is exclusive
		{time.Date(2026, 11, 22, 12, 0, 0, 0, msk), false},  // Sunday
		{time.Date(2026, 11, 28, 12, 0, 0, 0, msk), false},  // Saturday
	}
	for _, c := range cases {
		if got := s.InSession(c.at); got != c.want {
			t.Errorf("InSession(%v) = %v, want %v", c.at, got, c.want)
		}
	}
	day, ok := s.TradingDay(time.Date(2026, 11, 23, 7, 30, 0, 0, time.UTC))
	if !ok || !day.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("TradingDay = %v %v", day, ok)
	}
}

func TestScheduleOvernightBelongsToClosingDay(t *testing.T) {
	// A Monday 22:00 to Tuesday 21:00 session is Tuesday's bar (reference 4.31).
	s := MustSchedule("2200-2100:34", "Etc/UTC")
	mon2230 := time.Date(2026, 11, 23, 22, 30, 0, 0, time.UTC)
	day, ok := s.TradingDay(mon2230)
	if !ok || !day.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("TradingDay(Mon 22:30) = %v %v, want Tuesday", day, ok)
	}
	if s.InSession(time.Date(2026, 11, 24, 21, 30, 0, 0, time.UTC)) {
		t.Fatal("Tuesday 21:30 is between sessions")
	}
	// Sunday 22:00 would open Monday's session, but Monday (2) is not listed.
	if s.InSession(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)) {
		t.Fatal("Sunday night opened an unlisted Monday session")
	}
}

func TestSchedule24x7(t *testing.T) {
	s := MustSchedule("24x7", "Europe/Moscow")
	at := time.Date(2026, 11, 22, 21, 30, 0, 0, time.UTC) // Monday 00:30 MSK
	day, ok := s.TradingDay(at)
	if !ok || !day.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("TradingDay = %v %v", day, ok)
	}
	next, ok := s.NextChange(at)
	if !ok || !next.Equal(time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)) {
		t.Fatalf("NextChange = %v %v, want next Moscow midnight", next, ok)
	}
}

func TestScheduleNewYorkThroughDST(t *testing.T) {
	s := MustSchedule("0930-1600:23456", "America/New_York")
	// 2026-03-06 (Fri, EST, UTC-5) and 2026-03-09 (Mon, EDT, UTC-4).
	for _, c := range []struct {
		date       time.Time
		open, shut time.Time
	}{
		{time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 6, 14, 30, 0, 0, time.UTC), time.Date(2026, 3, 6, 21, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 13, 30, 0, 0, time.UTC), time.Date(2026, 3, 9, 20, 0, 0, 0, time.UTC)},
		{time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 30, 13, 30, 0, 0, time.UTC), time.Date(2026, 10, 30, 20, 0, 0, 0, time.UTC)},
		{time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 14, 30, 0, 0, time.UTC), time.Date(2026, 11, 2, 21, 0, 0, 0, time.UTC)},
	} {
		ps := s.Periods(c.date)
		if len(ps) != 1 || !ps[0].Open.Equal(c.open) || !ps[0].Close.Equal(c.shut) {
			t.Errorf("Periods(%s) = %v, want [%v %v)", c.date.Format("2006-01-02"), ps, c.open, c.shut)
		}
	}
	next, _ := s.NextChange(time.Date(2026, 3, 6, 21, 0, 0, 0, time.UTC))
	if !next.Equal(time.Date(2026, 3, 9, 13, 30, 0, 0, time.UTC)) {
		t.Fatalf("NextChange over the DST weekend = %v", next)
	}
}

func TestScheduleMultipleRangesAndGroups(t *testing.T) {
	s := MustSchedule("1000-1400,1500-1840:23456|1100-1300:7", "Europe/Moscow")
	msk := mustLoc(t, "Europe/Moscow")
	if s.InSession(time.Date(2026, 11, 23, 14, 30, 0, 0, msk)) {
		t.Fatal("break between ranges counted as in session")
	}
	if !s.InSession(time.Date(2026, 11, 28, 12, 0, 0, 0, msk)) {
		t.Fatal("Saturday group ignored")
	}
	if got := len(s.Periods(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))); got != 2 {
		t.Fatalf("Monday has %d periods", got)
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, bad := range []string{"", "1000", "10:00-18:40", "1000-1840:8", "1000-1840:", "2500-0100", "1060-1100", "abcd-1100", "+930-1100", "1000--100"} {
		if _, err := ParseSchedule(bad, "Europe/Moscow"); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
	if _, err := ParseSchedule("24x7", "Mars/Olympus"); err == nil {
		t.Error("unknown timezone accepted")
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"24x7", "1000-1840:23456", "1700-1600:23456|0000-0000:1", "0930-1600", "1000-1400,1500-1840:23456"} {
		f.Add(s)
	}
	at := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseSchedule(spec, "America/New_York")
		if err != nil {
			return
		}
		day, ok := s.TradingDay(at)
		if ok && (day.Hour() != 0 || day.Location() != time.UTC) {
			t.Fatalf("trading day %v not at UTC midnight", day)
		}
		if next, ok := s.NextChange(at); ok && !next.After(at) {
			t.Fatalf("NextChange %v not after %v", next, at)
		}
	})
}
