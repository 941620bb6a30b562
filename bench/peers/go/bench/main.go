// go_bench - the Go side of eddy's microbenchmarks (bench/bench_spawn.c,
// bench_yield.c, bench_chan.c, bench_sync.c) where Go has the same thing:
// goroutines for tasks, channels for mpsc and oneshot channels.  Printed in
// the same format:
//
//	RESULT name=go_<eddy case> ns_per_op=<median> min=.. max=.. reps=7
//
// GOMAXPROCS is 1 (-threads N to change it): one thread runs goroutines,
// like eddy's current-thread runtime.  Every case runs one warm-up and 7
// measured repetitions.  The operation counts make one repetition take about
// 0.1 s (-q: a fifth); the figure compared is ns per operation.
//
//	group spawn
//	  spawn_join      1,024 goroutines, each with a 1-slot channel as its join
//	                  handle (it sends its index), then receive each; repeat
//	  spawn_join_one  the same, one goroutine at a time
//	  spawn_detached  no handle: a sync.WaitGroup per batch of 1,024
//	group yield
//	  yield_one       one goroutine calls runtime.Gosched() N times; main waits
//	  yield_two       two goroutines, N/2 each
//	  yield_root      the main goroutine yields N times
//	group chan
//	  mpsc_uncontended_bounded      a 5,000-slot channel: send 5,000, receive
//	                                5,000 (ns per value); Go has no unbounded
//	                                channel
//	  mpsc_contended_tasks_{cap5000,cap64}  5 goroutines x 1,000 values into
//	                                one consumer
//	  mpsc_pingpong_tasks           a value back and forth over two 1-slot
//	                                channels (ns per round trip)
//	  oneshot_pingpong_tasks        two fresh 1-slot channels per round trip:
//	                                the request carries the reply channel and
//	                                the channel of the next request
//	group sync
//	  mutex_lock_await_uncontended  sync.Mutex Lock + Unlock (Go's lock blocks
//	                                the goroutine; there is no async lock)
//	  semaphore_acquire_uncontended a 4-slot channel as semaphore: send to
//	                                acquire, receive to release
//	  mutex_contended_tasks_N10     10 goroutines x 1,000 locks of a
//	                                sync.Mutex, runtime.Gosched() inside
//	  notify_pingpong_tasks         two goroutines take turns via two 1-slot
//	                                chan struct{} (a stored permit, like Notify)
//	group timers
//	  timer_arm_cancel              time.NewTimer(1 s) + Stop
//	  timer_arm_cancel_10k          10,000 NewTimer(1 s + i ms), then Stop all
//
// Usage: go_bench [-q] [-g spawn|yield|chan|sync|timers] [-c CASE] [-threads N]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

const runs = 7

var (
	quick   = flag.Bool("q", false, "quick: fewer operations")
	group   = flag.String("g", "", "run only this group (spawn, yield, chan, sync)")
	only    = flag.String("c", "", "run only this case")
	threads = flag.Int("threads", 1, "GOMAXPROCS")
)

func d(full int) int {
	if *quick {
		return full / 5
	}
	return full
}

func pick(full, q int) int {
	if *quick {
		return q
	}
	return full
}

func fail(what string) {
	fmt.Fprintf(os.Stderr, "go_bench: %s: wrong result\n", what)
	os.Exit(1)
}

func report(grp, name string, f func() float64) {
	if *group != "" && *group != grp {
		return
	}
	full := "go_" + name
	if *only != "" && *only != name && *only != full {
		return
	}
	f() // warm-up
	r := make([]float64, runs)
	for i := range r {
		r[i] = f()
	}
	sort.Float64s(r)
	fmt.Printf("%-42s median %9.1f ns/op   (min %.1f, max %.1f)\n", full, r[runs/2], r[0], r[runs-1])
	fmt.Printf("RESULT name=%s ns_per_op=%.1f min=%.1f max=%.1f reps=%d\n", full, r[runs/2], r[0], r[runs-1], runs)
	os.Stdout.Sync()
}

