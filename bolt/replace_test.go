package bolt

import (
	"errors"
	"testing"
	"time"

	"tvbridge"
)

// TestReplaceMinutes checks the authoritative fill: inside the ranges the
// stored bars become exactly the given ones (overwritten, added, deleted),
// covered minutes stay as they were, and the ranges end up covered.
func TestReplaceMinutes(t *testing.T) {
	s, _ := openTest(t)
	const figi = "F1"
	m := func(i int) time.Time { return t10.Add(time.Duration(i) * time.Minute) }
	// Streamed: minutes 0..5; minute 0 and 1 covered already.
	if _, err := s.PutMinutes(ctx, figi, minutes(m(0), 6, 0), []tvbridge.Range{{From: m(0), To: m(2)}}); err != nil {
		t.Fatal(err)
	}
	exchange := []tvbridge.Bar{
		bar(m(0), 50), // covered: must stay (conflict)
		bar(m(2), 2),  // identical to the stored bar: no change
		bar(m(3), 70), // differs: replaced
		bar(m(6), 80), // new: added, not counted as replaced
		bar(m(9), 90), // new, at the end of the range
	}
	// Minute 1 (covered) has no exchange bar: kept. Minutes 4 and 5 have
	// none: deleted.
	replaced, conflicts, err := s.ReplaceMinutes(ctx, figi, exchange, []tvbridge.Range{{From: m(0), To: m(10)}})
	if err != nil {
		t.Fatal(err)
	}
	if replaced != 3 || conflicts != 2 {
		t.Fatalf("replaced %d, conflicts %d; want 3 (m3 overwritten, m4 and m5 deleted) and 2 (m0, m1 covered)", replaced, conflicts)
	}
	got := mustMinutes(t, s, figi, m(0), m(20))
	want := []tvbridge.Bar{bar(m(0), 0), bar(m(1), 1), bar(m(2), 2), bar(m(3), 70), bar(m(6), 80), bar(m(9), 90)}
	if len(got) != len(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bar %d: got %v, want %v", i, got[i], want[i])
		}
	}
	cov, err := s.Covered(ctx, figi, m(0), m(20))
	if err != nil {
		t.Fatal(err)
	}
	if len(cov) != 1 || !cov[0].From.Equal(m(0)) || !cov[0].To.Equal(m(10)) {
		t.Fatalf("coverage %v, want [m0, m10)", cov)
	}
	// Now covered: a second replace changes nothing.
	replaced, conflicts, err = s.ReplaceMinutes(ctx, figi, nil, []tvbridge.Range{{From: m(0), To: m(10)}})
	if err != nil || replaced != 0 || conflicts != 6 {
		t.Fatalf("second replace: replaced %d conflicts %d err %v", replaced, conflicts, err)
	}
	if n := len(mustMinutes(t, s, figi, m(0), m(20))); n != 6 {
		t.Fatalf("%d bars after replacing covered minutes with nothing, want 6", n)
	}
}

func TestReplaceMinutesRejectsBarsOutsideTheRanges(t *testing.T) {
	s, _ := openTest(t)
	_, _, err := s.ReplaceMinutes(ctx, "F1", []tvbridge.Bar{bar(t10.Add(time.Hour), 1)},
		[]tvbridge.Range{{From: t10, To: t10.Add(time.Minute)}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
	if got := mustMinutes(t, s, "F1", t10, t10.Add(2*time.Hour)); len(got) != 0 {
		t.Fatalf("stored %v", got)
	}
}
