//! Stand-ins for a misbehaving state service, for the fault tests (`tests/tests/faults.rs`):
//! [`HungH2`] accepts connections and speaks just enough HTTP/2 to never answer, and
//! [`DelayProxy`] forwards to the real service but holds every byte of the answers for a
//! configurable delay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// An empty SETTINGS frame (the server preface) followed by a SETTINGS ACK (of the client's).
const H2_SERVER_PREFACE: [u8; 18] = [
    0, 0, 0, 4, 0, 0, 0, 0, 0, // length 0, SETTINGS, no flags, stream 0
    0, 0, 0, 4, 1, 0, 0, 0, 0, // length 0, SETTINGS, ACK, stream 0
];

/// A "state service" that accepts TCP, completes the HTTP/2 preface and then never answers a
/// stream: every request on it waits for the caller's deadline. [`HungH2::close`] drops every
/// connection and the listener, so the real service can take the port.
pub struct HungH2 {
    pub port: u16,
    accept: Mutex<Option<JoinHandle<()>>>,
    cut: watch::Sender<bool>,
}

impl HungH2 {
    /// Binds `port` on loopback (0: a free one), held until [`HungH2::close`].
    pub async fn bind(port: u16) -> std::io::Result<HungH2> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let cut = watch::channel(false).0;
        let cut_rx = cut.subscribe();
        let accept = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut stop = cut_rx.clone();
                tokio::spawn(async move {
                    let hold = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        // the client preface first, then our SETTINGS and the ACK of theirs
                        if sock.read(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if sock.write_all(&H2_SERVER_PREFACE).await.is_err() {
                            return;
                        }
                        while sock.read(&mut buf).await.unwrap_or(0) > 0 {}
                    };
                    tokio::select! {
                        () = hold => {}
                        _ = stop.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Ok(HungH2 {
            port,
            accept: Mutex::new(Some(accept)),
            cut,
        })
    }

    /// Closes the listener and every connection it accepted.
    pub fn close(&self) {
        if let Some(t) = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
        let _ = self.cut.send(true);
    }
}

impl Drop for HungH2 {
    fn drop(&mut self) {
        self.close();
    }
}

/// A TCP proxy to `upstream` that delivers each chunk of the upstream's answers `delay` after it
/// arrived (in order). Requests pass at once, so the service still does the work; only its
/// answers are late. The delay can be changed while connections are open.
pub struct DelayProxy {
    pub addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl DelayProxy {
    pub async fn start(upstream: SocketAddr) -> std::io::Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        let accept = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let delay = delay.clone();
                tokio::spawn(async move {
                    if let Ok(up) = TcpStream::connect(upstream).await {
                        relay(down, up, delay).await;
                    }
                });
            }
        });
        Ok(DelayProxy {
            addr,
            delay_ms,
            accept,
        })
    }

    /// Sets the delay of answer bytes read from now on.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay(down: TcpStream, up: TcpStream, delay_ms: Arc<AtomicU64>) {
    let (mut down_r, mut down_w) = down.into_split();
    let (mut up_r, mut up_w) = up.into_split();
    let requests = async {
        let _ = tokio::io::copy(&mut down_r, &mut up_w).await;
        let _ = up_w.shutdown().await;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read_answers = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match up_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due =
                        Instant::now() + Duration::from_millis(delay_ms.load(Ordering::SeqCst));
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let write_answers = async {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if down_w.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = down_w.shutdown().await;
    };
    tokio::join!(requests, read_answers, write_answers);
}