func perOp(t0 time.Time, ops int) float64 {
	return float64(time.Since(t0).Nanoseconds()) / float64(ops)
}

// ---- spawn ----------------------------------------------------------------

func spawnJoin(n, batch int) float64 {
	handles := make([]chan int, batch)
	t0 := time.Now()
	sum, done := 0, 0
	for done < n {
		k := batch
		if n-done < k {
			k = n - done
		}
		for i := 0; i < k; i++ {
			h := make(chan int, 1)
			handles[i] = h
			go func(idx int) { h <- idx }(done + i)
		}
		for i := 0; i < k; i++ {
			sum += <-handles[i]
		}
		done += k
	}
	dt := perOp(t0, n)
	if sum != n*(n-1)/2 {
		fail("spawn_join")
	}
	return dt
}

func spawnDetached(n, batch int) float64 {
	var wg sync.WaitGroup
	t0 := time.Now()
	done := 0
	for done < n {
		k := batch
		if n-done < k {
			k = n - done
		}
		wg.Add(k)
		for i := 0; i < k; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait() // keep memory bounded: this batch before the next
		done += k
	}
	return perOp(t0, n)
}

// ---- yield ----------------------------------------------------------------

func yielder(n int) int {
	i := 0
	for ; i < n; i++ {
		runtime.Gosched()
	}
	return i
}

func yieldTasks(n, tasks int) float64 {
	t0 := time.Now()
	got := 0
	if tasks == 0 {
		got = yielder(n)
	} else {
		res := make(chan int, tasks)
		for i := 0; i < tasks; i++ {
			go func() { res <- yielder(n / tasks) }()
		}
		for i := 0; i < tasks; i++ {
			got += <-res
		}
	}
	dt := perOp(t0, n)
	if tasks > 0 && got != n/tasks*tasks || tasks == 0 && got != n {
		fail("yield")
	}
	return dt
}

// ---- channels ---------------------------------------------------------------

const unc = 5000

func mpscUncontended(reps int) float64 {
	ch := make(chan uint64, unc)
	t0 := time.Now()
	for r := 0; r < reps; r++ {
		for i := 0; i < unc; i++ {
			ch <- uint64(i)
		}
		for i := 0; i < unc; i++ {
			if <-ch != uint64(i) {
				fail("uncontended recv")
			}
		}
	}
	return perOp(t0, unc*reps)
}

const producers, perProducer = 5, 1000

func mpscContended(reps, capacity int) float64 {
	var total time.Duration
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		ch := make(chan uint64, capacity)
		for p := 0; p < producers; p++ {
			go func() {
				for i := 0; i < perProducer; i++ {
					ch <- uint64(i)
				}
			}()
		}
		got := 0
		for got < producers*perProducer {
			<-ch
			got++
		}
		total += time.Since(t0)
	}
	return float64(total.Nanoseconds()) / float64(reps*producers*perProducer)
}

func mpscPingpong(n int) float64 {
	t0 := time.Now()
	in, out := make(chan uint64, 1), make(chan uint64, 1)
	done := make(chan struct{})
	go func() {
		for v := range in {
			out <- v + 1
		}
		close(done)
	}()
	for i := 0; i < n; i++ {
		in <- uint64(i) * 2
		if <-out != uint64(i)*2+1 {
			fail("ping-pong")
		}
	}
	close(in)
	<-done
	return perOp(t0, n)
}

type req struct {
	reply chan uint8
	next  chan req
}

func oneshotPingpong(n int) float64 {
	t0 := time.Now()
	out := make(chan req, 1)
	done := make(chan struct{})
	go func(in chan req) {
		for {
			r, ok := <-in
			if !ok {
				break
			}
			r.reply <- 1
			in = r.next
		}
		close(done)
	}(out)
	for i := 0; i < n; i++ {
		r := req{reply: make(chan uint8, 1), next: make(chan req, 1)}
		out <- r
		out = r.next
		if <-r.reply != 1 {
			fail("oneshot ping-pong")
		}
	}
	close(out)
	<-done
	return perOp(t0, n)
}

