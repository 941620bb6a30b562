//! tokio_bench - the Tokio side of eddy's microbenchmarks (bench/bench_spawn.c,
//! bench_yield.c, bench_chan.c, bench_sync.c): the same work, written the way a
//! Tokio user writes it, timed the same way, printed in the same format:
//!
//!     RESULT name=tokio_<eddy case> ns_per_op=<median> min=.. max=.. reps=7
//!
//! A case named tokio_X does what eddy's case X does, with the same shape:
//! where eddy's block_on root future takes part (it spawns, pings, or
//! consumes), so does Tokio's.  Tokio wakes its block_on root through the
//! driver (an eventfd write, then epoll_wait), not through the run queue, so
//! where the root is woken often the case also runs as tokio_X_in_task: the
//! same work in a spawned task that the root only joins, Tokio's fast path.
//! The `_mt2` cases run on the multi-thread runtime with 2 workers, like
//! eddy's cases of the same name.  Every case runs one warm-up and 7 measured repetitions, on
//! a runtime built once per case with enable_all() (eddy's runtime always
//! has its I/O driver and timer wheel too).
//!
//!   group spawn  (current-thread runtime; block_on's root does the spawning)
//!     spawn_join       spawn 1,024 tasks returning their index, await each
//!                      JoinHandle, repeat
//!     spawn_join_one   the same, one task at a time
//!     spawn_detached   JoinHandles dropped; the last task of a batch wakes the
//!                      root through a Notify (an Arc clone per task)
//!   group yield  (current-thread runtime)
//!     yield_one        one spawned task awaits task::yield_now() N times
//!     yield_two        two spawned tasks, N/2 each
//!     yield_root       block_on's root future yields N times
//!   group chan
//!     mpsc_uncontended_{bounded,unbounded}  one task sends 5,000 values, then
//!                      receives them (ns per value)
//!     mpsc_contended_tasks_{cap5000,cap64}  5 producer tasks x 1,000 values
//!                      into one consumer, current-thread runtime (as eddy's)
//!     mpsc_contended_tasks_{cap5000,cap64}_mt2  the same on the multi-thread
//!                      runtime with 2 workers, the consumer in a spawned task
//!     mpsc_contended_threads_{5k,500k}  5 std threads (blocking_send,
//!                      capacity 1,024) x 1,000 or 100,000 values into a task
//!     mpsc_pingpong_tasks     a value back and forth between two tasks over
//!                      two capacity-1 channels (ns per round trip)
//!     oneshot_pingpong_tasks  two fresh oneshot channels per round trip: the
//!                      request carries the reply sender and the receiver of
//!                      the next request
//!     oneshot_pingpong_tasks_mt2  the same on the 2-worker runtime, both
//!                      sides spawned tasks
//!   group sync
//!     mutex_try_lock_unlock          tokio::sync::Mutex::try_lock + drop
//!     mutex_lock_await_uncontended   lock().await + drop, in a task
//!     semaphore_acquire_uncontended  acquire().await + drop (4 permits)
//!     mutex_contended_tasks_N10      10 tasks x 1,000 locks, a yield_now()
//!                                    inside the critical section
//!     mutex_contended_tasks_N10_mt2  the same on the 2-worker runtime
//!     notify_pingpong_tasks          two tasks take turns via two Notify
//!
//!   group mt  (multi-thread runtime, 2 workers unless named; bench/bench_mt.c)
//!     mt_spawn_outside   the main thread spawns N detached tasks through the
//!                        runtime's handle; the last one fires a oneshot
//!     mt_spawn_inside    a task spawns N in batches of 1,024 and awaits each
//!     mt_chained_spawn   each task spawns the next, N deep
//!     mt_ping_pong       two tasks bounce a value over two capacity-1 mpsc
//!                        channels (ns per round trip)
//!     mt_cpu_1w, mt_cpu_2w  10,000 tasks of ~10 us of xorshift arithmetic
//!                        on 1 and on 2 workers (ns per task)
//!
//!   group timers (current-thread runtime, inside task::unconstrained so
//!                 that the cooperative budget never answers for the timer)
//!     timer_arm_cancel      sleep(1 s), pinned on the stack, polled once (it
//!                           registers: Pending), dropped (cancelled)
//!     timer_arm_cancel_10k  10,000 sleeps (1 s + i ms) armed, then dropped
//!     timers_1m_half_cancel 1,000,000 sleeps live at once (-q: 200,000), in
//!                           a Vec<Option<Sleep>> allocated once; sleep i
//!                           lasts 10 s + ((i * 7919) % n) * (90 s / n): all
//!                           different, 10..100 s, scrambled (the pattern of
//!                           bench/peers/timers/common_timers.h); each polled
//!                           once (Pending: registered), then every second
//!                           one (odd i) dropped in place, then the rest:
//!                           ns per timer; every first poll must be Pending
//!
//!   group idle (only with -g idle; not timed: memory per idle task, the
//!               peer of bench/bench_idle.c)
//!     idle_task_timer   N tasks each awaiting sleep(3600 s)
//!     idle_task_notify  N tasks each awaiting notified() on one shared
//!                       Arc<Notify> that is never notified
//!     Current-thread runtime; block_on's root spawns the N tasks (detached,
//!     a yield_now() every 4,096), then yields until every task has been
//!     polled once (each bumps a static counter before it awaits), and
//!     prints RESULT name=tokio_idle_task_timer bytes_per_task=.. n=N: the
//!     growth of the resident set (/proc/self/statm) divided by N.  Without
//!     -c, each case runs in a fresh process (this program again, with -c).
//!     -n N sets N (default 1,000,000; -q: 200,000).
//!
//! Usage: tokio_bench [-q] [-g spawn|yield|chan|sync|mt|timers|idle] [-c CASE] [-n N]
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot, Mutex, Notify, Semaphore};
use tokio::task::yield_now;

