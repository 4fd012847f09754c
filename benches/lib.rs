//! What the benchmarks share. The benchmarks themselves are this package's bench targets (`cargo
//! bench -p passive-reply-benches --bench emit`, …), and `load_server` its binary
//! (`benches/load.sh`). See BENCHMARKS.md.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// The output of a future that is ready at once (a router's handlers here, the memory store's
/// claims and replies), polled once, with no runtime. Panics if it isn't.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("a future the benchmark expected to be ready at once waited"),
    }
}
