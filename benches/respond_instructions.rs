//! The delivery path in process, for instruction counts: `Endpoint::respond` on N plaintext
//! deliveries (distinct MsgIds, a MemoryStore), no socket. Per delivery, run it twice under
//! callgrind and divide the difference by the difference of N:
//!
//! `valgrind --tool=callgrind target/release/respond_instructions 1000` (and 3000).
use std::time::Duration;

use passive_reply::endpoint::Endpoint;
use passive_reply::endpoint::signature_of;
use passive_reply::serve::{MemoryStore, RetryGuard};
use passive_reply::{Incoming, Text};

async fn answer(msg: Incoming<'static>) -> Text<'static> {
    msg.reply_text("ok").into_owned()
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    runtime.block_on(async move {
        let endpoint = Endpoint::new("t", answer)
            .budget(Duration::from_secs(4))
            .retry_guard(RetryGuard::with_store(MemoryStore::with_budget(Duration::from_secs(30), 1 << 30)));
        let timestamp = passive_reply::now().to_string();
        let query = format!("signature={}&timestamp={timestamp}&nonce=1", signature_of("t", &timestamp, "1"));
        let method = axum::http::Method::POST;
        for i in 0..n {
            let body = format!(
                "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
                 <MsgType>text</MsgType><Content>hi</Content><MsgId>{i}</MsgId></xml>"
            );
            let answer = endpoint.respond(&method, Some(&query), axum::body::Bytes::from(body)).await;
            assert_eq!(answer.status(), axum::http::StatusCode::OK);
        }
    });
}
