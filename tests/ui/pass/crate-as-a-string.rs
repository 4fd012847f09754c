//! serde's string form of the runtime's path: `crate = "…"`, here the facade itself under another
//! name, as a framework's re-export would be.
mod framework {
    pub use passive_reply as reply;
}

use passive_reply::PassiveReply;

#[derive(PassiveReply)]
#[reply(text, crate = "framework::reply")]
struct Reply<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    content: &'a str,
}

fn main() {
    let reply = Reply { to_user_name: "u", from_user_name: "gh", create_time: 1, content: "hi" };
    assert!(reply.to_xml().ends_with("<Content><![CDATA[hi]]></Content></xml>"));
}