// ---- sync -------------------------------------------------------------------

var mu sync.Mutex

func mutexUncontended(n int) float64 {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		mu.Lock()
		mu.Unlock()
	}
	return perOp(t0, n)
}

func semUncontended(n int) float64 {
	sem := make(chan struct{}, 4)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		<-sem
	}
	return perOp(t0, n)
}

const ntasks, perTask = 10, 1000

func mutexContended(reps int) float64 {
	var total time.Duration
	for r := 0; r < reps; r++ {
		shared := 0
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(ntasks)
		for t := 0; t < ntasks; t++ {
			go func() {
				for i := 0; i < perTask; i++ {
					mu.Lock()
					shared++
					runtime.Gosched()
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		total += time.Since(t0)
		if shared != ntasks*perTask {
			fail("contended count")
		}
	}
	return float64(total.Nanoseconds()) / float64(reps*ntasks*perTask)
}

func notifyPingpong(n int) float64 {
	t0 := time.Now()
	mine, theirs := make(chan struct{}, 1), make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			<-theirs
			mine <- struct{}{}
		}
		close(done)
	}()
	for i := 0; i < n; i++ {
		theirs <- struct{}{}
		<-mine
	}
	<-done
	return perOp(t0, n)
}

// ---- timers -----------------------------------------------------------------

func timerArmCancel(n int) float64 {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		t := time.NewTimer(time.Second)
		if !t.Stop() {
			fail("timer_arm_cancel")
		}
	}
	return perOp(t0, n)
}

const many = 10000

func timerArmCancelMany(reps int) float64 {
	ts := make([]*time.Timer, many)
	t0 := time.Now()
	for r := 0; r < reps; r++ {
		for i := range ts {
			ts[i] = time.NewTimer(time.Second + time.Duration(i)*time.Millisecond)
		}
		for _, t := range ts {
			if !t.Stop() {
				fail("timer_arm_cancel_10k")
			}
		}
	}
	return perOp(t0, reps*many)
}

func main() {
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	q := ""
	if *quick {
		q = " (quick)"
	}
	fmt.Printf("go_bench: %s, GOMAXPROCS=%d%s\n", runtime.Version(), *threads, q)

	report("spawn", "spawn_join", func() float64 { return spawnJoin(d(200000), 1024) })
	report("spawn", "spawn_join_one", func() float64 { return spawnJoin(d(200000), 1) })
	report("spawn", "spawn_detached", func() float64 { return spawnDetached(d(300000), 1024) })

	report("yield", "yield_one", func() float64 { return yieldTasks(d(1000000), 1) })
	report("yield", "yield_two", func() float64 { return yieldTasks(d(1000000), 2) })
	report("yield", "yield_root", func() float64 { return yieldTasks(d(1000000), 0) })

	report("chan", "mpsc_uncontended_bounded", func() float64 { return mpscUncontended(pick(20, 4)) })
	report("chan", "mpsc_contended_tasks_cap5000", func() float64 { return mpscContended(pick(10, 3), 5000) })
	report("chan", "mpsc_contended_tasks_cap64", func() float64 { return mpscContended(pick(10, 3), 64) })
	report("chan", "mpsc_pingpong_tasks", func() float64 { return mpscPingpong(d(200000)) })
	report("chan", "oneshot_pingpong_tasks", func() float64 { return oneshotPingpong(d(200000)) })

	report("sync", "mutex_lock_await_uncontended", func() float64 { return mutexUncontended(d(5000000)) })
	report("sync", "semaphore_acquire_uncontended", func() float64 { return semUncontended(d(2000000)) })
	report("sync", "mutex_contended_tasks_N10", func() float64 { return mutexContended(pick(5, 2)) })
	report("sync", "notify_pingpong_tasks", func() float64 { return notifyPingpong(d(200000)) })

	report("timers", "timer_arm_cancel", func() float64 { return timerArmCancel(d(300000)) })
	report("timers", "timer_arm_cancel_10k", func() float64 { return timerArmCancelMany(pick(20, 4)) })
}
