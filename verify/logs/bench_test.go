package logs

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// corpus returns n service-like log messages from 60 templates, with
// numbers, IP addresses, UUIDs, durations and user names as variables.
func corpus(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 1))
	users := make([]string, 500)
	for i := range users {
		users[i] = fmt.Sprintf("%c%c%c%c", 'a'+rng.IntN(26), 'a'+rng.IntN(26), 'a'+rng.IntN(26), 'a'+rng.IntN(26))
	}
	verbs := []string{"created", "updated", "deleted", "fetched", "listed", "archived"}
	things := []string{"order", "basket", "invoice", "user", "session", "payment", "shipment", "coupon", "review", "address"}
	out := make([]string, n)
	for i := range out {
		k := rng.IntN(60)
		switch k % 6 {
		case 0:
			out[i] = fmt.Sprintf("request %08x from 10.%d.%d.%d took %dms", rng.Uint32(), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(900))
		case 1:
			out[i] = fmt.Sprintf("%s %s %d by user %s", things[k%10], verbs[k/10], rng.IntN(1e6), users[rng.IntN(len(users))])
		case 2:
			out[i] = fmt.Sprintf("connection pool exhausted for shard %d after %d.%ds waiting on %s", rng.IntN(64), rng.IntN(5), rng.IntN(10), things[k%10])
		case 3:
			out[i] = fmt.Sprintf("session %08x-%04x-%04x-%04x-%012x expired for %s", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<16), rng.Uint64()&(1<<48-1), users[rng.IntN(len(users))])
		case 4:
			out[i] = fmt.Sprintf("cache %s miss rate %d%% over the last %d requests in region %s", things[k%10], rng.IntN(100), rng.IntN(1e4), verbs[k/10])
		default:
			out[i] = fmt.Sprintf("retrying %s call to http://%s.internal:%d/v1/%s (attempt %d of 5): %s", verbs[k/10], things[k%10], 8000+rng.IntN(100), things[(k+3)%10], rng.IntN(5)+1, []string{"EOF", "connection reset by peer", "i/o timeout"}[rng.IntN(3)])
		}
	}
	return out
}

// BenchmarkMinerAdd measures mining throughput on one core, in lines per
// second, on messages of 60 templates after the templates are learned:
// with the defaults, and as plain Drain (MaxValues -1).
func BenchmarkMinerAdd(b *testing.B) {
	lines := corpus(1<<16, 1)
	for _, c := range []struct {
		name      string
		maxValues int
	}{{"default", 0}, {"plainDrain", -1}} {
		b.Run(c.name, func(b *testing.B) {
			m := Miner{MaxValues: c.maxValues}
			for _, l := range lines {
				m.Add(l)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				m.Add(lines[i&(len(lines)-1)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(m.Len()), "templates")
		})
	}
}

// BenchmarkParseAndAdd adds parsing slog JSON lines to mining.
func BenchmarkParseAndAdd(b *testing.B) {
	msgs := corpus(1<<14, 2)
	lines := make([]string, len(msgs))
	for i, m := range msgs {
		lines[i] = fmt.Sprintf(`{"time":"2025-03-01T12:00:%02d.%03dZ","level":"ERROR","msg":"request failed","err":%q,"user":"u%d"}`, i%60, i%1000, m, i)
	}
	var m Miner
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := Parse(lines[i&(len(lines)-1)])
		m.Add(r.Message)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkMinerMemory measures the heap a Miner holds per 1,000
// templates of 10 words each, every template distinct.
func BenchmarkMinerMemory(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	vocab := make([]string, 2000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("%c%c%c%c%c%c", 'a'+rng.IntN(26), 'a'+rng.IntN(26), 'a'+rng.IntN(26), 'a'+rng.IntN(26), 'a'+rng.IntN(26), 'a'+rng.IntN(26))
	}
	msgs := make([]string, 10000)
	for i := range msgs {
		w := make([]string, 10)
		for j := range w {
			w[j] = vocab[rng.IntN(len(vocab))]
		}
		w[9] = fmt.Sprint(i)
		msgs[i] = strings.Join(w, " ")
	}
	var perK float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := &Miner{}
		for _, msg := range msgs {
			m.Add(msg)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perK = float64(after.HeapAlloc-before.HeapAlloc) / float64(m.Len()) * 1000
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perK, "B/1000templates")
}
