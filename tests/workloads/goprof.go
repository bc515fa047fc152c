// goprof writes a CPU profile with Go's own runtime/pprof, so that the tests
// can check podflame reads pprof files it did not write. hotLoop takes
// nearly all of the CPU time.
package main

import (
	"os"
	"runtime/pprof"
	"time"
)

var sink uint64

//go:noinline
func hotLoop(d time.Duration) {
	end := time.Now().Add(d)
	x := sink
	for time.Now().Before(end) {
		for i := 0; i < 100000; i++ {
			x = x*2862933555777941757 + 3037000493
		}
	}
	sink = x
}

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	hotLoop(1500 * time.Millisecond)
	pprof.StopCPUProfile()
	f.Close()
}
