// An article gives its values and nothing else: it can't claim that a value needs no escaping,
// or say how long its item is. The reply that holds it writes the item and escapes every value.
use passive_reply::NewsArticle;

struct Post;

impl NewsArticle for Post {
    fn title(&self) -> Option<&str> {
        Some("a ]]> b")
    }

    fn item_len(&self) -> usize {
        0
    }

    fn write_item_in_room(&self) -> bool {
        true
    }
}

fn main() {}
