//! `ConnectionBuilder::unix` (asyncio's `create_unix_connection` and
//! `open_unix_connection`) and `Connector::unix_socket` (hyper-util's
//! `Client` over a Unix socket, as reqwest's `unix_socket`), against real
//! Unix listeners in a temporary directory.
#![cfg(unix)]

use std::convert::Infallible;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio_endpoints::{ConnectErrorKind, ConnectionBuilder, Connector, HttpInfo};
use tower_service::Service;

/// A fresh directory for one test's sockets, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("te-unix-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn unix_connects_to_a_listening_socket() {
    let dir = Dir::new("listening");
    let path = dir.path("app.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let hooked = Arc::new(AtomicBool::new(false));
    let seen = hooked.clone();
    let mut client = ConnectionBuilder::unix(&path)
        .connect_timeout(Duration::from_secs(5))
        .socket_hook(move |socket| {
            // Before the connect: not connected yet.
            assert!(socket.peer_addr().is_err());
            seen.store(true, Ordering::SeqCst);
            Ok(())
        })
        .connect()
        .await
        .unwrap();
    assert!(hooked.load(Ordering::SeqCst));
    let (mut server, _) = listener.accept().await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0; 4];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    assert_eq!(
        client.peer_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
}

#[tokio::test]
async fn unix_open_connection_gives_the_stream_halves() {
    let dir = Dir::new("halves");
    let path = dir.path("app.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut line = [0; 5];
        s.read_exact(&mut line).await.unwrap();
        s.write_all(b"PONG\n").await.unwrap();
    });
    let (mut reader, mut writer) = ConnectionBuilder::unix(&path)
        .open_connection()
        .await
        .unwrap();
    writer.write_all(b"PING\n").await.unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert_eq!(line, "PONG\n");
    assert!(!reader.is_tls());
    assert_eq!(
        reader.peer_addr().unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    writer.close().await.unwrap();
}

#[tokio::test]
async fn unix_to_a_missing_path_is_no_such_file() {
    let dir = Dir::new("missing");
    let path = dir.path("nothing.sock");
    let e = ConnectionBuilder::unix(&path).connect().await.unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::AllAttemptsFailed);
    assert_eq!(e.target(), path.display().to_string());
    let text = e.to_string();
    assert!(text.contains("no such file"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert_eq!(std::io::Error::from(e).kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn unix_to_a_stale_socket_file_is_refused_naming_the_path() {
    let dir = Dir::new("stale");
    let path = dir.path("app.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "the socket file stays behind");
    let e = ConnectionBuilder::unix(&path).connect().await.unwrap_err();
    let want = format!("connection refused: nothing listens on {}", path.display());
    assert!(e.to_string().contains(&want), "{e}");
    let io = std::io::Error::from(e);
    assert_eq!(io.kind(), ErrorKind::ConnectionRefused);
}

/// Root reads and writes any file, so the `permission denied` case can
/// only be seen as another user.
#[tokio::test]
async fn unix_without_permission_is_permission_denied() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = Dir::new("denied");
    if std::fs::metadata(&dir.0).unwrap().uid() == 0 {
        eprintln!("skipped: root is never denied");
        return;
    }
    let path = dir.path("app.sock");
    let _listener = UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let e = ConnectionBuilder::unix(&path).connect().await.unwrap_err();
    assert!(e.to_string().contains("permission denied"), "{e}");
}

#[tokio::test]
async fn unix_bad_input_is_refused() {
    let e = ConnectionBuilder::unix("").connect().await.unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::InvalidInput);
    let long = format!("/tmp/{}", "x".repeat(300));
    let e = ConnectionBuilder::unix(&long).connect().await.unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::InvalidInput);
    assert!(e.to_string().contains("longer than"), "{e}");
    let e = ConnectionBuilder::unix("/tmp/x.sock")
        .connect_timeout(Duration::ZERO)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::InvalidInput);
}

#[tokio::test]
async fn unix_a_failing_hook_fails_the_call() {
    let e = ConnectionBuilder::unix("/nonexistent/x.sock")
        .socket_hook(|_| Err(std::io::Error::other("no thanks")))
        .connect()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("socket hook: no thanks"), "{e}");
}

/// Linux abstract names: `@name`, no file.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[tokio::test]
async fn unix_connects_to_an_abstract_name() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("tokio-endpoints-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let std_listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let listener = UnixListener::from_std(std_listener).unwrap();
    let mut client = ConnectionBuilder::unix(format!("@{name}"))
        .connect()
        .await
        .unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    client.write_all(b"x").await.unwrap();
    assert_eq!(server.read_u8().await.unwrap(), b'x');
    drop(listener);
    let e = ConnectionBuilder::unix(format!("@{name}"))
        .connect()
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("connection refused: nothing listens on @{name}")),
        "{e}"
    );
}

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .map(|h| h.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = format!("{:?} {} host={host}", req.version(), req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// A hyper server (HTTP/1.1 and HTTP/2) on a Unix listener.
fn serve_http(listener: UnixListener) {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(hello))
                    .await;
            });
        }
    });
}

#[tokio::test]
async fn hyper_client_over_unix_socket() {
    let dir = Dir::new("hyper");
    let path = dir.path("api.sock");
    serve_http(UnixListener::bind(&path).unwrap());
    let connector = Connector::new()
        .connect_timeout(Duration::from_secs(5))
        .unix_socket(&path);
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector.clone());
    for uri in ["http://docker/v1.45/version", "http://localhost:8080/_ping"] {
        let response = client.get(uri.parse().unwrap()).await.unwrap();
        let info = response.extensions().get::<HttpInfo>().unwrap().clone();
        assert!(info.is_unix() && !info.is_tls());
        assert_eq!(info.remote_addr(), None);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let uri: http::Uri = uri.parse().unwrap();
        let want = format!(
            "HTTP/1.1 {} host={}",
            uri.path(),
            uri.authority().unwrap().as_str()
        );
        assert_eq!(String::from_utf8_lossy(&body), want);
    }

    // HTTP/2 prior knowledge over the socket.
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build::<_, Empty<Bytes>>(connector.clone());
    let response = h2.get("http://app/h2".parse().unwrap()).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(b"HTTP/2.0 /h2"), "{body:?}");

    // https is refused before anything is sent; a missing socket names it.
    let mut c = connector.clone();
    let e = c.call("https://app/".parse().unwrap()).await.unwrap_err();
    assert_eq!(e.kind(), ConnectErrorKind::InvalidInput, "{e}");
    let mut missing = Connector::new().unix_socket(dir.path("gone.sock"));
    let e = missing
        .call("http://app/".parse().unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
    assert!(e.to_string().contains("gone.sock"), "{e}");
}
