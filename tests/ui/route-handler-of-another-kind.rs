// A text route whose handler takes a click event: refused at the route.
use passive_reply::router::{Msg, Router, kind};
use passive_reply::Empty;

async fn on_click(_: Msg<kind::Event>) -> Empty {
    Empty
}

fn main() {
    let _ = Router::new().text("help", on_click);
}