const RUNS: usize = 7;

struct Opts {
    quick: bool,
    group: Option<String>,
    only: Option<String>,
    n: Option<usize>,
}

fn report(o: &Opts, group: &str, name: &str, mut f: impl FnMut() -> f64) {
    if o.group.as_deref().map_or(false, |g| g != group) {
        return;
    }
    let full = format!("tokio_{}", name);
    if o.only.as_deref().map_or(false, |c| c != name && c != full) {
        return;
    }
    f(); // warm-up: grows queues, warms the allocator
    let mut r: Vec<f64> = (0..RUNS).map(|_| f()).collect();
    r.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{:<42} median {:9.1} ns/op   (min {:.1}, max {:.1})",
        full,
        r[RUNS / 2],
        r[0],
        r[RUNS - 1]
    );
    println!(
        "RESULT name={} ns_per_op={:.1} min={:.1} max={:.1} reps={}",
        full,
        r[RUNS / 2],
        r[0],
        r[RUNS - 1],
        RUNS
    );
    let _ = std::io::stdout().flush();
}

fn ct() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn mt(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs fut as block_on's root future, or (in_task) in a spawned task that
/// the root only joins.  Tokio wakes the root through its driver (an
/// eventfd write and an epoll_wait), a spawned task through the run queue,
/// so the two give different figures where the root is woken often.
fn on<T: Send + 'static>(
    rt: &Runtime,
    in_task: bool,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    if in_task {
        rt.block_on(async move { tokio::spawn(fut).await.expect("join") })
    } else {
        rt.block_on(fut)
    }
}

fn per_op(t0: Instant, ops: usize) -> f64 {
    t0.elapsed().as_nanos() as f64 / ops as f64
}

fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("tokio_bench: {}: wrong result", what);
        std::process::exit(1);
    }
}

// ---- spawn ------------------------------------------------------------------

fn spawn_join(rt: &Runtime, n: usize, batch: usize, in_task: bool) -> f64 {
    let t0 = Instant::now();
    let sum = on(rt, in_task, async move {
        let mut handles = Vec::with_capacity(batch);
        let (mut sum, mut done) = (0usize, 0usize);
        while done < n {
            let k = batch.min(n - done);
            for i in 0..k {
                let idx = done + i;
                handles.push(tokio::spawn(async move { idx }));
            }
            for h in handles.drain(..) {
                sum += h.await.expect("join");
            }
            done += k;
        }
        sum
    });
    let dt = per_op(t0, n);
    check(sum == n * (n - 1) / 2, "spawn_join");
    dt
}

struct Detached {
    done: AtomicUsize,
    notify: Notify,
}

