package check

import (
	"fmt"
	"testing"
	"time"

	"tvbridge/clock"
)

// BenchmarkStreamLine measures the checker's work per /streaming line
// (parse, field and time rules, identical-data hash, minute bars): what
// bounds the stream rate it can follow without delaying receipt stamps.
func BenchmarkStreamLine(b *testing.B) {
	clk := clock.NewFake(fakeStart)
	sr := &streamRun{r: testRunner(clk), windowStart: 1, windowEnd: 1 << 40}
	c := newConnState(1, sr) // not connection 0: schema sampling is capped anyway
	c.lastRecv = clk.Now()
	lines := make([][]byte, 64)
	for i := range lines {
		lines[i] = []byte(fmt.Sprintf(`{"f":"t","id":"SYM%d","p":%d.25,"s":%d,"t":%d}`, i%8, 100+i, 1+i%5, fakeStart.Unix()))
	}
	now := clk.Now().Add(200 * time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.onLine(lines[i%len(lines)], now)
	}
}

// BenchmarkParseHistory measures parsing a day of 1-minute bars.
func BenchmarkParseHistory(b *testing.B) {
	bars := make([]bar, 1440)
	for i := range bars {
		bars[i] = bar{T: fakeStart.Unix() + int64(i)*60, O: 100.5, H: 101.25, L: 99.75, C: 100.125, V: float64(i + 1)}
	}
	body := []byte(encodeBars(bars))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := parseHistory(body); err != nil {
			b.Fatal(err)
		}
	}
}
