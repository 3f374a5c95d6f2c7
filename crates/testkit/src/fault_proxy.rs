//! A TCP proxy on 127.0.0.1 in front of a real server (the soak's Prometheus), that can be
//! slow or die on cue: the answers are the real server's, the faults are the network's.
//!
//! Why beside [`crate::fake_prometheus`]: that one scripts every answer, which suits a test of
//! one query; a month of nights needs the real server's answers with a fault laid over them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does to the traffic it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFault {
    /// Carries every byte both ways.
    None,
    /// Waits this long after accepting a connection before carrying anything (a server
    /// answering past the client's timeout).
    Slow(Duration),
    /// Carries this many bytes of answers in all, then stops listening and cuts every
    /// connection (a server that dies mid-run).
    DieAfterBytes(usize),
}

/// How often the accept loop looks for a stop.
const POLL: Duration = Duration::from_millis(5);

/// The running proxy; stops listening and cuts its connections when dropped.
pub struct FaultProxy {
    port: u16,
    stopped: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    accepting: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on an ephemeral port of 127.0.0.1 and carries connections to `upstream`.
    pub fn start(upstream: SocketAddr, fault: ProxyFault) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stopped = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let answered = Arc::new(AtomicUsize::new(0));
        let accepting = {
            let (stopped, connections, open) = (stopped.clone(), connections.clone(), open.clone());
            std::thread::spawn(move || {
                while !stopped.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            connections.fetch_add(1, Ordering::SeqCst);
                            let carry = Carry {
                                upstream,
                                fault,
                                stopped: stopped.clone(),
                                open: open.clone(),
                                answered: answered.clone(),
                            };
                            std::thread::spawn(move || carry.run(client));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(POLL);
                        }
                        Err(_) => std::thread::sleep(POLL),
                    }
                }
                // Dropping the listener here refuses every later connection.
            })
        };
        Ok(Self {
            port,
            stopped,
            connections,
            open,
            accepting: Some(accepting),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Whether it has stopped listening (dropped, or died on its fault).
    pub fn is_dead(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        cut_all(&self.stopped, &self.open);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
    }
}

/// Stops listening and cuts every open connection.
fn cut_all(stopped: &AtomicBool, open: &Mutex<Vec<TcpStream>>) {
    stopped.store(true, Ordering::SeqCst);
    for stream in open.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// One connection being carried.
struct Carry {
    upstream: SocketAddr,
    fault: ProxyFault,
    stopped: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// Answer bytes carried over all connections.
    answered: Arc<AtomicUsize>,
}

impl Carry {
    fn run(self, client: TcpStream) {
        let _ = client.set_nonblocking(false);
        if let ProxyFault::Slow(delay) = self.fault {
            std::thread::sleep(delay);
        }
        if self.stopped.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let Ok(server) = TcpStream::connect(self.upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            return;
        };
        {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            for stream in [&client, &server] {
                if let Ok(clone) = stream.try_clone() {
                    open.push(clone);
                }
            }
        }
        let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone())
        else {
            return;
        };
        // Requests: client → server, as they come.
        let requests = std::thread::spawn(move || {
            let _ = std::io::copy(&mut client_in, &mut server_out);
            let _ = server_out.shutdown(Shutdown::Write);
        });
        // Answers: server → client, counted against the fault's budget.
        let (mut server_in, mut client_out) = (server, client);
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let read = match server_in.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let mut carry = read;
            if let ProxyFault::DieAfterBytes(budget) = self.fault {
                let before = self.answered.fetch_add(read, Ordering::SeqCst);
                if before + read >= budget {
                    carry = budget.saturating_sub(before);
                    let _ = client_out.write_all(&buffer[..carry]);
                    cut_all(&self.stopped, &self.open);
                    break;
                }
            }
            if client_out.write_all(&buffer[..carry]).is_err() {
                break;
            }
        }
        let _ = client_out.shutdown(Shutdown::Write);
        let _ = requests.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo-like upstream that answers each connection with `body` and closes.
    fn upstream(body: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let _ = stream.write_all(body);
            }
        });
        addr
    }

    fn fetch(url: &str) -> std::io::Result<Vec<u8>> {
        let addr = url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn carries_answers_and_dies_after_its_budget() {
        let up = upstream(b"0123456789");
        let clean = FaultProxy::start(up, ProxyFault::None).unwrap();
        assert_eq!(fetch(&clean.url()).unwrap(), b"0123456789");
        assert_eq!(fetch(&clean.url()).unwrap(), b"0123456789");

        let dying = FaultProxy::start(up, ProxyFault::DieAfterBytes(14)).unwrap();
        assert_eq!(fetch(&dying.url()).unwrap(), b"0123456789");
        // The second answer is cut after 4 bytes, and then nothing listens.
        assert_eq!(fetch(&dying.url()).unwrap_or_default(), b"0123");
        std::thread::sleep(POLL * 4);
        assert!(dying.is_dead());
        assert!(fetch(&dying.url()).is_err(), "refused once dead");
    }
}
