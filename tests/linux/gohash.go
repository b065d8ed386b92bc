// gohash: goroutines on several threads, channels and timers, and a hash of stdin.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	runtime.GOMAXPROCS(4)
	results := make(chan int, 16)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			sum := 0
			for i := 0; i < 200000; i++ {
				sum += i % (id + 3)
			}
			results <- sum
		}(w)
	}
	go func() { wg.Wait(); close(results) }()
	total := 0
	for r := range results {
		total += r
	}
	fmt.Println("goroutines:", total)

	// Both must happen, in whichever order: on a loaded machine the thread may
	// sleep through the whole 50 ms, and then the timer and a tick are ready at
	// once, so counting only the ticks before the timer would depend on load.
	start := time.Now()
	timer := time.NewTimer(50 * time.Millisecond)
	ticker := time.NewTicker(10 * time.Millisecond)
	ticks := 0
	fired := false
	for !fired || ticks < 2 {
		select {
		case <-ticker.C:
			ticks++
		case <-timer.C:
			fired = true
		}
	}
	ticker.Stop()
	fmt.Println("timer fired after >= 50ms:", time.Since(start) >= 50*time.Millisecond, "ticks >= 2:", ticks >= 2)

	h := sha256.New()
	n, err := io.Copy(h, os.Stdin)
	if err != nil {
		fmt.Println("read error:", err)
		os.Exit(1)
	}
	fmt.Printf("stdin: %d bytes, sha256 %x\n", n, h.Sum(nil))
}
