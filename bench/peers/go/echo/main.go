// go_echo_server - the Go peer of eddy's echo server: a goroutine per
// connection, the way Go servers are written.
//
//	go_echo_server --port P [--threads N] [--addr A]
//
// --threads N sets GOMAXPROCS (default 1: one thread runs Go code, like
// eddy's current-thread runtime; the runtime's netpoller and sysmon still
// run).  Prints "listening on ip:port" once bound (--port 0 picks a free
// port), then echoes every byte back until SIGINT/SIGTERM.
//
// Per connection: TCP_NODELAY (Go's default, set explicitly), one 16 KiB
// buffer (the read size of eddy's and the epoll server's), and the loop
// Read then Write (Write writes everything or fails).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

const bufSize = 16 * 1024

func serve(c *net.TCPConn) {
	defer c.Close()
	c.SetNoDelay(true)
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port := flag.Int("port", -1, "TCP port (0: any free port)")
	threads := flag.Int("threads", 1, "GOMAXPROCS")
	addr := flag.String("addr", "127.0.0.1", "address to bind")
	flag.Parse()
	if *port < 0 || *port > 65535 || *threads < 1 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: go_echo_server --port P [--threads N] [--addr A]")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*threads)

	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(*addr), Port: *port})
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_echo_server: listen:", err)
		os.Exit(2)
	}
	a := ln.Addr().(*net.TCPAddr)
	fmt.Println("listening on " + net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port)))
	os.Stdout.Sync()
	fmt.Fprintf(os.Stderr, "go_echo_server: %s, GOMAXPROCS=%d\n", runtime.Version(), *threads)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		os.Exit(0)
	}()

	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			// Out of descriptors and the like: back off instead of spinning.
			fmt.Fprintln(os.Stderr, "go_echo_server: accept:", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}
