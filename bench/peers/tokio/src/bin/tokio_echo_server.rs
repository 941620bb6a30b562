//! tokio_echo_server - the Tokio peer of eddy's echo server: a task per
//! connection, the way Tokio's own echo example is written.
//!
//!     tokio_echo_server --port P [--threads N] [--addr A]
//!
//! --threads 1 (the default) runs Tokio's current-thread runtime; N > 1 the
//! multi-thread (work-stealing) runtime with N workers, like eddy's
//! echo_server.  Prints "listening on ip:port" once bound (--port 0 picks a
//! free port), then echoes every byte back until killed (SIGTERM's default
//! action ends it; there is no state to flush).
//!
//! Per connection: TCP_NODELAY (as every server in bench/), one 16 KiB
//! buffer (the read size of eddy's and the epoll server's buffers), and the
//! loop `read` then `write_all`.
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;

const BUF_SIZE: usize = 16 * 1024;

fn usage() -> ! {
    eprintln!("usage: tokio_echo_server --port P [--threads N] [--addr A]");
    std::process::exit(2)
}

fn die(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("tokio_echo_server: {}: {}", what, err);
    std::process::exit(2)
}

async fn connection(mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if sock.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn serve(addr: IpAddr, port: u16) {
    let listener = match TcpListener::bind((addr, port)).await {
        Ok(l) => l,
        Err(e) => die("bind", e),
    };
    let local = listener
        .local_addr()
        .unwrap_or_else(|e| die("getsockname", e));
    println!("listening on {}", local);
    let _ = std::io::stdout().flush();
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                tokio::spawn(connection(sock));
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                eprintln!("tokio_echo_server: accept: {}", e);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn main() {
    let mut port: Option<u16> = None;
    let mut threads: usize = 1;
    let mut addr: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--port" => port = Some(v.parse().unwrap_or_else(|_| usage())),
            "--threads" => threads = v.parse().unwrap_or_else(|_| usage()),
            "--addr" => addr = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let port = port.unwrap_or_else(|| usage());
    if threads == 0 || threads > 1024 {
        usage();
    }
    let mut builder = if threads == 1 {
        Builder::new_current_thread()
    } else {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let rt = builder
        .enable_all()
        .build()
        .unwrap_or_else(|e| die("runtime", e));
    eprintln!(
        "tokio_echo_server: {}",
        if threads == 1 {
            "current-thread runtime".to_string()
        } else {
            format!("multi-thread runtime ({} workers)", threads)
        }
    );
    rt.block_on(serve(addr, port));
}