fn spawn_detached(rt: &Runtime, n: usize, batch: usize, in_task: bool) -> f64 {
    let t0 = Instant::now();
    let done = on(rt, in_task, async move {
        let sh = Arc::new(Detached {
            done: AtomicUsize::new(0),
            notify: Notify::new(),
        });
        let mut done = 0usize;
        while done < n {
            let k = batch.min(n - done);
            let target = done + k;
            for _ in 0..k {
                let s = sh.clone();
                tokio::spawn(async move {
                    if s.done.fetch_add(1, Ordering::Relaxed) + 1 == target {
                        s.notify.notify_one();
                    }
                });
            }
            // keep memory bounded: wait for this batch before the next
            while sh.done.load(Ordering::Relaxed) < target {
                sh.notify.notified().await;
            }
            done = target;
        }
        sh.done.load(Ordering::Relaxed)
    });
    let dt = per_op(t0, n);
    check(done == n, "spawn_detached");
    dt
}

// ---- yield ------------------------------------------------------------------

async fn yielder(n: usize) -> usize {
    let mut i = 0;
    while i < n {
        yield_now().await;
        i += 1;
    }
    i
}

fn yield_tasks(rt: &Runtime, n: usize, tasks: usize) -> f64 {
    let t0 = Instant::now();
    let got = rt.block_on(async move {
        if tasks == 0 {
            return yielder(n).await;
        }
        let hs: Vec<_> = (0..tasks)
            .map(|_| tokio::spawn(yielder(n / tasks)))
            .collect();
        let mut s = 0;
        for h in hs {
            s += h.await.expect("join");
        }
        s
    });
    let dt = per_op(t0, n);
    check(got == n / tasks.max(1) * tasks.max(1), "yield");
    dt
}

// ---- channels -----------------------------------------------------------------

const UNC: usize = 5000;

fn mpsc_uncontended(rt: &Runtime, reps: usize, bounded: bool) -> f64 {
    let t0 = Instant::now();
    rt.block_on(async move {
        if bounded {
            let (tx, mut rx) = mpsc::channel::<u64>(UNC);
            for _ in 0..reps {
                for i in 0..UNC {
                    tx.send(i as u64).await.expect("send");
                }
                for i in 0..UNC {
                    check(rx.recv().await == Some(i as u64), "uncontended recv");
                }
            }
        } else {
            let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
            for _ in 0..reps {
                for i in 0..UNC {
                    tx.send(i as u64).expect("send");
                }
                for i in 0..UNC {
                    check(rx.recv().await == Some(i as u64), "uncontended recv");
                }
            }
        }
    });
    per_op(t0, UNC * reps)
}

const PRODUCERS: usize = 5;
const PER_PRODUCER: usize = 1000;

fn mpsc_contended_tasks(rt: &Runtime, reps: usize, cap: usize, in_task: bool) -> f64 {
    let mut total = 0f64;
    for _ in 0..reps {
        let t0 = Instant::now();
        let (tx, mut rx) = mpsc::channel::<u64>(cap);
        for _ in 0..PRODUCERS {
            let tx = tx.clone();
            rt.spawn(async move {
                for i in 0..PER_PRODUCER {
                    tx.send(i as u64).await.expect("send");
                }
            });
        }
        drop(tx);
        let got = on(rt, in_task, async move {
            let mut got = 0usize;
            while rx.recv().await.is_some() {
                got += 1;
            }
            got
        });
        total += t0.elapsed().as_nanos() as f64;
        check(got == PRODUCERS * PER_PRODUCER, "contended count");
    }
    total / (reps * PRODUCERS * PER_PRODUCER) as f64
}

fn mpsc_contended_threads(rt: &Runtime, per: usize) -> f64 {
    let go = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::channel::<u64>(1024);
    let threads: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let tx = tx.clone();
            let go = go.clone();
            std::thread::spawn(move || {
                while !go.load(Ordering::Acquire) {
                    std::thread::yield_now(); // leave the CPU to the consumer's thread
                }
                for i in 0..per {
                    tx.blocking_send(i as u64).expect("send");
                }
            })
        })
        .collect();
    drop(tx);
    let t0 = Instant::now(); // the threads start when the consumer runs
    let got = rt.block_on(async move {
        go.store(true, Ordering::Release);
        let mut got = 0usize;
        while rx.recv().await.is_some() {
            got += 1;
        }
        got
    });
    let dt = per_op(t0, PRODUCERS * per);
    for t in threads {
        t.join().expect("thread");
    }
    check(got == PRODUCERS * per, "threads count");
    dt
}

