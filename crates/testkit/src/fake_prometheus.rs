//! A small misbehaving Prometheus on 127.0.0.1 for fault tests: it answers each connection with
//! the next scripted [`Reply`] (a status and body, a slow answer, a truncated body, a hang-up, or
//! death: it stops listening, as a killed server does) and records every request it received.
//!
//! The real Prometheus ([`crate::PrometheusServer`]) is for answers; this is for the faults a
//! real server cannot be made to produce on cue.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the fake server does with one connection.
#[derive(Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    Send(u16, Vec<(&'static str, String)>, String),
    /// Wait, then send.
    Slow(Duration, u16, String),
    /// Announce `len` bytes, send `body` (shorter), hang up.
    Truncated(usize, String),
    /// Close the connection without a word.
    Hangup,
    /// Stop listening, as a killed server does: this connection and every later one are
    /// refused or cut.
    Die,
}

/// The running fake; it stops serving when the process ends (the listener thread is detached).
pub struct FakePrometheus {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    /// Connections being served now, and the most there ever were at once.
    in_flight: Arc<(AtomicUsize, AtomicUsize)>,
    _thread: JoinHandle<()>,
}

impl FakePrometheus {
    /// Serves `replies` in order, one per connection; the last one repeats forever.
    pub fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let in_flight = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let counters = Arc::clone(&in_flight);
        let thread = std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { break };
                let reply = replies[i.min(replies.len() - 1)].clone();
                if matches!(reply, Reply::Die) {
                    // Dropping the listener (on return) refuses every later connection.
                    drop(stream);
                    return;
                }
                let seen = Arc::clone(&seen);
                let counters = Arc::clone(&counters);
                // One thread per connection, so a slow reply does not block the others.
                std::thread::spawn(move || {
                    let now = counters.0.fetch_add(1, Ordering::SeqCst) + 1;
                    counters.1.fetch_max(now, Ordering::SeqCst);
                    serve(stream, reply, &seen);
                    counters.0.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            requests,
            in_flight,
            _thread: thread,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far: request line and body, then the lower-cased headers.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The most connections ever served at once.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.1.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, reply: Reply, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut content_length = 0;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    let _ = reader.read_exact(&mut body);
    seen.lock().unwrap().push(format!(
        "{}{}\n{head}",
        request_line.trim(),
        String::from_utf8_lossy(&body)
    ));
    let mut stream = stream;
    let write = |stream: &mut TcpStream,
                 status: u16,
                 headers: &[(&str, String)],
                 body: &str,
                 declared: usize| {
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {declared}\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body.as_bytes());
        let _ = stream.flush();
    };
    match reply {
        Reply::Send(status, headers, body) => {
            write(&mut stream, status, &headers, &body, body.len())
        }
        Reply::Slow(delay, status, body) => {
            std::thread::sleep(delay);
            write(&mut stream, status, &[], &body, body.len());
        }
        Reply::Truncated(declared, body) => write(&mut stream, 200, &[], &body, declared),
        Reply::Hangup | Reply::Die => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}
