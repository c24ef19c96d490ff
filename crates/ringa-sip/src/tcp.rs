//! SIP over TCP towards trunks: per trunk one outbound connection that carries our requests
//! and responses, opened on demand and again after it broke, and one listener on our SIP
//! address for connections the trunks open themselves (their requests inside our dialogs,
//! and calls back, which are answered on the connection they came on). Every message read
//! from any of them, cut by [`crate::stream::Framer`], is handed to the driver on one
//! channel with the connection's peer address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::stream::Framer;

/// A message read from a connection, with the connection's peer.
pub type Received = (SocketAddr, Vec<u8>);

/// How long a connection attempt to the trunk may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long after a failed attempt the next one is made (messages meanwhile are dropped,
/// and the transactions' timers end their calls).
const RECONNECT_AFTER: Duration = Duration::from_secs(5);

/// The trunk's TCP side of a driver.
#[derive(Debug)]
pub struct TrunkStream {
    trunk: SocketAddr,
    writer: Option<OwnedWriteHalf>,
    retry_at: Option<Instant>,
    received: mpsc::UnboundedSender<Received>,
}

/// The writers of the connections the trunks opened, by peer, while they are open.
type Writers = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;

/// The listener for the trunks' own connections; stops when dropped.
#[derive(Debug)]
pub struct Listener {
    task: tokio::task::JoinHandle<()>,
    writers: Writers,
}

impl Listener {
    /// Listens on `local` (our SIP address, over TCP); messages read go to `received`.
    pub async fn bind(
        local: SocketAddr,
        received: mpsc::UnboundedSender<Received>,
    ) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(local).await?;
        let writers = Writers::default();
        let task = tokio::spawn(accept(listener, received, writers.clone()));
        Ok(Listener { task, writers })
    }

    /// Sends `message` on the open connection from `peer`; false when there is none.
    pub fn send_to(&self, peer: SocketAddr, message: &[u8]) -> bool {
        let Ok(writers) = self.writers.lock() else { return false };
        writers.get(&peer).is_some_and(|w| w.send(message.to_vec()).is_ok())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TrunkStream {
    /// The stream side of the trunk at `trunk`; messages read go to `received`.
    pub fn new(trunk: SocketAddr, received: mpsc::UnboundedSender<Received>) -> TrunkStream {
        TrunkStream { trunk, writer: None, retry_at: None, received }
    }

    /// Sends one message to the trunk, connecting first if needed; a message that cannot be
    /// sent is dropped with a warning (the transaction timers see to the call).
    pub async fn send(&mut self, message: &[u8]) {
        for _ in 0..2 {
            if self.writer.is_none() && !self.connect().await {
                return;
            }
            let Some(writer) = self.writer.as_mut() else { return };
            match writer.write_all(message).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(trunk = %self.trunk, error = %e, "SIP over TCP: write failed");
                    self.writer = None;
                }
            }
        }
    }

    async fn connect(&mut self) -> bool {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return false;
        }
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.trunk)).await;
        match attempt {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                tracing::info!(trunk = %self.trunk, "SIP over TCP: connected");
                let (read, write) = stream.into_split();
                tokio::spawn(read_messages(read, self.trunk, self.received.clone()));
                self.writer = Some(write);
                self.retry_at = None;
                true
            }
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("timed out"),
        }
    }

    fn failed(&mut self, why: &str) -> bool {
        tracing::warn!(trunk = %self.trunk, error = why, "SIP over TCP: cannot connect");
        self.retry_at = Some(Instant::now() + RECONNECT_AFTER);
        false
    }
}

/// Accepts the trunk's own connections and reads them. Their write halves stay open while
/// the peer's side does (closing one would end the peer's side): our requests go out on our
/// own connection, and the responses to a call back on the connection it came on.
async fn accept(
    listener: TcpListener,
    received: mpsc::UnboundedSender<Received>,
    writers: Writers,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let (read, write) = stream.into_split();
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(write_messages(write, peer, rx));
                if let Ok(mut w) = writers.lock() {
                    w.insert(peer, tx);
                }
                let (received, writers) = (received.clone(), writers.clone());
                tokio::spawn(async move {
                    read_messages(read, peer, received).await;
                    // The peer closed: its writer ends with the sender, closing our side.
                    if let Ok(mut w) = writers.lock() {
                        w.remove(&peer);
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP over TCP: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Writes the messages for one connection the trunk opened, until it fails or is dropped.
async fn write_messages(
    mut write: OwnedWriteHalf,
    peer: SocketAddr,
    mut messages: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(message) = messages.recv().await {
        if let Err(e) = write.write_all(&message).await {
            tracing::warn!(%peer, error = %e, "SIP over TCP: cannot write to the trunk");
            return;
        }
    }
}

/// Reads messages from one connection until it closes or cannot be cut into messages.
async fn read_messages(
    mut read: OwnedReadHalf,
    peer: SocketAddr,
    received: mpsc::UnboundedSender<Received>,
) {
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match read.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "SIP over TCP: read failed");
                return;
            }
        };
        framer.push(buf.get(..n).unwrap_or_default());
        loop {
            match framer.next_message() {
                Ok(Some(message)) => {
                    if received.send((peer, message)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "SIP over TCP: closing the connection");
                    return;
                }
            }
        }
    }
}