fn mpsc_pingpong(rt: &Runtime, n: usize, in_task: bool) -> f64 {
    let t0 = Instant::now();
    on(rt, in_task, async move {
        let (tx1, mut rx1) = mpsc::channel::<u64>(1);
        let (tx2, mut rx2) = mpsc::channel::<u64>(1);
        let peer = tokio::spawn(async move {
            while let Some(v) = rx1.recv().await {
                if tx2.send(v + 1).await.is_err() {
                    break;
                }
            }
        });
        for i in 0..n as u64 {
            tx1.send(i * 2).await.expect("send");
            check(rx2.recv().await == Some(i * 2 + 1), "ping-pong");
        }
        drop(tx1); // the peer sees the end and finishes
        peer.await.expect("join");
    });
    per_op(t0, n)
}

struct Req {
    reply: oneshot::Sender<u8>,
    next: oneshot::Receiver<Req>,
}

fn oneshot_pingpong(rt: &Runtime, n: usize, in_task: bool) -> f64 {
    let t0 = Instant::now();
    on(rt, in_task, async move {
        let (mut out, first) = oneshot::channel::<Req>();
        let peer = tokio::spawn(async move {
            let mut rx = first;
            while let Ok(r) = rx.await {
                let _ = r.reply.send(1);
                rx = r.next;
            }
        });
        for _ in 0..n {
            let (reply, reply_rx) = oneshot::channel::<u8>();
            let (next_tx, next) = oneshot::channel::<Req>();
            if out.send(Req { reply, next }).is_err() {
                check(false, "oneshot send");
            }
            out = next_tx;
            check(reply_rx.await == Ok(1), "oneshot ping-pong");
        }
        drop(out);
        peer.await.expect("join");
    });
    per_op(t0, n)
}

// ---- sync ---------------------------------------------------------------------

fn mutex_try(n: usize) -> f64 {
    let m = Mutex::new(());
    let t0 = Instant::now();
    for _ in 0..n {
        let g = m.try_lock().expect("try_lock");
        drop(g);
    }
    per_op(t0, n)
}

fn uncontended_await(rt: &Runtime, n: usize, sem: bool) -> f64 {
    let m = Mutex::new(());
    let s = Semaphore::new(4);
    let t0 = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            if sem {
                let p = s.acquire().await.expect("acquire");
                drop(p);
            } else {
                let g = m.lock().await;
                drop(g);
            }
        }
    });
    per_op(t0, n)
}

const NTASKS: usize = 10;
const PER_TASK: usize = 1000;

fn mutex_contended(rt: &Runtime, reps: usize) -> f64 {
    let mut total = 0f64;
    for _ in 0..reps {
        let m = Arc::new(Mutex::new(0usize));
        let t0 = Instant::now();
        let hs: Vec<_> = (0..NTASKS)
            .map(|_| {
                let m = m.clone();
                rt.spawn(async move {
                    for _ in 0..PER_TASK {
                        let mut g = m.lock().await;
                        *g += 1;
                        yield_now().await;
                        drop(g);
                    }
                })
            })
            .collect();
        rt.block_on(async move {
            for h in hs {
                h.await.expect("join");
            }
        });
        total += t0.elapsed().as_nanos() as f64;
        check(
            *m.try_lock().expect("lock") == NTASKS * PER_TASK,
            "contended count",
        );
    }
    total / (reps * NTASKS * PER_TASK) as f64
}

fn notify_pingpong(rt: &Runtime, n: usize, in_task: bool) -> f64 {
    let n1 = Arc::new(Notify::new());
    let n2 = Arc::new(Notify::new());
    let t0 = Instant::now();
    on(rt, in_task, async move {
        let (mine, theirs) = (n2.clone(), n1.clone());
        let peer = tokio::spawn(async move {
            for _ in 0..n {
                mine.notified().await;
                theirs.notify_one();
            }
        });
        for _ in 0..n {
            n2.notify_one();
            n1.notified().await;
        }
        peer.await.expect("join");
    });
    per_op(t0, n)
}

// ---- timers -------------------------------------------------------------------

/// Polls a future once: true if it was ready.
struct PollOnce<'a, F: ?Sized>(Pin<&'a mut F>);

