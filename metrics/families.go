package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"tvbridge/internal/hist"
)

// A collector reads one source at scrape time. Its families are declared
// when it is built (Describe sends them all, so the registry checks names
// and labels once), and Collect emits const metrics from a fresh snapshot.
type collector struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// family is one declared metric family.
type family struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

// emit sends one sample of f.
func (f family) emit(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, labels...)
}

// histFamily is a declared histogram family.
type histFamily struct{ desc *prometheus.Desc }

// emit sends s, a latency histogram, in seconds.
func (f histFamily) emit(ch chan<- prometheus.Metric, s hist.Snapshot, labels ...string) {
	ch <- prometheus.MustNewConstHistogram(f.desc, s.Count, s.Sum.Seconds(), s.Cumulative(), labels...)
}

// builder declares the families of one collector.
type builder struct{ descs []*prometheus.Desc }

func (b *builder) declare(name, help string, labels []string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	b.descs = append(b.descs, d)
	return d
}

func (b *builder) counter(name, help string, labels ...string) family {
	return family{b.declare(name, help, labels), prometheus.CounterValue}
}

func (b *builder) gauge(name, help string, labels ...string) family {
	return family{b.declare(name, help, labels), prometheus.GaugeValue}
}

func (b *builder) histogram(name, help string, labels ...string) histFamily {
	return histFamily{b.declare(name, help, labels)}
}

// done returns the collector of the declared families.
func (b *builder) done(collect func(ch chan<- prometheus.Metric)) prometheus.Collector {
	return &collector{descs: b.descs, collect: collect}
}
