//! A plain HTTP/1.1 client written here (so what is tested is what goes over the wire, byte by
//! byte), a server on a free loopback port, and the platform's signed deliveries as the test kit
//! makes them.

use std::net::SocketAddr;

use passive_reply::crypto::MessageCrypto;
use passive_reply_test::{Inbound, Mode, Platform};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The token the test endpoints are configured with.
pub const TOKEN: &str = "test-token";

pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// One request over a new connection.
pub async fn request(addr: SocketAddr, method: &str, target: &str, body: &str) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let mut content_type = None;
    for line in lines {
        let (name, value) = line.split_once(": ").unwrap();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_string());
        }
    }
    Response { status, content_type, body: body.to_string() }
}

/// A query signed with `token`, timestamped now (a delivery further than five minutes from the
/// server's clock is refused as a replay): the test kit's.
pub fn signed_query(token: &str) -> String {
    signed_query_at(token, passive_reply::now())
}

pub fn signed_query_at(token: &str, timestamp: u64) -> String {
    Platform::new(token).deliver_xml_at(String::new(), timestamp).query
}

/// `app` served by the crate's own server, as the examples serve, on a free loopback port.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let server = passive_reply::server::Server::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move { server.serve(app).await.unwrap() });
    addr
}

pub fn text_delivery(msg_id: u64, content: &str) -> String {
    Inbound::text(content).msg_id(msg_id).create_time(1348831860).to_xml("gh_account", 0, None)
}

/// An encrypted delivery as the platform sends it (the test kit's): the query with both
/// signatures and `encrypt_type=aes`, and the body in safe mode (`compatible`: with the
/// plaintext elements too).
pub fn encrypted_delivery(with: &MessageCrypto, xml: &str, compatible: bool) -> (String, String) {
    let mode = if compatible { Mode::Compatible } else { Mode::Safe };
    let delivery = Platform::new(TOKEN).with_crypto(with.clone(), mode).deliver_xml(xml.to_owned());
    (format!("/?{}", delivery.query), delivery.body)
}
