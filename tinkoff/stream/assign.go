package stream

import "slices"

// ConnectionFIGIs returns, per connection slot (by index), the FIGIs it
// carries, sorted: for the operator console. It is safe for concurrent use.
func (p *Pool) ConnectionFIGIs() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]string, len(p.slots))
	for i, s := range p.slots {
		for figi := range s.subs {
			out[i] = append(out[i], figi)
		}
		slices.Sort(out[i])
	}
	return out
}
