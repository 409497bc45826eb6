package stream

import (
	"fmt"
	"strings"
	"testing"
)

// Benchmarks of the v2 frame decoder: frames decoded per second on one
// core (issue 11's target: 1,000,000):
//
//	go test -run '^$' -bench 'BenchmarkDecode' -cpu 1 -count 5 ./tinvest/stream/
//
// Frames differ from one another (64 instruments, changing values), as the
// service writes them (camelCase, int64 as strings).

const benchInstruments = 64

func tradeFrames() [][]byte {
	out := make([][]byte, 4096)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"trade":{"figi":"BBG%09d","direction":"TRADE_DIRECTION_BUY","price":{"units":"%d","nano":%d},"quantity":"%d","time":"2026-03-02T10:%02d:%02d.%06dZ","instrumentUid":"e6123145-9665-43e0-8413-%012d","tradeSource":"TRADE_SOURCE_EXCHANGE"}}`,
			i%benchInstruments, 100+i%50, (i*7919)%1000*1000000, 1+i%97, i/60%60, i%60, i*31%1000000, i%benchInstruments)
	}
	return out
}

func candleFrames() [][]byte {
	out := make([][]byte, 4096)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"candle":{"figi":"BBG%09d","interval":"SUBSCRIPTION_INTERVAL_ONE_MINUTE","open":{"units":"179","nano":50000000},"high":{"units":"179","nano":%d},"low":{"units":"178","nano":950000000},"close":{"units":"178","nano":%d},"volume":"%d","time":"2026-03-02T10:%02d:00Z","lastTradeTs":"2026-03-02T10:%02d:27.432487Z","instrumentUid":"e6123145-9665-43e0-8413-%012d","candleSourceType":"CANDLE_SOURCE_EXCHANGE"}}`,
			i%benchInstruments, 70000000+i%9*10000000, 950000000+i%5*10000000, 1000+i, i/64%60, i/64%60, i%benchInstruments)
	}
	return out
}

func bookFrames(depth int) [][]byte {
	out := make([][]byte, 4096)
	for i := range out {
		var bids, asks []string
		for l := range depth {
			bids = append(bids, fmt.Sprintf(`{"price":{"units":"178","nano":%d},"quantity":"%d"}`, 970000000-l*10000000, 1+(i+l)%50))
			asks = append(asks, fmt.Sprintf(`{"price":{"units":"178","nano":%d},"quantity":"%d"}`, 980000000+l*1000000, 1+(i*3+l)%70))
		}
		out[i] = fmt.Appendf(nil, `{"orderbook":{"figi":"BBG%09d","depth":%d,"isConsistent":true,"bids":[%s],"asks":[%s],"time":"2026-03-02T10:00:01.%06dZ","limitUp":{"units":"191","nano":440000000},"limitDown":{"units":"156","nano":240000000},"instrumentUid":"e6123145-9665-43e0-8413-%012d","orderBookType":"ORDERBOOK_TYPE_EXCHANGE"}}`,
			i%benchInstruments, depth, strings.Join(bids, ","), strings.Join(asks, ","), i*7919%1000000, i%benchInstruments)
	}
	return out
}

func benchDecode(b *testing.B, frames [][]byte) {
	d := newDecoder()
	var f frame
	var bytes int64
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		data := frames[n%len(frames)]
		if err := d.decode(data, &f); err != nil {
			b.Fatal(err)
		}
		bytes += int64(len(data))
		n++
	}
	b.SetBytes(bytes / int64(n))
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "frames/s")
}

func BenchmarkDecodeTrade(b *testing.B)      { benchDecode(b, tradeFrames()) }
func BenchmarkDecodeCandle(b *testing.B)     { benchDecode(b, candleFrames()) }
func BenchmarkDecodeOrderBook1(b *testing.B) { benchDecode(b, bookFrames(1)) }
func BenchmarkDecodeOrderBook10(b *testing.B) {
	benchDecode(b, bookFrames(10))
}

// BenchmarkDecodeMixed is the mix a busy stream carries: per candle
// update, several trades and a book.
func BenchmarkDecodeMixed(b *testing.B) {
	tr, cd, bk := tradeFrames(), candleFrames(), bookFrames(10)
	var mix [][]byte
	for i := range 1024 {
		mix = append(mix, tr[4*i], tr[4*i+1], tr[4*i+2], cd[i], bk[i])
	}
	benchDecode(b, mix)
}
