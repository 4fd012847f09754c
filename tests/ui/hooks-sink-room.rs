// A sink can't lend a derived reply room of its own: the fast path into room is this crate's,
// for `Vec<u8>` and `String`, and no impl can claim it.
use passive_reply::Sink;

struct Counter(usize);

impl Sink for Counter {
    type Error = ();

    fn write_str(&mut self, s: &str) -> Result<(), ()> {
        self.0 += s.len();
        Ok(())
    }

    fn room(&mut self, len: usize) -> Option<&mut [u8]> {
        let _ = len;
        None
    }
}

fn main() {}
