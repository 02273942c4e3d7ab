//! A UDP echo server and client on loopback, both built with
//! `DatagramBuilder`. Runs offline:
//!
//! ```text
//! cargo run --example udp_echo
//! ```

use tokio_endpoints::DatagramBuilder;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // The server: bound to a port the kernel picks on IPv6 loopback.
    let server = DatagramBuilder::new().local_addr("[::1]:0").bind().await?;
    let server_addr = server.local_addr()?;
    println!("echo server on {server_addr}");

    let echo = tokio::spawn(async move {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let (n, from) = server.recv_from(&mut buf).await?;
            if &buf[..n] == b"bye" {
                return Ok::<_, std::io::Error>(());
            }
            server.send_to(&buf[..n], from).await?;
        }
    });

    // The client: connected to the server, so `send` and `recv` need no
    // address and only the server's datagrams are received.
    let client = DatagramBuilder::new()
        .remote_addr(server_addr)
        .bind()
        .await?;
    println!("client on {}", client.local_addr()?);

    let mut buf = [0; 1500];
    for message in ["hello", "datagram", "world"] {
        client.send(message.as_bytes()).await?;
        let n = client.recv(&mut buf).await?;
        println!(
            "sent {message:?}, echoed {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        assert_eq!(&buf[..n], message.as_bytes());
    }
    client.send(b"bye").await?;
    echo.await.expect("echo task panicked")?;
    Ok(())
}
