//! Builds a reply of every kind and prints the XML the server would return for each.
//!
//! Run it with `cargo run --example replies`.

use std::borrow::Cow;

use passive_reply::{
    Article, Articles, Empty, Image, Music, NewsArticle, PassiveReply, Text, TransferCustomerService, Video, Voice,
};

/// A reply of your own, derived: fields in any order, the output in the platform's.
#[derive(PassiveReply)]
#[reply(text)]
struct Greeting<'a> {
    content: Cow<'a, str>,
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: std::time::SystemTime,
}

/// An article of your own.
#[derive(NewsArticle)]
struct Post<'a> {
    title: &'a str,
    url: &'a str,
}

/// A news reply of your own, with at most three articles.
#[derive(PassiveReply)]
#[reply(news, max_articles = 3)]
struct Digest<'a> {
    to_user_name: &'a str,
    from_user_name: &'a str,
    create_time: u64,
    articles: [Post<'a>; 2],
}

fn show(label: &str, reply: &impl PassiveReply) {
    // One buffer, sized exactly; `write_to` into it allocates nothing more.
    let mut body = Vec::with_capacity(reply.encoded_len());
    reply.write_to(&mut body).expect("a Vec never refuses");
    println!("{label} ({} bytes):\n{}\n", body.len(), String::from_utf8_lossy(&body));
}

fn main() {
    // The addresses swap: the user (OpenID) is ToUserName, the account is FromUserName.
    let (user, account, now) = ("oUser123", "gh_account", 1_700_000_000);

    let greeting = Greeting {
        content: "你好! A value can hold ]]> and a \u{1} control: both are made safe.".into(),
        to_user_name: user,
        from_user_name: account,
        create_time: std::time::SystemTime::now(),
    };
    show("text (derived)", &greeting);

    show("text", &Text::new(user, account, "第一行\n第二行").with_create_time(now));
    show("image", &Image::new(user, account, "MEDIA_ID_OF_IMAGE").with_create_time(now));
    show("voice", &Voice::new(user, account, "MEDIA_ID_OF_VOICE").with_create_time(now));
    show("video", &Video::new(user, account, "MEDIA_ID_OF_VIDEO").title("Launch").with_create_time(now));
    show(
        "music",
        &Music::new(user, account, "THUMB_MEDIA_ID")
            .title("Song")
            .music_url("https://example.com/song.mp3")
            .hq_music_url("https://example.com/song.flac")
            .with_create_time(now),
    );

    let mut articles = Articles::new(Article::new().title("Big picture").pic_url("https://example.com/360x200.png"));
    articles.push(Article::new().title("Second story").url("https://example.com/2")).expect("2 <= 10");
    show("news", &passive_reply::News::new(user, account, articles).with_create_time(now));

    let digest = Digest {
        to_user_name: user,
        from_user_name: account,
        create_time: now,
        articles: [
            Post { title: "One", url: "https://example.com/1" },
            Post { title: "Two", url: "https://example.com/2" },
        ],
    };
    show("news (derived, at most 3 articles)", &digest);

    show("transfer_customer_service", &TransferCustomerService::new(user, account).with_create_time(now));

    // More than ten articles is refused when the list is built, and nothing is lost.
    let eleven = vec![Article::new().title("too many"); 11];
    match Articles::<Article>::try_from(eleven) {
        Ok(_) => unreachable!(),
        Err(e) => {
            println!("refused: {e}");
            println!("({} articles given back)\n", e.into_items().len());
        }
    }

    show("empty (the reply for a server that can't answer in time)", &Empty);
}
