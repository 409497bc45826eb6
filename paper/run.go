package paper

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"tvbridge"
)

// tapeBatch is how many tape entries the venue reads at a time.
const tapeBatch = 256

// match reads the tape and sweeps the books until ctx ends: trades fill
// resting orders they go through, quotes make the venue look at the new
// book of their instrument, and the sweep catches books no quote announced.
func (v *Venue) match(ctx context.Context) error {
	reader := v.subscribe()
	defer func() {
		if reader != nil {
			reader.Close()
		}
	}()
	sweep := v.clk.NewTicker(v.cfg.SweepInterval)
	defer sweep.Stop()

	buf := make([]tvbridge.TapeEntry, 0, tapeBatch)
	for {
		var wake <-chan struct{} // nil without a tape: that case never fires
		if reader != nil {
			var err error
			buf, wake, err = reader.Poll(buf[:0])
			switch {
			case errors.Is(err, tvbridge.ErrTooSlow):
				// Trades were lost; the sweep makes up for what books show.
				v.log.Warn("paper venue fell behind the tape; resubscribing")
				reader.Close()
				reader = v.subscribe()
				v.sweep()
				continue
			case err != nil:
				return fmt.Errorf("paper: reading the tape: %w", err)
			}
			for _, e := range buf {
				v.handle(e)
			}
			if len(buf) > 0 {
				// Busy: sweep when due, without waiting.
				select {
				case <-sweep.C():
					v.sweep()
				case <-ctx.Done():
					return nil
				default:
				}
				continue
			}
		}
		select {
		case <-wake:
		case <-sweep.C():
			v.sweep()
		case <-ctx.Done():
			return nil
		}
	}
}

func (v *Venue) subscribe() tvbridge.TapeReader {
	if v.cfg.Tape == nil {
		return nil
	}
	return v.cfg.Tape.Subscribe()
}

// handle matches one tape entry. A panic is logged and the entry skipped,
// so one bad tick cannot stop the venue.
func (v *Venue) handle(e tvbridge.TapeEntry) {
	defer func() {
		if p := recover(); p != nil {
			v.log.Error("paper: panic while matching a tape entry", "seq", e.Seq, "figi", e.Tick.FIGI, "panic", p)
		}
	}()
	switch e.Tick.Kind {
	case tvbridge.TickTrade:
		if !v.cfg.TradesFromCore {
			v.onTrade(e.Tick.FIGI, e.Tick.Price, e.Tick.Size, 0)
		}
	case tvbridge.TickQuote:
		v.onBook(e.Tick.FIGI)
	}
}

// Trade matches a trade the trading core hands over, at its market-data log
// position (tvbridge.TradeFeed); only with Config.TradesFromCore, since the
// venue reads trades from the tape otherwise.
func (v *Venue) Trade(figi string, price, sizeLots float64, pos uint64) {
	if !v.cfg.TradesFromCore {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			v.log.Error("paper: panic while matching a trade", "pos", pos, "figi", figi, "panic", p)
		}
	}()
	v.onTrade(figi, price, sizeLots, pos)
}

// sweep checks every instrument with resting orders against its latest
// book, one instrument at a time so submits are not held up meanwhile.
func (v *Venue) sweep() {
	v.mu.Lock()
	figis := slices.Collect(maps.Keys(v.books))
	v.mu.Unlock()
	for _, figi := range figis {
		v.sweepOne(figi)
	}
}

func (v *Venue) sweepOne(figi string) {
	defer func() {
		if p := recover(); p != nil {
			v.log.Error("paper: panic while sweeping", "figi", figi, "panic", p)
		}
	}()
	v.onBook(figi)
}