impl<'a, F: Future + ?Sized> Future for PollOnce<'a, F> {
    type Output = bool;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        Poll::Ready(self.get_mut().0.as_mut().poll(cx).is_ready())
    }
}

const MANY: usize = 10_000;

fn timer_arm_cancel(rt: &Runtime, n: usize) -> f64 {
    let t0 = Instant::now();
    let armed = rt.block_on(tokio::task::unconstrained(async move {
        let mut armed = 0usize;
        for _ in 0..n {
            let s = tokio::time::sleep(Duration::from_secs(1));
            tokio::pin!(s);
            if !PollOnce(s.as_mut()).await {
                armed += 1;
            }
        } // dropped here: cancelled
        armed
    }));
    let dt = per_op(t0, n);
    check(armed == n, "timer_arm_cancel");
    dt
}

fn timer_arm_cancel_many(rt: &Runtime, reps: usize) -> f64 {
    let t0 = Instant::now();
    let armed = rt.block_on(tokio::task::unconstrained(async move {
        let mut v: Vec<tokio::time::Sleep> = Vec::with_capacity(MANY);
        let mut armed = 0usize;
        for _ in 0..reps {
            for i in 0..MANY {
                v.push(tokio::time::sleep(
                    Duration::from_secs(1) + Duration::from_millis(i as u64),
                ));
            }
            for s in v.iter_mut() {
                // Safety: v never grows past its capacity while these are
                // pinned, and clear() drops them in place.
                let p = unsafe { Pin::new_unchecked(s) };
                if !PollOnce(p).await {
                    armed += 1;
                }
            }
            v.clear();
        }
        armed
    }));
    let dt = per_op(t0, reps * MANY);
    check(armed == reps * MANY, "timer_arm_cancel_10k");
    dt
}

/// The deadline pattern of bench/peers/timers/common_timers.h (half_deadline_ns).
fn half_deadline(i: usize, n: usize) -> Duration {
    let slot = (i as u64 * 7919) % n as u64;
    Duration::from_nanos(10_000_000_000 + slot * (90_000_000_000 / n as u64))
}

fn timers_half_cancel(rt: &Runtime, v: &mut Vec<Option<tokio::time::Sleep>>, n: usize) -> f64 {
    v.clear();
    let t0 = Instant::now();
    let armed = rt.block_on(tokio::task::unconstrained(async {
        let mut armed = 0usize;
        for i in 0..n {
            v.push(Some(tokio::time::sleep(half_deadline(i, n))));
        }
        for s in v.iter_mut() {
            // Safety: v never grows past its capacity while these are
            // pinned, and each is dropped in place (`*s = None`, clear()).
            let p = unsafe { Pin::new_unchecked(s.as_mut().unwrap()) };
            if !PollOnce(p).await {
                armed += 1;
            }
        }
        for s in v.iter_mut().skip(1).step_by(2) {
            *s = None; // cancelled
        }
        for s in v.iter_mut().step_by(2) {
            *s = None;
        }
        armed
    }));
    let dt = per_op(t0, n);
    check(armed == n, "timers_1m_half_cancel");
    dt
}

// ---- idle: memory per idle task ------------------------------------------------

extern "C" {
    fn sysconf(name: i32) -> i64;
}
const SC_PAGESIZE: i32 = 30; // _SC_PAGESIZE on Linux

/// The resident set, from /proc/self/statm (as bench_idle.c reads it).
fn rss_bytes() -> i64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(-1);
    pages * unsafe { sysconf(SC_PAGESIZE) }
}

static IDLE_STARTED: AtomicUsize = AtomicUsize::new(0);
static IDLE_FUTURE: AtomicUsize = AtomicUsize::new(0); // the spawned future's size

/// One idle case in this process: (RSS before, RSS after) spawning n tasks
/// that each wait for ever, all of them polled once.
fn idle_case(case: &str, n: usize) -> (i64, i64) {
    let timer = case == "idle_task_timer";
    let rt = ct();
    let notify = Arc::new(Notify::new());
    let r = rt.block_on(async {
        let rss0 = rss_bytes();
        for i in 0..n {
            if timer {
                let f = async {
                    IDLE_STARTED.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                };
                IDLE_FUTURE.store(std::mem::size_of_val(&f), Ordering::Relaxed);
                tokio::spawn(f);
            } else {
                let nt = notify.clone();
                let f = async move {
                    IDLE_STARTED.fetch_add(1, Ordering::Relaxed);
                    nt.notified().await;
                };
                IDLE_FUTURE.store(std::mem::size_of_val(&f), Ordering::Relaxed);
                tokio::spawn(f);
            }
            if i & 4095 == 4095 {
                yield_now().await; // let them run and park
            }
        }
        while IDLE_STARTED.load(Ordering::Relaxed) < n {
            yield_now().await;
        }
        yield_now().await;
        yield_now().await;
        (rss0, rss_bytes())
    });
    std::mem::forget(rt); // the process exits next: no need to drop n tasks
    r
}

