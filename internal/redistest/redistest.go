// Package redistest runs a real Redis server for tests: Debian's
// redis-server, started on a free loopback port with no persistence. A test
// that needs one is skipped when redis-server is not installed, and fails
// under CI=true, where it must be.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server process the test owns.
type Server struct {
	// Addr is the server's host:port, on 127.0.0.1.
	Addr string

	bin string
	dir string

	mu  sync.Mutex // guards cmd
	cmd *exec.Cmd

	logMu sync.Mutex
	log   bytes.Buffer // what the server printed
}

// URL is the server's address as a redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts a redis-server on a free loopback port and stops it when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is required under CI=true (apt-get install redis-server)")
		}
		t.Skip("redis-server not installed (apt-get install redis-server): skipping the tests on a real Redis")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, bin: bin, dir: t.TempDir()}
	s.Restart(t)
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("redis-server log:\n%s", s.logText())
		}
	})
	return s
}

// Restart starts the server again on the same port, empty (a stopped Redis
// without persistence comes back with nothing).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatal("redistest: Restart of a running server")
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin,
		"--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
	cmd.Stdout, cmd.Stderr = syncWriter{s}, syncWriter{s}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for !ping(s.Addr) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			s.cmd = nil
			t.Fatalf("redis-server on %s did not answer within 10s:\n%s", s.Addr, s.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server, as a crash would; its data is gone.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause stops the server process (SIGSTOP): connections stay open and
// nothing answers, as with a server stalled by a long command or a
// network partition. Resume ends it.
func (s *Server) Pause(t testing.TB) { s.signal(t, syscall.SIGSTOP) }

// Resume lets a paused server go on (SIGCONT).
func (s *Server) Resume(t testing.TB) { s.signal(t, syscall.SIGCONT) }

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		t.Fatal("redistest: the server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal redis-server: %v", err)
	}
}

func (s *Server) logText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// syncWriter appends the server's output to its log, bounded.
type syncWriter struct{ s *Server }

func (w syncWriter) Write(p []byte) (int, error) {
	w.s.logMu.Lock()
	defer w.s.logMu.Unlock()
	if w.s.log.Len() < 1<<20 {
		w.s.log.Write(p)
	}
	return len(p), nil
}

// ping reports whether a Redis server answers PING at addr.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// Keys returns how many keys database 0 of the server holds (DBSIZE), or -1
// when it does not answer.
func (s *Server) Keys() int {
	c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
	if err != nil {
		return -1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprint(c, "DBSIZE\r\n"); err != nil {
		return -1
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || len(line) < 3 || line[0] != ':' {
		return -1
	}
	n, err := strconv.Atoi(line[1 : len(line)-2])
	if err != nil {
		return -1
	}
	return n
}
