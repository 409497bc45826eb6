// Package bars is the bar engine: it turns upstream market-data events into
// what TradingView consumes — synthetic trades, quotes and daily-bar updates
// for the tape, and closed 1-minute bars for the store — so that the bars
// TradingView builds from the stream equal the bars /history serves.
//
// The engine is fed from one goroutine (Handle and Sweep) and read from any
// goroutine (OpenMinute, LastClosed, Daily, Stats). Its output goes to a Sink,
// called on the feeding goroutine.
//
// # Trades from candle updates
//
// This section is the rule for upstreams without a trade stream, and for
// the minutes of upstreams with one that fall back to it; an instrument
// whose upstream streams the exchange's trades (T-Invest API v2) streams
// those instead (see realtrades.go for the rule, its checks against the
// candle updates and the per-minute fallback).
//
// The upstream (Tinkoff v1) has no trade stream. It re-sends the forming
// 1-minute candle (open, high, low, close, cumulative volume) many times a
// minute, sometimes twice, sometimes out of order. For each instrument the
// engine keeps the open minute's bar AS STREAMED: the bar rebuilt, with
// TradingView's rule, from the trades it has emitted (open = first trade,
// high = max, low = min, close = last, volume = running sum of sizes, bar
// time = minute floor of trade time). That bar is what MinutesClosed receives
// and what OpenMinute returns, always; it equals the upstream candle whenever
// the upstream was consistent.
//
// Only "1min" candles feed bars; other intervals are counted and ignored.
// A candle with a non-finite price or volume, a negative volume, a time that
// is not a whole minute, or a minute starting more than 10 s after our clock
// (maxEarly) is invalid: counted, nothing else.
//
// Each update for the open minute is classified against the streamed bar S
// and against the newest update accepted for that minute:
//
//   - identical to the newest accepted update, or to S: duplicate.
//   - volume below S's: stale (an older snapshot), unless it shows an open
//     other than S's or a high/low beyond S's, which no older snapshot can:
//     then inconsistent. Nothing is emitted.
//   - same volume as S but other prices: pending without volume. A trade
//     needs a size > 0, so nothing can be streamed; the update is remembered
//     only for duplicate detection. The next update with more volume covers
//     it, because high and low are cumulative. If none comes, the minute
//     closes as streamed.
//   - more volume than S: streamed. With dv the increase, the engine emits,
//     in this order: on a new minute a trade at the open; a trade at the new
//     high if the high rose; one at the new low if the low fell; then one at
//     the close. The extreme equal to the close goes last and the close is
//     then not repeated; when neither extreme equals the close, the one
//     nearer the previous price goes first. Nothing else is ever redundant:
//     at least one trade (the close) carries the volume. 1 to 4 prices.
//
// Sizes: when both volumes are integers below 2^53 and dv >= n (the number
// of trades), the sizes are 1, 1, ..., dv-(n-1). Otherwise they are the binary
// fractions dv/2, dv/4, ... and the remainder last, where the remainder is
// taken against the candle's volume (v - (S.volume + dv/2 + dv/4 + ...)) so
// that the bar's running volume, summed in float64 in stream order as
// TradingView sums it, lands exactly on v; for a new minute (S.volume = 0)
// this is exactly "the sizes sum to dv". Every size is > 0. One fractional
// trade cannot always land exactly on v (the sum can round to a tie on the
// wrong side); then the close is sent as two trades at the same price, the
// first of dv/2, after which the remainder is exact. An increase that still
// cannot be split (it underflows when halved) is treated as pending without
// volume.
//
// After streaming, if S still differs from the candle (the open changed, the
// high fell, the low rose, or the candle is not even self-consistent), the
// update is counted as inconsistent: the engine streamed what it could
// consistently (never a trade that would undo an earlier one) and S stays
// what was streamed.
//
// # Minutes closing
//
// An update for a newer minute closes the open minute and opens the new one:
// a minute ends on the instrument's own next event. The upstream sends a
// minute's final state just after the next minute begins (its last trades
// may reach the stream only then), so a minute without a newer update closes
// CloseGrace after its end, by Sweep or lazily when the instrument's next
// event is handled, so the result does not depend on how often Sweep runs.
// Whether an update is within the grace is judged by its receipt time, not
// by when it is handled: a busy event loop does not turn a final into a
// correction. (The caller must handle the events received before a Sweep
// first; package ingest drains its queue before every Sweep.) The grace
// bounds the tick delay of a late final: its trades are stamped in their
// minute, so they reach TradingView up to 1 s + CloseGrace after their time,
// and TradingView's streaming test fails a tick more than 5 s late.
//
// A minute with no streamed volume closes silently: bars with zero volume
// never exist. Closed bars go to Sink.MinutesClosed once, marked Final when
// the upstream's final state of the minute reached the stream (an update
// received after the minute ended, before any newer minute's, equal to the
// streamed bar). A bar that is not Final may lack the minute's last trades
// (a connection dropped at the turn of the minute, or the upstream never
// sent the final state); only the REST candles can tell (package ingest
// audits them).
//
// Every minute starting before LastClosed is closed, including minutes that
// were skipped (no update, or only updates that arrived after their grace).
// An update for a closed minute emits nothing and never changes a closed bar:
// if it is for the most recently closed bar and contains nothing beyond it
// (no more volume, same open, high/low within) it is out-of-order; anything
// else is a correction (counted, logged at debug). Corrections are the
// backfill's business (REST candles), not the stream's.
//
// # Tick times
//
// Trade ticks are stamped with whole Unix seconds: the receipt time truncated
// to the second, raised to the previous trade tick of the instrument if it is
// earlier (so time never goes backwards), then clamped into the candle's
// minute [start, start+59s] — so a late final update for minute M is stamped
// M+59s. All trades of one update share the stamp. A tick is never stamped
// after the engine's clock: when the upstream's clock runs ahead of ours and
// a new minute's update arrives before that minute has started here, the
// update waits (counted as deferred) and is streamed, stamped at the minute's
// first second, as soon as our clock reaches it (Sweep or the next event).
// While it waits, a newer update for the minute replaces it and an older one
// is stale. Only then can a trade's stamp exceed its receipt time, by the
// clock skew.
// If clamping would move a trade before the previous trade tick, the update is
// a correction instead (it cannot happen for the open minute; it is a guard).
//
// # Quotes
//
// An order book becomes a quote (best bid, best ask and their sizes) when it
// was received inside a session period of the instrument's schedule (if it
// has one) while its latest trading status (instrument_info), if any, is a
// trading one: outside, the upstream still sends the last book, on every
// subscribe and as re-sends, and a stale snapshot is not a real-time quote.
// It must also be at most QuoteMaxAge old at handling time (by receipt), not older than the
// book behind the current quote, has both sides, valid best levels (finite
// prices, positive finite sizes) and is not crossed (bid > ask; a locked book,
// bid == ask, is allowed). A quote tick is emitted only when one of the four
// numbers changed; latest wins. Its time is the receipt second, never before
// the previous quote tick and never after the engine's clock.
//
// # Daily bars
//
// An instrument with a Schedule has a trading day: Schedule.TradingDay of the
// minute's start, stamped 00:00 UTC of that date. The day's bar aggregates
// that day's 1-minute bars as streamed, in time order: open = first minute's
// open, high/low = max/min, close = last minute's close, volume = running sum
// of minute volumes (exactly how /history builds a daily bar from minutes).
// Daily returns it. With DailyBars on, a TickDaily carrying the day's bar so
// far, stamped 00:00 UTC of the trading day as TradingView's "d" message
// wants, is emitted when the bar changes, at most once per clock second per
// instrument; a change held back by that limit is emitted by the next Sweep
// in a later second, or when the minute closes, whichever is first, so the
// final state of every minute always reaches the tape. For a session that
// opens on the previous calendar day (overnight), that stamp lies ahead of
// the clock until UTC midnight; TradingView's format leaves no choice.
//
// A minute whose start lies in no session period of its schedule (should
// not happen with a correct schedule) is still a 1-minute bar; it belongs to
// no trading day, is counted as out of session, and changes no daily bar.
//
// # Restarts
//
// Restore tells the engine which minutes the store already has, so they are
// treated as closed, and seeds the day's bar from the stored minutes of the
// current trading day.
package bars
