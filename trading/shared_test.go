package trading_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"tvbridge"
	"tvbridge/tape"
	"tvbridge/trading"
)

// fakeLog is a shared market-data log for one tape: the entry with local
// number seq has position seq<<8, so positions and numbers differ, as they
// do on a node that started following late.
type fakeLog struct {
	mu     sync.Mutex
	trades []loggedTrade
}

type loggedTrade struct {
	pos  uint64
	tick tvbridge.Tick
}

const posShift = 8

// append puts a trade on the log and the tape.
func (l *fakeLog) append(tp *tape.Tape, tick tvbridge.Tick) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tp.Append(tick)
	l.trades = append(l.trades, loggedTrade{pos: tp.LastSeq() << posShift, tick: tick})
}

// shared is the trading.SharedTape of the log and tape.
type shared struct {
	log *fakeLog
	tp  *tape.Tape
}

func (s shared) Position(seq uint64) (uint64, bool) { return seq << posShift, seq > 0 }

func (s shared) End(context.Context) (uint64, error) {
	return (s.tp.LastSeq()+1)<<posShift - 1, nil
}

func (s shared) Trades(_ context.Context, after, through uint64, fn func(uint64, tvbridge.Tick)) (bool, error) {
	s.log.mu.Lock()
	trades := append([]loggedTrade(nil), s.log.trades...)
	s.log.mu.Unlock()
	for _, t := range trades {
		if t.pos > after && t.pos <= through {
			fn(t.pos, t.tick)
		}
	}
	return false, nil
}

// withShared runs the Manager in cluster mode on a fake log.
func withShared() envOption {
	return func(e *env) {
		e.log = &fakeLog{}
		e.cfg = append(e.cfg, func(c *trading.Config) {
			c.Shared = shared{log: e.log, tp: e.tape}
			c.MarkEvery = time.Hour // saved when Run ends
		})
	}
}

// down stops the trading owner: until start, trades reach the log and the
// tape with nobody evaluating them.
func (e *env) down() {
	e.t.Helper()
	e.stop()
}

// up starts the next owner on the same store.
func (e *env) up() {
	e.open()
	e.run()
}

func (e *env) mark() uint64 {
	e.t.Helper()
	pos, ok, err := e.store.(trading.TapeMarks).TapeMark(context.Background())
	if err != nil || !ok {
		e.t.Fatalf("TapeMark = %d, %v, %v", pos, ok, err)
	}
	return pos
}

// A stop whose price is crossed and left while no owner runs triggers when
// the next owner replays the log: the last price alone would not.
func TestNewOwnerReplaysTheGap(t *testing.T) {
	e := newEnv(t, withShared())
	acct := e.account(user1)
	o := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiA, Side: tvbridge.Sell, Type: tvbridge.StopOrder, Qty: 10, StopPrice: 99})
	s := e.sentinel(user1, acct)
	e.trade(figiA, 100.5)
	e.flushTape(s.ID)
	e.down()
	if got := e.mark(); got != e.tape.LastSeq()<<posShift {
		t.Fatalf("mark %d after the owner stopped, want the last entry's position %d", got, e.tape.LastSeq()<<posShift)
	}

	e.trade(figiA, 98.9) // crosses the stop
	e.trade(figiA, 100.2)
	e.market.set(figiA, 100.1, 100.3, 100.2)
	e.up()
	sub := next(t, e.venue.submits, "the stop, triggered by the replayed trade")
	if sub.ID != o.ID || sub.Type != tvbridge.MarketOrder || sub.Side != tvbridge.Sell {
		t.Fatalf("submitted %+v", sub)
	}
	if got := e.order(user1, acct, o.ID); got.Message != "triggered by a trade at 98.9" {
		t.Errorf("order message %q", got.Message)
	}
}

// Replaying from a mark that lags changes nothing an owner already
// evaluated: a trailing stop raised by a later trade is not hit by the
// earlier, lower one replayed after it, and a stop placed after a trade is
// not triggered by it.
func TestReplayKeepsWhatWasEvaluated(t *testing.T) {
	e := newEnv(t, withShared())
	acct := e.account(user1)
	lagging := e.tape.LastSeq() << posShift

	pos := e.trailingLong(acct)
	e.trade(figiA, 100.05) // would hit a stop raised to 100.4 if replayed after 100.5
	e.trade(figiA, 100.5)
	e.until("the stop follows the high", func() bool { return near(e.order(user1, acct, pos.StopLossID).StopPrice, 100.4) })

	// A sell stop of another instrument placed after a trade below it:
	// flushTape's trade at 40, which the owner has evaluated when it
	// returns.
	e.flushTape(e.sentinel(user1, acct).ID)
	e.market.set(figiB, 45.9, 46.1, 46)
	later := e.place(user1, acct, tvbridge.OrderRequest{FIGI: figiB, Side: tvbridge.Sell, Type: tvbridge.StopOrder, Qty: 1, StopPrice: 45.5})
	e.down()

	// The owner died before saving its mark: the next one replays all of it.
	if err := e.store.(trading.TapeMarks).SaveTapeMark(context.Background(), lagging); err != nil {
		t.Fatal(err)
	}
	e.up()
	e.trade(figiB, 45) // live
	if sub := next(t, e.venue.submits, "the figiB stop, on the live trade"); sub.ID != later.ID {
		t.Fatalf("submitted %+v: a replayed trade acted on an order it had acted on or preceded", sub)
	}
	if got := e.order(user1, acct, later.ID); got.Message != "triggered by a trade at 45" {
		t.Errorf("the later stop: %q", got.Message)
	}
	if got := e.order(user1, acct, pos.StopLossID); got.Status != tvbridge.OrderWorking && got.Status != tvbridge.OrderInactive || !near(got.StopPrice, 100.4) {
		t.Errorf("trailing stop after the replay: %+v", got)
	}
}
