//! The platform's URL at `/`, its metrics for Prometheus at `/metrics` and its readiness at
//! `/ready`: `cargo run -p passive-reply-example-prometheus [-- 127.0.0.1:8080]`.
//!
//! The crate records its metrics through the `metrics` facade (`passive_reply::serve::observe`
//! names them); this installs Prometheus' recorder and serves what it renders. It prints a curl
//! command for a delivery and one for the metrics.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;
use passive_reply::axum::{Endpoint, signature_of};
use passive_reply::server::Server;
use passive_reply::{Incoming, Text};

const TOKEN: &str = "passive-reply";

async fn echo(msg: Incoming<'static>) -> Text<'static> {
    let content = msg.field("Content").unwrap_or("(not a text)").to_owned();
    msg.reply_text(content).into_owned()
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr = match std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into()).parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("prometheus_server: the address: {e}");
            std::process::exit(2);
        }
    };
    let prometheus = match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("prometheus_server: the recorder: {e}");
            std::process::exit(1);
        }
    };
    // Histograms are summarised on a schedule, as the exporter asks.
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let endpoint = Endpoint::new(TOKEN, echo);
    let ready = endpoint.readiness();
    let app = endpoint
        .into_router()
        .route("/metrics", get(move || std::future::ready(prometheus.render())))
        .route_service("/ready", ready);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("prometheus_server: can't listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    let timestamp = passive_reply::now().to_string();
    let query = format!("signature={}&timestamp={timestamp}&nonce=n", signature_of(TOKEN, &timestamp, "n"));
    println!("listening on http://{addr}/; try:");
    println!(
        "  curl -d '<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
         <MsgType>text</MsgType><Content>hi</Content><MsgId>1</MsgId></xml>' 'http://{addr}/?{query}'"
    );
    println!("  curl http://{addr}/metrics");
    println!("  curl http://{addr}/ready");
    match Server::new(listener).serve_until_signal(app).await {
        Ok(stopped) => std::process::exit(if stopped.forced { 1 } else { 0 }),
        Err(e) => {
            eprintln!("prometheus_server: {e}");
            std::process::exit(1);
        }
    }
}