fn idle_group(o: &Opts) -> i32 {
    let n =
        o.n.unwrap_or(if o.quick { 200_000 } else { 1_000_000 })
            .max(1000);
    let cases = ["idle_task_timer", "idle_task_notify"];
    if let Some(c) = o.only.as_deref() {
        let c = c.strip_prefix("tokio_").unwrap_or(c);
        if !cases.contains(&c) {
            eprintln!("tokio_bench: no idle case {}", c);
            return 2;
        }
        let (rss0, rss1) = idle_case(c, n);
        let per = (rss1 - rss0) as f64 / n as f64;
        let fut = IDLE_FUTURE.load(Ordering::Relaxed);
        println!(
            "tokio_{:<18} {} tasks  future {} B  RSS growth {:.1} MiB = {:.0} B/task",
            c,
            n,
            fut,
            (rss1 - rss0) as f64 / 1048576.0,
            per
        );
        println!(
            "RESULT name=tokio_{} bytes_per_task={:.0} n={} future={}",
            c, per, n, fut
        );
        let _ = std::io::stdout().flush();
        return 0;
    }
    // Each case in a fresh process: this program again, with -c.
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tokio_bench: current_exe: {}", e);
            return 1;
        }
    };
    let mut bad = 0;
    for c in cases {
        let _ = std::io::stdout().flush();
        let ok = std::process::Command::new(&exe)
            .args(["-g", "idle", "-c", c, "-n", &n.to_string()])
            .status()
            .map_or(false, |s| s.success());
        if !ok {
            eprintln!("tokio_bench: idle case {} failed", c);
            bad = 1;
        }
    }
    bad
}


// ---- mt: the multi-thread runtime (bench/bench_mt.c) ---------------------------

