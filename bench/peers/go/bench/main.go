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
//	  timers_1m_half_cancel         1,000,000 timers live at once (-q: 200,000):
//	                                NewTimer(10 s + ((i*7919) % n) * (90 s / n)),
//	                                all different, 10..100 s, scrambled (the
//	                                pattern of bench/peers/timers/common_timers.h);
//	                                then Stop every second one (odd i), then the
//	                                rest: ns per timer; every Stop must return
//	                                true (nothing fired)
//	group idle (only with -g idle; not timed: memory per idle goroutine, the
//	            peer of bench/bench_idle.c)
//	  idle_task_timer   N goroutines each blocked in time.Sleep(time.Hour)
//	  idle_task_notify  N goroutines each blocked receiving from one shared
//	                    channel that is never closed
//	  main starts the N goroutines (a runtime.Gosched() every 4,096), waits
//	  until each has started (a sync.WaitGroup each marks done just before
//	  it blocks), yields a few times more, and prints RESULT
//	  name=go_idle_task_timer bytes_per_task=.. n=N: the growth of the
//	  resident set (/proc/self/statm) divided by N.  Without -c, each case
//	  runs in a fresh process (this program again, with -c).  -n N sets N
//	  (default 1,000,000; -q: 200,000).
//
// Usage: go_bench [-q] [-g spawn|yield|chan|sync|timers|idle] [-c CASE] [-n N] [-threads N]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const runs = 7

var (
	quick   = flag.Bool("q", false, "quick: fewer operations")
	group   = flag.String("g", "", "run only this group (spawn, yield, chan, sync)")
	only    = flag.String("c", "", "run only this case")
	threads = flag.Int("threads", 1, "GOMAXPROCS")
	idleN   = flag.Int("n", 0, "idle group: number of goroutines (default 1,000,000; -q: 200,000)")
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

func halfDeadline(i, n int) time.Duration {
	slot := (int64(i) * 7919) % int64(n)
	return time.Duration(10000000000 + slot*(90000000000/int64(n)))
}

func timersHalfCancel(ts []*time.Timer) float64 {
	n := len(ts)
	stopped := 0
	t0 := time.Now()
	for i := range ts {
		ts[i] = time.NewTimer(halfDeadline(i, n))
	}
	for i := 1; i < n; i += 2 {
		if ts[i].Stop() {
			stopped++
		}
	}
	for i := 0; i < n; i += 2 {
		if ts[i].Stop() {
			stopped++
		}
	}
	dt := perOp(t0, n)
	if stopped != n {
		fail("timers_1m_half_cancel")
	}
	for i := range ts {
		ts[i] = nil
	}
	return dt
}

// ---- idle: memory per idle goroutine ------------------------------------------

// rssBytes is the resident set, from /proc/self/statm (as bench_idle.c reads it).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

// idleCase starts n goroutines that each block for ever and returns the
// resident set before and after, all of them blocked.
func idleCase(c string, n int) (int64, int64) {
	timer := c == "idle_task_timer"
	never := make(chan struct{}) // never closed, never sent to
	var started sync.WaitGroup
	started.Add(n)
	runtime.GC()
	rss0 := rssBytes()
	for i := 0; i < n; i++ {
		if timer {
			go func() {
				started.Done()
				time.Sleep(time.Hour)
			}()
		} else {
			go func() {
				started.Done()
				<-never
			}()
		}
		if i&4095 == 4095 {
			runtime.Gosched() // let them run and block
		}
	}
	started.Wait()
	for i := 0; i < 3; i++ {
		runtime.Gosched()
	}
	rss1 := rssBytes()
	runtime.KeepAlive(never)
	return rss0, rss1
}

func idleGroup() int {
	n := *idleN
	if n == 0 {
		n = 1000000
		if *quick {
			n = 200000
		}
	}
	if n < 1000 {
		n = 1000
	}
	cases := []string{"idle_task_timer", "idle_task_notify"}
	if *only != "" {
		c := strings.TrimPrefix(*only, "go_")
		if c != cases[0] && c != cases[1] {
			fmt.Fprintf(os.Stderr, "go_bench: no idle case %s\n", c)
			return 2
		}
		rss0, rss1 := idleCase(c, n)
		per := float64(rss1-rss0) / float64(n)
		fmt.Printf("go_%-18s %d goroutines  RSS growth %.1f MiB = %.0f B/task\n", c, n,
			float64(rss1-rss0)/1048576, per)
		fmt.Printf("RESULT name=go_%s bytes_per_task=%.0f n=%d\n", c, per, n)
		os.Stdout.Sync()
		os.Exit(0) // n goroutines stay blocked: exit without waiting for them
	}
	// Each case in a fresh process: this program again, with -c.
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go_bench: %v\n", err)
		return 1
	}
	bad := 0
	for _, c := range cases {
		cmd := exec.Command(exe, "-g", "idle", "-c", c, "-n", strconv.Itoa(n), "-threads", strconv.Itoa(*threads))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "go_bench: idle case %s: %v\n", c, err)
			bad = 1
		}
	}
	return bad
}

func main() {
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	if *group == "idle" {
		// Not a timed group, and only when asked for: one process per case.
		os.Exit(idleGroup())
	}
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
	if *group == "" || *group == "timers" {
		half := make([]*time.Timer, pick(1000000, 200000))
		report("timers", "timers_1m_half_cancel", func() float64 { return timersHalfCancel(half) })
	}
}
