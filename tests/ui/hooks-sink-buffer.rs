// Nor by the hidden method the crate's own sinks use: its argument and result are types that
// can't be named outside the crate, so no signature written here matches it, not even the one
// the compiler suggests.
use passive_reply::Sink;

struct Counter(usize);

impl Sink for Counter {
    type Error = ();

    fn write_str(&mut self, s: &str) -> Result<(), ()> {
        self.0 += s.len();
        Ok(())
    }

    fn buffer(&mut self, token: ()) -> Option<Vec<u8>> {
        let _ = token;
        None
    }
}

struct Follower;

impl Sink for Follower {
    type Error = ();

    fn write_str(&mut self, _: &str) -> Result<(), ()> {
        Ok(())
    }

    fn buffer(&mut self, _: reply_core::sink::Token) -> Option<reply_core::sink::Buffer<'_>> {
        None
    }
}

fn main() {}