struct Countdown {
    left: AtomicUsize,
    tx: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Countdown {
    fn new(n: usize) -> (Arc<Countdown>, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (
            Arc::new(Countdown {
                left: AtomicUsize::new(n),
                tx: std::sync::Mutex::new(Some(tx)),
            }),
            rx,
        )
    }
    fn one(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(tx) = self.tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    }
}

fn mt_spawn_outside(rt: &Runtime, n: usize) -> f64 {
    let (cd, rx) = Countdown::new(n);
    let t0 = Instant::now();
    let h = rt.handle();
    for i in 0..n {
        let cd = cd.clone();
        h.spawn(async move {
            cd.one();
            i
        });
    }
    rt.block_on(rx).expect("done");
    per_op(t0, n)
}

fn mt_spawn_inside(rt: &Runtime, n: usize) -> f64 {
    let t0 = Instant::now();
    let sum = rt.block_on(async move {
        tokio::spawn(async move {
            let mut handles = Vec::with_capacity(1024);
            let (mut sum, mut done) = (0usize, 0usize);
            while done < n {
                let k = 1024.min(n - done);
                for i in 0..k {
                    let idx = done + i;
                    handles.push(tokio::spawn(async move { idx }));
                }
                for h in handles.drain(..) {
                    sum += h.await.expect("join");
                }
                done += k;
            }
            sum
        })
        .await
        .expect("join")
    });
    check(sum == n * (n - 1) / 2, "mt_spawn_inside");
    per_op(t0, n)
}

fn chain(left: usize, cd: Arc<Countdown>) {
    tokio::spawn(async move {
        if left > 0 {
            chain(left - 1, cd);
        } else {
            cd.one();
        }
    });
}

fn mt_chained_spawn(rt: &Runtime, n: usize) -> f64 {
    let (cd, rx) = Countdown::new(1);
    let t0 = Instant::now();
    rt.block_on(async move {
        chain(n - 1, cd);
        rx.await.expect("done");
    });
    per_op(t0, n)
}

fn mt_ping_pong(rt: &Runtime, n: usize) -> f64 {
    let t0 = Instant::now();
    rt.block_on(async move {
        let (atx, mut arx) = tokio::sync::mpsc::channel::<usize>(1);
        let (btx, mut brx) = tokio::sync::mpsc::channel::<usize>(1);
        let a = tokio::spawn(async move {
            for i in 0..n {
                atx.send(i).await.expect("send");
                brx.recv().await.expect("recv");
            }
        });
        let b = tokio::spawn(async move {
            for _ in 0..n {
                let v = arx.recv().await.expect("recv");
                btx.send(v).await.expect("send");
            }
        });
        a.await.expect("join");
        b.await.expect("join");
    });
    per_op(t0, n)
}

fn work(iters: u32, mut x: u64) -> u64 {
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

static SINK: AtomicUsize = AtomicUsize::new(0);


fn mt_cpu(rt: &Runtime, n: usize, iters: u32) -> f64 {
    let (cd, rx) = Countdown::new(n);
    let t0 = Instant::now();
    let h = rt.handle();
    for i in 0..n {
        let cd = cd.clone();
        h.spawn(async move {
            SINK.fetch_xor(work(iters, i as u64 + 1) as usize, Ordering::Relaxed);
            cd.one();
        });
    }
    rt.block_on(rx).expect("done");
    per_op(t0, n)
}

fn main() {
    let mut o = Opts {
        quick: false,
        group: None,
        only: None,
        n: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-q" => o.quick = true,
            "-g" => o.group = args.next(),
            "-c" => o.only = args.next(),
            "-n" => o.n = args.next().and_then(|v| v.parse().ok()),
            _ => {
                eprintln!(
                    "usage: tokio_bench [-q] [-g spawn|yield|chan|sync|mt|timers|idle] [-c CASE] [-n N]"
                );
                std::process::exit(2);
            }
        }
    }
    if o.group.as_deref() == Some("idle") {
        // Not a timed group, and only when asked for: one process per case.
        std::process::exit(idle_group(&o));
    }
    let q = o.quick;
    let pick = |full: usize, quick: usize| if q { quick } else { full };
    let d = |full: usize| if q { full / 10 } else { full };
    let want = |g: &str| o.group.as_deref().map_or(true, |w| w == g);
    println!(
        "tokio_bench: Tokio peers of eddy's microbenchmarks{}",
        if q { " (quick)" } else { "" }
    );

    // One runtime per case, reused by its repetitions (as eddy's programs do).
    // `_in_task`: the same work in a spawned task that block_on only joins.
    // Operation counts are chosen so that one repetition takes about 0.1 s
    // (-q: a tenth): where a Tokio operation costs 10x eddy's, it runs 10x
    // fewer times than eddy's.  The figure compared is ns per operation.
    if want("spawn") {
        for (sfx, t) in [("", false), ("_in_task", true)] {
            let rt = ct();
            report(&o, "spawn", &format!("spawn_join{}", sfx), || {
                spawn_join(&rt, d(500_000), 1024, t)
            });
            let rt = ct();
            let n1 = if t { d(300_000) } else { d(50_000) };
            report(&o, "spawn", &format!("spawn_join_one{}", sfx), || {
                spawn_join(&rt, n1, 1, t)
            });
            let rt = ct();
            report(&o, "spawn", &format!("spawn_detached{}", sfx), || {
                spawn_detached(&rt, d(500_000), 1024, t)
            });
        }
    }
    if want("yield") {
        let rt = ct();
        report(&o, "yield", "yield_one", || yield_tasks(&rt, d(300_000), 1));
        let rt = ct();
        report(&o, "yield", "yield_two", || yield_tasks(&rt, d(300_000), 2));
        let rt = ct();
        report(&o, "yield", "yield_root", || {
            yield_tasks(&rt, d(100_000), 0)
        });
    }
    if want("chan") {
        // One current-thread runtime for the group, like bench_chan's g_rt.
        let rt = ct();
        let reps = pick(10, 3);
        report(&o, "chan", "mpsc_uncontended_bounded", || {
            mpsc_uncontended(&rt, pick(20, 4), true)
        });
        report(&o, "chan", "mpsc_uncontended_unbounded", || {
            mpsc_uncontended(&rt, pick(20, 4), false)
        });
        for (sfx, t) in [("", false), ("_in_task", true)] {
            report(
                &o,
                "chan",
                &format!("mpsc_contended_tasks_cap5000{}", sfx),
                || mpsc_contended_tasks(&rt, reps, 5000, t),
            );
            report(
                &o,
                "chan",
                &format!("mpsc_contended_tasks_cap64{}", sfx),
                || mpsc_contended_tasks(&rt, reps, 64, t),
            );
        }
        {
            let rt2 = mt(2);
            report(&o, "chan", "mpsc_contended_tasks_cap5000_mt2", || {
                mpsc_contended_tasks(&rt2, reps, 5000, true)
            });
            report(&o, "chan", "mpsc_contended_tasks_cap64_mt2", || {
                mpsc_contended_tasks(&rt2, reps, 64, true)
            });
            report(&o, "chan", "oneshot_pingpong_tasks_mt2", || {
                oneshot_pingpong(&rt2, d(100_000), true)
            });
        }
        report(&o, "chan", "mpsc_contended_threads_5k", || {
            mpsc_contended_threads(&rt, 1000)
        });
        report(&o, "chan", "mpsc_contended_threads_500k", || {
            mpsc_contended_threads(&rt, pick(100_000, 20_000))
        });
        for (sfx, t) in [("", false), ("_in_task", true)] {
            let pp = if t { d(100_000) } else { d(50_000) };
            report(&o, "chan", &format!("mpsc_pingpong_tasks{}", sfx), || {
                mpsc_pingpong(&rt, pp, t)
            });
            report(
                &o,
                "chan",
                &format!("oneshot_pingpong_tasks{}", sfx),
                || oneshot_pingpong(&rt, pp, t),
            );
        }
    }
    if want("sync") {
        let rt = ct();
        report(&o, "sync", "mutex_try_lock_unlock", || {
            mutex_try(d(5_000_000))
        });
        report(&o, "sync", "mutex_lock_await_uncontended", || {
            uncontended_await(&rt, d(2_000_000), false)
        });
        report(&o, "sync", "semaphore_acquire_uncontended", || {
            uncontended_await(&rt, d(2_000_000), true)
        });
        report(&o, "sync", "mutex_contended_tasks_N10", || {
            mutex_contended(&rt, pick(5, 2))
        });
        {
            let rt2 = mt(2);
            report(&o, "sync", "mutex_contended_tasks_N10_mt2", || {
                mutex_contended(&rt2, pick(5, 2))
            });
        }
        for (sfx, t) in [("", false), ("_in_task", true)] {
            report(&o, "sync", &format!("notify_pingpong_tasks{}", sfx), || {
                notify_pingpong(&rt, if t { d(100_000) } else { d(50_000) }, t)
            });
        }
    }
    if want("mt") {
        let (n_spawn, n_chain, n_ping) = if q { (50_000, 20_000, 20_000) } else { (200_000, 100_000, 100_000) };
        let iters: u32 = 5_000; // as bench_mt.c: fixed, ~10 us
        let rt = mt(2);
        report(&o, "mt", "mt_spawn_outside", || mt_spawn_outside(&rt, n_spawn));
        report(&o, "mt", "mt_spawn_inside", || mt_spawn_inside(&rt, n_spawn));
        report(&o, "mt", "mt_chained_spawn", || mt_chained_spawn(&rt, n_chain));
        report(&o, "mt", "mt_ping_pong", || mt_ping_pong(&rt, n_ping));
        report(&o, "mt", "mt_cpu_2w", || mt_cpu(&rt, 10_000, iters));
        drop(rt);
        let rt = mt(1);
        report(&o, "mt", "mt_cpu_1w", || mt_cpu(&rt, 10_000, iters));
        println!("cpu task: {} iterations (~10 us)", iters);
    }
    if want("timers") {
        let rt = ct();
        report(&o, "timers", "timer_arm_cancel", || {
            timer_arm_cancel(&rt, d(200_000))
        });
        let rt = ct();
        report(&o, "timers", "timer_arm_cancel_10k", || {
            timer_arm_cancel_many(&rt, pick(15, 2))
        });
        let rt = ct();
        let n_half = pick(1_000_000, 200_000);
        let mut v: Vec<Option<tokio::time::Sleep>> = Vec::with_capacity(n_half);
        report(&o, "timers", "timers_1m_half_cancel", || {
            timers_half_cancel(&rt, &mut v, n_half)
        });
    }
}
