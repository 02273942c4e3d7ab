//! A line-protocol chat on loopback, no network needed: a server relays each
//! line a client sends to every other client, and two clients talk through
//! it, each one call from a framed connection:
//!
//! ```text
//! ConnectionBuilder::new(addr).connect_framed(LinesCodec::new_with_max_length(1024))
//! ```
//!
//! The protocol: the first line is the client's nick; then every line is a
//! message, relayed as `nick: message`; `/quit` leaves.
//!
//! Run with `cargo run --example line_chat`.

use std::error::Error;
use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_endpoints::tokio_util::codec::{Framed, LinesCodec};
use tokio_endpoints::ConnectionBuilder;

/// The longest line either side accepts: without a bound, a peer that never
/// sends a newline makes `LinesCodec` buffer without end.
const MAX_LINE: usize = 1024;

type Chat = Framed<TcpStream, LinesCodec>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener));
    println!("chat server on {addr}");

    let mut alice = join(addr, "alice").await?;
    let mut bob = join(addr, "bob").await?;
    expect(&mut alice, "alice", "* bob joined").await?;

    alice.send("hi bob").await?;
    expect(&mut bob, "bob", "alice: hi bob").await?;
    bob.send("hello alice, bye for now").await?;
    expect(&mut alice, "alice", "bob: hello alice, bye for now").await?;

    bob.send("/quit").await?;
    // The server closes bob's connection: the end of his stream.
    assert!(bob.next().await.is_none());
    expect(&mut alice, "alice", "* bob left").await?;
    // LinesCodec encodes any `AsRef<str>`: name the item type to close.
    SinkExt::<&str>::close(&mut alice).await?;
    println!("done");
    Ok(())
}

/// A client: a framed connection, and the nick as the first line.
async fn join(addr: SocketAddr, nick: &str) -> Result<Chat, Box<dyn Error>> {
    let mut chat = ConnectionBuilder::new(addr)
        .connect_framed(LinesCodec::new_with_max_length(MAX_LINE))
        .await?;
    println!("{nick} connected from {}", chat.get_ref().local_addr()?);
    chat.send(nick).await?;
    Ok(chat)
}

/// Reads the next line on `chat` and checks it.
async fn expect(chat: &mut Chat, who: &str, want: &str) -> Result<(), Box<dyn Error>> {
    let line = chat.next().await.ok_or("the server closed")??;
    println!("{who} got {line:?}");
    assert_eq!(line, want);
    Ok(())
}

/// The server: one task per client, and a broadcast channel between them
/// carrying (sender, line).
async fn serve(listener: TcpListener) {
    let (tx, _) = broadcast::channel::<(SocketAddr, String)>(64);
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        // Subscribed at accept, so a client hears everyone who joins later.
        let rx = tx.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            let chat = Framed::new(tcp, LinesCodec::new_with_max_length(MAX_LINE));
            if let Err(e) = session(chat, peer, tx, rx).await {
                eprintln!("server: {peer}: {e}");
            }
        });
    }
}

async fn session(
    mut chat: Chat,
    peer: SocketAddr,
    tx: broadcast::Sender<(SocketAddr, String)>,
    mut rx: broadcast::Receiver<(SocketAddr, String)>,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let Some(nick) = chat.next().await.transpose()? else {
        return Ok(());
    };
    let _ = tx.send((peer, format!("* {nick} joined")));
    loop {
        tokio::select! {
            line = chat.next() => match line.transpose()? {
                Some(line) if line != "/quit" => {
                    let _ = tx.send((peer, format!("{nick}: {line}")));
                }
                _ => break, // "/quit", or the client closed
            },
            relayed = rx.recv() => match relayed {
                Ok((from, line)) if from != peer => chat.send(line).await?,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    let _ = tx.send((peer, format!("* {nick} left")));
    SinkExt::<&str>::close(&mut chat).await?;
    Ok(())
}
