// netrpc-bench: the Go net/rpc (gob over TCP) peer of the geerpc-cpp benchmark.
// Only the standard library is used so it builds offline.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"net"
	"net/rpc"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type Args struct{ A, B int }

type Bench struct{}

func (*Bench) Sum(args *Args, reply *int) error { *reply = args.A + args.B; return nil }

func (*Bench) Echo(args []byte, reply *[]byte) error { *reply = args; return nil }

// Phases shared by all callers; only calls completing in phaseMeasure count.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "netrpc-bench: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "server" && os.Args[1] != "client") {
		fail("usage: netrpc-bench server|client --addr HOST:PORT [--scenario seq|shared|multi --payload N --seconds S]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen/dial address")
	scenario := fs.String("scenario", "seq", "seq|shared|multi")
	payload := fs.Int("payload", 0, "0 = Bench.Sum, N>0 = Bench.Echo with N bytes")
	seconds := fs.Float64("seconds", 3, "measured duration")
	fs.Parse(os.Args[2:])
	if os.Args[1] == "server" {
		serve(*addr)
	} else {
		runClient(*addr, *scenario, *payload, *seconds)
	}
}

func serve(addr string) {
	if err := rpc.Register(new(Bench)); err != nil {
		fail("register: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail("listen: %v", err)
	}
	// os.Stdout is unbuffered, so the driver sees this line immediately.
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	rpc.Accept(ln) // Go sets TCP_NODELAY on accepted/dialed TCP conns by default.
}

func layout(scenario string) (conns, callersPerConn int) {
	switch scenario {
	case "seq":
		return 1, 1
	case "shared":
		return 1, 64
	case "multi":
		return 16, 16
	}
	fail("unknown scenario %q", scenario)
	return
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// call issues one request and verifies the reply; tag makes each echo
// distinguishable so a stale or misrouted reply cannot pass.
func call(c *rpc.Client, payload int, buf []byte, tag byte) {
	if payload == 0 {
		var sum int
		if err := c.Call("Bench.Sum", &Args{1, 2}, &sum); err != nil {
			fail("Bench.Sum: %v", err)
		}
		if sum != 3 {
			fail("Bench.Sum: got %d, want 3", sum)
		}
		return
	}
	buf[0] = tag
	var reply []byte
	if err := c.Call("Bench.Echo", buf, &reply); err != nil {
		fail("Bench.Echo: %v", err)
	}
	if !bytes.Equal(reply, buf) {
		fail("Bench.Echo: reply of %d bytes differs from the %d bytes sent", len(reply), len(buf))
	}
}

func runClient(addr, scenario string, payload int, seconds float64) {
	conns, perConn := layout(scenario)
	var phase atomic.Int32
	var measured atomic.Int64
	lats := make([][]int64, conns*perConn) // one slice per caller: no locking on the hot path
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		c, err := rpc.Dial("tcp", addr)
		if err != nil {
			fail("dial %s: %v", addr, err)
		}
		defer c.Close()
		for j := 0; j < perConn; j++ {
			w := i*perConn + j
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, payload)
				for k := range buf {
					buf[k] = byte(k * 7)
				}
				for n := 0; phase.Load() != phaseStop; n++ {
					start := time.Now()
					call(c, payload, buf, byte(n))
					d := time.Since(start)
					if phase.Load() == phaseMeasure {
						lats[w] = append(lats[w], int64(d))
						measured.Add(1)
					}
				}
			}()
		}
	}

	time.Sleep(500 * time.Millisecond)
	cpu0, t0 := cpuSeconds(), time.Now()
	phase.Store(phaseMeasure)
	deadline := t0.Add(time.Duration(seconds * float64(time.Second)))
	for now := time.Now(); now.Before(deadline); now = time.Now() {
		time.Sleep(minDur(time.Second, deadline.Sub(now)))
		fmt.Fprintf(os.Stderr, "netrpc %s %dB: %.1fs %d calls\n", scenario, payload,
			time.Since(t0).Seconds(), measured.Load())
	}
	phase.Store(phaseStop)
	elapsed, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	wg.Wait() // callers finish their in-flight call before we read lats

	var all []int64
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) == 0 {
		fail("no calls completed in the measured window")
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	fmt.Printf("RESULT impl=netrpc scenario=%s payload=%d codec=gob calls=%d seconds=%.3f calls_per_s=%.1f p50_us=%.1f p99_us=%.1f client_cpu_s=%.3f\n",
		scenario, payload, len(all), elapsed, float64(len(all))/elapsed,
		percentileUs(all, 0.50), percentileUs(all, 0.99), cpu)
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// percentileUs uses the nearest-rank definition, same as raw_echo.
func percentileUs(sorted []int64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return float64(sorted[i]) / 1e3
}
