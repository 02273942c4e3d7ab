//! A scripted CONNECT proxy on loopback, for what real proxies rarely do
//! (a status line one byte at a time, `201`, `HTTP/1.0 407`, bytes after
//! the head, silence): `proxies.rs` and `proxy_fds.rs`.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_endpoints::Proxy;

/// A scripted CONNECT proxy for one connection: it reads the request head,
/// keeps it, and sends `answer` in pieces of `piece` bytes with `pause`
/// between them (nothing at all for `None`), then echoes.
pub async fn scripted(
    answer: Option<&'static [u8]>,
    piece: usize,
    pause: Duration,
) -> (SocketAddr, Arc<Mutex<String>>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let request = Arc::new(Mutex::new(String::new()));
    let seen = request.clone();
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            match tcp.read_u8().await {
                Ok(b) => head.push(b),
                Err(_) => return,
            }
        }
        *seen.lock().unwrap() = String::from_utf8(head).unwrap();
        let Some(answer) = answer else {
            // Silent: until the client gives up.
            let _ = tcp.read_to_end(&mut Vec::new()).await;
            return;
        };
        for chunk in answer.chunks(piece) {
            if tcp.write_all(chunk).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
        let (mut r, mut w) = tcp.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    (addr, request, task)
}

pub fn through(addr: SocketAddr) -> Proxy {
    Proxy::http(format!("http://{addr}")).unwrap()
}
