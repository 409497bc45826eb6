package ingest

import (
	"context"
	"testing"
	"time"

	"tvbridge"
)

// handleAt moves the clock to the event's receipt and handles it.
func handleAt(s *Service, clk interface{ Set(time.Time) }, ev *tvbridge.CandleEvent) {
	clk.Set(ev.Received)
	s.handle(ev)
}

func candleEvent(figi string, recv, minute time.Time, o, h, l, c, v float64) *tvbridge.CandleEvent {
	return &tvbridge.CandleEvent{EventMeta: tvbridge.EventMeta{Received: recv},
		Candle: tvbridge.Candle{FIGI: figi, Interval: tvbridge.Interval1Min, Time: minute, Open: o, High: h, Low: l, Close: c, Volume: v}}
}

// A sweep handles the events already received before it closes minutes on
// the clock: a final received within the grace, still queued when the
// clock passed the grace, is applied, not dropped as a correction.
func TestSweepHandlesReceivedEventsFirst(t *testing.T) {
	m0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	events := make(chan tvbridge.Event, 4)
	s, _, clk := testService(t, quietUpstream{events: events}, m0, "F1")
	s.handle(candleEvent("F1", m0.Add(30*time.Second), m0, 100, 100, 100, 100, 1))
	events <- candleEvent("F1", m0.Add(61*time.Second), m0, 100, 102, 100, 102, 2) // the final
	clk.Set(m0.Add(65 * time.Second))                                              // the loop was busy
	if !s.sweep(events) {
		t.Fatal("sweep reported a closed channel")
	}
	got := s.memoryBars("F1", m0, m0.Add(time.Minute))
	if len(got) != 1 || got[0].Close != 102 || got[0].Volume != 2 {
		t.Fatalf("closed %v, want the final (close 102, volume 2)", got)
	}
	if st := s.Engine().Stats(); st.Corrections != 0 {
		t.Fatalf("%d corrections", st.Corrections)
	}
}

func TestTakeAuditSplitsAtTheLimit(t *testing.T) {
	s, _, _ := testService(t, quietUpstream{}, t0, "F1")
	s.queueAuditLocked("F1", []tvbridge.Range{rng(0, 10), rng(20, 30)})
	due := s.takeAuditLocked("F1", t0.Add(25*time.Minute))
	if len(due) != 2 || !due[1].To.Equal(t0.Add(25*time.Minute)) {
		t.Fatalf("due %v", due)
	}
	if rest := s.auditQueue["F1"]; len(rest) != 1 || !rest[0].From.Equal(t0.Add(25*time.Minute)) || !rest[0].To.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("left %v", rest)
	}
	if due := s.takeAuditLocked("F1", t0.Add(40*time.Minute)); len(due) != 1 || len(s.auditQueue["F1"]) != 0 {
		t.Fatalf("due %v, left %v", due, s.auditQueue["F1"])
	}
}

// The audit compares streamed minutes with the exchange's candles and counts
// each that differs; following the exchange it replaces them and makes the
// minutes immutable; following the stream it leaves history alone.
func TestAuditCountsAndFollows(t *testing.T) {
	for _, follows := range []Follow{FollowStream, FollowExchange} {
		t.Run(string(follows), func(t *testing.T) {
			ctx := context.Background()
			m0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			up := &restUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)}, revised: map[int64]float64{}}
			s, store, clk := testService(t, up, m0, "F1")
			s.cfg.HistoryFollows = follows
			// The stream: minute 0 as the exchange has it, with its final;
			// minute 1 without its last trade (close 102 on the exchange).
			p0, p1 := 100.0, 101.0
			handleAt(s, clk, candleEvent("F1", m0.Add(10*time.Second), m0, p0, p0, p0, p0, 10))
			handleAt(s, clk, candleEvent("F1", m0.Add(60*time.Second), m0, p0, p0, p0, p0, 10))
			m1 := m0.Add(time.Minute)
			up.revised[m1.Unix()] = 102
			handleAt(s, clk, candleEvent("F1", m1.Add(10*time.Second), m1, p1, p1, p1, p1, 9))
			clk.Set(m0.Add(3 * time.Minute))
			s.engine.Sweep()
			s.flush(ctx)
			s.mu.Lock()
			s.queueAuditLocked("F1", []tvbridge.Range{{From: m0, To: m0.Add(2 * time.Minute)}})
			s.mu.Unlock()
			clk.Set(m0.Add(5 * time.Minute))
			s.auditPass(ctx)

			p := s.Progress()
			if p.AuditedMinutes.Load() != 2 || p.ExchangeDiffers.Load() != 1 || p.ExchangeDiffersFinal.Load() != 0 {
				t.Fatalf("audited %d, differ %d, with final %d; want 2, 1, 0",
					p.AuditedMinutes.Load(), p.ExchangeDiffers.Load(), p.ExchangeDiffersFinal.Load())
			}
			got, err := s.Minutes(ctx, "F1", m0, m0.Add(2*time.Minute))
			if err != nil || len(got) != 2 {
				t.Fatalf("history %v %v", got, err)
			}
			cov, _ := store.Covered(ctx, "F1", m0, m0.Add(2*time.Minute))
			switch follows {
			case FollowStream:
				if got[1].Close != p1 || p.ExchangeReplaced.Load() != 0 {
					t.Fatalf("following the stream, minute 1 is %v (replaced %d)", got[1], p.ExchangeReplaced.Load())
				}
			case FollowExchange:
				if got[1].Close != 102 || got[1].Volume != 10 || p.ExchangeReplaced.Load() != 1 {
					t.Fatalf("following the exchange, minute 1 is %v (replaced %d)", got[1], p.ExchangeReplaced.Load())
				}
				if len(cov) != 1 || !cov[0].To.Equal(m0.Add(2*time.Minute)) {
					t.Fatalf("audited minutes not covered: %v", cov)
				}
			}
			if !s.AuditedUntil().Equal(m0.Add(3 * time.Minute)) {
				t.Fatalf("audited until %v", s.AuditedUntil())
			}
		})
	}
}

// A minute whose final state was streamed and still differs is a defect,
// counted apart.
func TestAuditCountsDifferencesDespiteTheFinal(t *testing.T) {
	ctx := context.Background()
	m0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	up := &restUpstream{quietUpstream: quietUpstream{events: make(chan tvbridge.Event)}, revised: map[int64]float64{m0.Unix(): 99}}
	s, _, clk := testService(t, up, m0, "F1")
	handleAt(s, clk, candleEvent("F1", m0.Add(10*time.Second), m0, 100, 100, 100, 100, 10))
	handleAt(s, clk, candleEvent("F1", m0.Add(60*time.Second), m0, 100, 100, 100, 100, 10))
	clk.Set(m0.Add(2 * time.Minute))
	s.engine.Sweep()
	s.flush(ctx)
	s.mu.Lock()
	s.queueAuditLocked("F1", []tvbridge.Range{{From: m0, To: m0.Add(time.Minute)}})
	s.mu.Unlock()
	clk.Set(m0.Add(4 * time.Minute))
	s.auditPass(ctx)
	if p := s.Progress(); p.ExchangeDiffers.Load() != 1 || p.ExchangeDiffersFinal.Load() != 1 {
		t.Fatalf("differ %d, with final %d; want 1, 1", p.ExchangeDiffers.Load(), p.ExchangeDiffersFinal.Load())
	}
}
