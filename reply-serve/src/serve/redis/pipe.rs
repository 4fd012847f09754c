//! The delivery path's own connection to Redis: the claims, reads and replies of deliveries in
//! progress, sent together as one pipeline on a connection of their own and read back in order.
//!
//! Every delivery asks Redis twice (its claim, then its reply), so this is the store's hot path;
//! everything else (pub/sub, the waiters' flags, the token store, late replies, sessions) keeps
//! redis-rs's connection manager. One task writes: it takes what the deliveries queued, lets the
//! runtime run two rounds first (every other ready task, then a look at its sockets; the commands
//! of the deliveries those bring join), and writes them all in one write, straight from each
//! delivery's key and reply into one reused buffer. Another reads the replies, in order, with
//! the small RESP2 reader below, and answers each delivery. The next batch goes out while the last
//! one's replies are on their way. No command object, no pipeline object, no value tree per
//! reply, no task per batch, no timer per command: each batch is given up on at its first asker's
//! deadline (its request and the store's timeout), by the tasks.
//!
//! The connection is made when the store is, and again at the next batch after it failed (an
//! error, an end, a batch not answered by its deadline, a write that didn't finish by it): every
//! command written on it and not yet answered then gets the error.

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ::redis::{ConnectionAddr, ConnectionInfo};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Recording, RedisOptions, millis};
use crate::serve::{StoreError, StoreErrorKind};
use reply_core::DedupKey;

/// The most commands of concurrent deliveries written as one batch.
const MAX_BATCH: usize = 256;

/// A command of the delivery path, written by the sending task.
pub(super) enum Command {
    /// `SET {prefix}{key} R{owner} NX GET PX {lease}`: claims the delivery unless it is there, and
    /// gives what was there, in one atomic step (Redis 7 and later).
    Claim(DedupKey),
    /// `GET {prefix}{key}`.
    Get(DedupKey),
    /// `SET {prefix}{key} D{reply} PX {window} GET`: the reply, and what it replaced (the claim,
    /// which says whether a waiter flagged it).
    Complete(DedupKey, Bytes),
}

/// What a command gives: a bulk string's bytes, or `None` for Redis's nil (and for a status
/// such as `OK`, which none of the answers carries).
pub(super) type Answer = Result<Option<Bytes>, StoreError>;

struct Queued {
    command: Command,
    answer: Asker,
    /// When the asker stops waiting: its request and the store's timeout.
    deadline: Instant,
}

/// Who is given a command's answer.
enum Asker {
    /// The delivery that sent it, waiting.
    Waiting(oneshot::Sender<Answer>),
    /// Nobody waits: a reply recorded while its response goes out ([`Pipe::record`]). Its
    /// answer goes to the store's `Recorder`.
    Recorded(Recording),
}

impl Asker {
    /// Gives the asker its command's answer, a bulk string's bytes borrowed from what the reader
    /// read: copied for a delivery that waits, only looked at for a recorded reply.
    fn answer(self, value: Result<Option<&[u8]>, StoreError>) {
        match self {
            // The asker may have given up (its timeout): nothing to do.
            Asker::Waiting(sender) => drop(sender.send(value.map(|bytes| bytes.map(Bytes::copy_from_slice)))),
            Asker::Recorded(recording) => recording.answered(value),
        }
    }
}

/// The queue of the task that sends on the connection; cheap to clone. The task ends when the
/// last clone is dropped.
#[derive(Clone)]
pub(super) struct Pipe {
    queue: mpsc::UnboundedSender<Queued>,
    timeout: Duration,
}

impl Pipe {
    /// Starts the task that sends on `connection` (and on a new one, to `info`'s Redis, after a
    /// failure). The queue holds at most a command per delivery in progress (the server bounds
    /// those).
    pub(super) fn start(
        connection: Connection,
        info: ConnectionInfo,
        options: Arc<RedisOptions>,
        running: Arc<[u8]>,
    ) -> Pipe {
        let (queue, queued) = mpsc::unbounded_channel();
        let timeout = options.timeout;
        let sender = Sender {
            claim_tail: claim_tail(&running, &options),
            complete_tail: complete_tail(&options),
            info,
            options,
            live: Some(connection.start()),
            out: Vec::new(),
        };
        tokio::spawn(sender.run(queued));
        Pipe { queue, timeout }
    }

    /// Sends `command` with the commands of other deliveries, and gives its answer, within the
    /// store's timeout: its connection is given up on if a command isn't answered by its
    /// deadline (the tasks keep it, so that a command needs no timer of its own).
    pub(super) async fn send(&self, command: Command) -> Answer {
        let (answer, answered) = oneshot::channel();
        self.queue(command, Asker::Waiting(answer)).map_err(|(error, _)| error)?;
        // Dropped unanswered: its batch's connection failed before the reply came.
        answered.await.map_err(|_| lost("the connection to Redis failed before the reply came"))?
    }

    /// Sends `command` (a reply to record) with the commands of other deliveries, without
    /// waiting for its answer: it goes to the store's `Recorder`, through `recording`. In the queue once this
    /// returns, so a command sent after it on this pipe reaches Redis after it.
    pub(super) fn record(&self, command: Command, recording: Recording) -> Result<(), StoreError> {
        self.queue(command, Asker::Recorded(recording)).map_err(|(error, answer)| {
            // The error is the caller's to report, not the recording's.
            if let Asker::Recorded(mut recording) = answer {
                recording.key = None;
            }
            error
        })
    }

    fn queue(&self, command: Command, answer: Asker) -> Result<(), (StoreError, Asker)> {
        let deadline = after(self.timeout);
        self.queue
            .send(Queued { command, answer, deadline })
            .map_err(|mpsc::error::SendError(queued)| (lost("the store's sending task has ended"), queued.answer))
    }
}

/// The instant `timeout` from now; a timeout too long to add (`Duration::MAX`) is thirty years.
fn after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

/// The store's error for a failure of the connection: a timeout, a stream that is not RESP, or
/// Redis unavailable.
fn failed(error: &io::Error) -> StoreError {
    let kind = match error.kind() {
        io::ErrorKind::TimedOut => StoreErrorKind::Timeout,
        io::ErrorKind::InvalidData => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Unavailable,
    };
    StoreError::new(kind, format!("Redis: {error}"))
}

fn lost(what: &str) -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, what)
}

/// A connection to Redis, authenticated and on its database, before its halves go to the task
/// that writes and the task that reads.
pub(super) struct Connection {
    write: Box<dyn AsyncWrite + Send + Unpin>,
    read: Reader,
}

/// A connection's reading half, and what was read from it but not yet taken.
struct Reader {
    half: Box<dyn AsyncRead + Send + Unpin>,
    buffer: BytesMut,
}

/// The most a bulk string may hold: Redis's own limit (`proto-max-bulk-len`, 512 MiB). A
/// declared length beyond it is a broken stream, not a reason to wait for that much.
const MAX_BULK: usize = 512 << 20;

/// How much room a read of the socket has at least.
const READ_ROOM: usize = 4096;

/// The most room a buffer keeps between batches (for the longest replies, a batch may need more).
const KEPT_ROOM: usize = 1 << 20;

impl Connection {
    /// Connects to `info`'s Redis (TCP or a Unix socket), within `timeout`: `AUTH` with its
    /// password (and user name), `SELECT` of its database unless it is 0.
    pub(super) async fn open(info: &ConnectionInfo, timeout: Duration) -> io::Result<Connection> {
        Connection::open_by(info, after(timeout)).await
    }

    /// [`open`](Connection::open), by `deadline`.
    async fn open_by(info: &ConnectionInfo, deadline: Instant) -> io::Result<Connection> {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "no connection to Redis within the store's timeout");
        tokio::time::timeout_at(deadline, Connection::open_now(info)).await.map_err(|_| timed_out())?
    }

    async fn open_now(info: &ConnectionInfo) -> io::Result<Connection> {
        let mut connection = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                // Each batch is one write, sent at once.
                stream.set_nodelay(true)?;
                let (read, write) = stream.into_split();
                Connection::of(Box::new(read), Box::new(write))
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => {
                let (read, write) = tokio::net::UnixStream::connect(path).await?.into_split();
                Connection::of(Box::new(read), Box::new(write))
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the retry guard's store connects to Redis by TCP or a Unix socket, not {other}"),
                ));
            }
        };
        let settings = info.redis_settings();
        let mut hello = Vec::new();
        let mut replies = 0;
        if let Some(password) = settings.password() {
            match settings.username() {
                Some(user) => command(&mut hello, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => command(&mut hello, &[b"AUTH", password.as_bytes()]),
            }
            replies += 1;
        }
        if settings.db() != 0 {
            command(&mut hello, &[b"SELECT", itoa::Buffer::new().format(settings.db()).as_bytes()]);
            replies += 1;
        }
        if replies > 0 {
            connection.write.write_all(&hello).await?;
            for _ in 0..replies {
                let (reply, len) = connection.read.reply().await?;
                connection.read.consume(len);
                if let Reply::Error(error) = reply {
                    return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("Redis: {error}")));
                }
            }
        }
        Ok(connection)
    }

    fn of(read: Box<dyn AsyncRead + Send + Unpin>, write: Box<dyn AsyncWrite + Send + Unpin>) -> Connection {
        Connection { write, read: Reader { half: read, buffer: BytesMut::with_capacity(READ_ROOM) } }
    }

    /// Starts the task that reads the connection's replies.
    fn start(self) -> Live {
        let (sent, to_read) = mpsc::unbounded_channel();
        let reader = tokio::spawn(self.read.run(to_read));
        Live { write: self.write, sent, reader: Some(reader) }
    }
}

/// A batch written: whom to answer, in order, one reply each, and by when the last reply must
/// have come.
struct Sent {
    answers: Vec<Asker>,
    deadline: Instant,
}

impl Reader {
    /// Answers each batch written, in order, from the replies read. When a batch's replies don't
    /// all come by its deadline, or the connection fails, every answer not yet given (that
    /// batch's and those written after it) gets the error, and the task ends: the next batch
    /// goes on a new connection.
    ///
    /// While no batch is out, it watches the connection too: one that Redis (or a proxy) closes
    /// while idle ends the task before the next batch is written, and the batch goes on a new
    /// connection instead of failing.
    async fn run(mut self, mut sent: mpsc::UnboundedReceiver<Sent>) {
        while let Some(Sent { answers, deadline }) = self.next(&mut sent).await {
            let mut answers = answers.into_iter();
            let read = tokio::time::timeout_at(deadline, async {
                for answer in answers.by_ref() {
                    let (reply, len) = self.reply().await?;
                    answer.answer(reply.into_answer(&self.buffer));
                    self.consume(len);
                }
                Ok::<(), io::Error>(())
            })
            .await;
            let error = match read {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => failed(&error),
                Err(_) => StoreError::new(StoreErrorKind::Timeout, "no answer from Redis within the store's timeout"),
            };
            sent.close();
            for answer in answers {
                answer.answer(Err(error.clone()));
            }
            while let Ok(Sent { answers, .. }) = sent.try_recv() {
                for answer in answers {
                    answer.answer(Err(error.clone()));
                }
            }
            return;
        }
    }

    /// The next batch written; `None` when the writer is gone, or when the connection ended (or
    /// sent what nobody asked for) while no batch was out: the channel is closed then, so the
    /// writer connects again for its next batch.
    async fn next(&mut self, sent: &mut mpsc::UnboundedReceiver<Sent>) -> Option<Sent> {
        let mut byte = [0u8; 1];
        let ended = std::future::poll_fn(|cx| {
            if let Poll::Ready(next) = sent.poll_recv(cx) {
                return Poll::Ready(next);
            }
            // Nothing seemed due. Any byte, the end, or an error then means the connection is
            // done, unless a batch is there after all: the writer hands a batch over before it
            // writes it, so its replies can be here first (read ahead with the last batch's, or
            // sent while this task looked away), when the writer runs on another worker thread or
            // when `poll_recv` said "not now" for the task's cooperative budget (tokio's) with a
            // batch waiting. What was read is kept for it, and the channel is looked at again,
            // outside the budget.
            if self.buffer.is_empty() {
                let mut read = ReadBuf::new(&mut byte);
                match Pin::new(&mut self.half).poll_read(cx, &mut read) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => self.buffer.extend_from_slice(read.filled()),
                    Poll::Ready(Err(_)) => {}
                }
            }
            Poll::Ready(sent.try_recv().ok())
        })
        .await;
        if ended.is_none() {
            sent.close();
        }
        ended
    }

    /// The next reply, whole in the buffer, and its length there: read past with
    /// [`consume`](Reader::consume) once it is answered.
    async fn reply(&mut self) -> io::Result<(Reply, usize)> {
        loop {
            if let Some(read) = read_reply(&self.buffer)? {
                return Ok(read);
            }
            self.buffer.reserve(READ_ROOM);
            if self.half.read_buf(&mut self.buffer).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "Redis closed the connection"));
            }
        }
    }

    /// Reads past the reply of `len` bytes at the start of the buffer.
    fn consume(&mut self, len: usize) {
        self.buffer.advance(len);
        if self.buffer.is_empty() && self.buffer.capacity() > KEPT_ROOM {
            self.buffer = BytesMut::with_capacity(READ_ROOM);
        }
    }
}

/// A connection in use: its writing half, and the task that reads its replies.
struct Live {
    write: Box<dyn AsyncWrite + Send + Unpin>,
    sent: mpsc::UnboundedSender<Sent>,
    /// `None` only while [`finish`](Live::finish) waits for it.
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Live {
    /// Waits until the batches written are answered (each by its deadline), the connection
    /// kept open for their replies, and closes it.
    async fn finish(mut self) {
        let Some(reader) = self.reader.take() else { return };
        // The reader ends once the batches handed to it are answered and its channel is closed.
        self.sent = mpsc::unbounded_channel().0;
        let _ = reader.await;
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // Its batches' answers are dropped with it: their askers learn at once.
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

/// The task that writes the batches.
struct Sender {
    info: ConnectionInfo,
    options: Arc<RedisOptions>,
    /// What follows the key in every claim: the store's name, the flags, the lease.
    claim_tail: Box<[u8]>,
    /// What follows the reply in every reply's `SET`: the window.
    complete_tail: Box<[u8]>,
    /// `None` after a failure, until the next batch connects again.
    live: Option<Live>,
    /// A batch's commands, written; reused.
    out: Vec<u8>,
}

impl Sender {
    async fn run(mut self, mut queued: mpsc::UnboundedReceiver<Queued>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queued.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // Two rounds of the runtime first (`yield_now` wakes this task once every other ready
            // task has run and the runtime has looked at its sockets): the deliveries ready to run,
            // then those whose requests that look brought, queue their commands into this batch.
            // Against one round: 7-12% less of the server's CPU a delivery with 8 to 32 concurrent
            // deliveries, 17% fewer wake-ups of Redis at 32, one delivery at a time no slower
            // (BENCHMARKS.md, "The Redis store's batches: two rounds"); more rounds cost more
            // waiting than they save.
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            while batch.len() < MAX_BATCH {
                let Ok(more) = queued.try_recv() else { break };
                batch.push(more);
            }
            self.out.clear();
            let mut answers = Vec::with_capacity(batch.len());
            // The batch is given up on when its first asker stops waiting.
            let deadline = batch.iter().map(|queued| queued.deadline).min().expect("recv_many took one at least");
            for Queued { command, answer, .. } in batch.drain(..) {
                self.write(&command);
                answers.push(answer);
            }
            if let Err((error, answers)) = self.send(answers, deadline).await {
                for answer in answers {
                    answer.answer(Err(error.clone()));
                }
            }
        }
        // Every clone of the store is gone (an application stopping): what was written is still
        // answered, so that a reply recorded without waiting isn't given up with the store
        // (`RedisStore::settle` waits for it).
        if let Some(live) = self.live.take() {
            live.finish().await;
        }
    }

    /// Writes the batch, its answers handed to the reading task first; connects again first if
    /// the connection ended. On a failure to connect, the answers come back with the error.
    async fn send(&mut self, mut answers: Vec<Asker>, deadline: Instant) -> Result<(), (StoreError, Vec<Asker>)> {
        // Twice at most: a connection can end between the look and the hand-over.
        for _ in 0..2 {
            // A connection whose reader ended (it failed, or the connection closed) is made again.
            if self.live.as_ref().is_none_or(|live| live.sent.is_closed()) {
                self.live = None;
                match Connection::open_by(&self.info, deadline).await {
                    Ok(connection) => self.live = Some(connection.start()),
                    Err(error) => return Err((failed(&error), answers)),
                }
            }
            let live = self.live.as_mut().expect("connected above");
            match live.sent.send(Sent { answers, deadline }) {
                Ok(()) => {}
                Err(mpsc::error::SendError(Sent { answers: back, .. })) => {
                    answers = back;
                    self.live = None;
                    continue;
                }
            }
            match tokio::time::timeout_at(deadline, live.write.write_all(&self.out)).await {
                Ok(Ok(())) => {}
                // Not written (whole): the connection is dropped, and its reader with the answers
                // it holds, this batch's among them.
                _ => self.live = None,
            }
            // Room for a batch of long replies is not kept for ever.
            if self.out.capacity() > KEPT_ROOM {
                self.out = Vec::new();
            }
            return Ok(());
        }
        Err((lost("the connection to Redis ended twice while a batch was sent"), answers))
    }

    /// Writes `command` into the batch.
    fn write(&mut self, command: &Command) {
        let prefix = self.options.prefix.as_bytes();
        let out = &mut self.out;
        match command {
            Command::Claim(key) => {
                out.extend_from_slice(b"*7\r\n$3\r\nSET\r\n");
                bulk(out, &[prefix, key.as_bytes()]);
                out.extend_from_slice(&self.claim_tail);
            }
            Command::Get(key) => {
                out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
                bulk(out, &[prefix, key.as_bytes()]);
            }
            Command::Complete(key, reply) => {
                out.extend_from_slice(b"*6\r\n$3\r\nSET\r\n");
                bulk(out, &[prefix, key.as_bytes()]);
                bulk(out, &[b"D", reply]);
                out.extend_from_slice(&self.complete_tail);
            }
        }
    }
}

/// What follows the key in every claim: `R{owner} NX GET PX {lease}`, as RESP.
fn claim_tail(running: &[u8], options: &RedisOptions) -> Box<[u8]> {
    let mut tail = Vec::new();
    bulks(&mut tail, &[running, b"NX", b"GET", b"PX", itoa::Buffer::new().format(millis(options.lease)).as_bytes()]);
    tail.into()
}

/// What follows the reply in every reply's `SET`: `PX {window} GET`, as RESP.
fn complete_tail(options: &RedisOptions) -> Box<[u8]> {
    let mut tail = Vec::new();
    bulks(&mut tail, &[b"PX", itoa::Buffer::new().format(millis(options.window)).as_bytes(), b"GET"]);
    tail.into()
}

/// Writes a command of `args` (each one piece) as RESP: an array of bulk strings.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    array(out, args.len());
    bulks(out, args);
}

/// Writes each of `args` as a bulk string of one piece.
fn bulks(out: &mut Vec<u8>, args: &[&[u8]]) {
    for arg in args {
        bulk(out, &[arg]);
    }
}

/// `*{len}\r\n`: an array of `len` values follows.
fn array(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// One bulk string made of `pieces`, one after the other: `${len}\r\n{bytes}\r\n`.
fn bulk(out: &mut Vec<u8>, pieces: &[&[u8]]) {
    let len: usize = pieces.iter().map(|piece| piece.len()).sum();
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
    for piece in pieces {
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(b"\r\n");
}

/// A reply of Redis, as far as the delivery path needs it.
#[derive(Debug, PartialEq)]
enum Reply {
    /// A bulk string: where its bytes are in what was read.
    Bulk(Range<usize>),
    /// Nil (`$-1`, `*-1`).
    Nil,
    /// An error reply (`-ERR …`).
    Error(String),
    /// A status (`+OK`), an integer, an array: read whole, not kept (none of the delivery path's
    /// answers is one).
    Other,
}

impl Reply {
    /// The answer it is, `read` being what it was read from.
    fn into_answer(self, read: &[u8]) -> Result<Option<&[u8]>, StoreError> {
        match self {
            Reply::Bulk(range) => Ok(Some(&read[range])),
            Reply::Nil | Reply::Other => Ok(None),
            Reply::Error(error) => Err(StoreError::new(StoreErrorKind::Unavailable, format!("Redis: {error}"))),
        }
    }
}

fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("a reply from Redis that is not RESP: {what}"))
}

/// The first whole reply in `read`, and its length; `None` while it is not all there. Arrays are
/// read as one reply (their elements counted, not nested: no recursion, whatever their depth).
fn read_reply(read: &[u8]) -> io::Result<Option<(Reply, usize)>> {
    let mut at = 0;
    // How many values are still to be read: the reply, and the elements of arrays within it.
    let mut left = 1usize;
    let mut first = None;
    while left > 0 {
        let Some(line_len) = read[at..].iter().position(|&b| b == b'\n') else { return Ok(None) };
        let line = &read[at..at + line_len];
        let Some((&kind, line)) = line.split_first() else { return Err(broken("an empty line")) };
        let Some(line) = line.strip_suffix(b"\r") else { return Err(broken("a line not ended by CR LF")) };
        at += line_len + 1;
        left -= 1;
        let reply = match kind {
            b'+' | b':' => Reply::Other,
            b'-' => Reply::Error(String::from_utf8_lossy(line).into_owned()),
            b'$' => match length(line)? {
                None => Reply::Nil,
                Some(len) => {
                    let Some(end) = at.checked_add(len).filter(|end| end + 2 <= read.len()) else { return Ok(None) };
                    if &read[end..end + 2] != b"\r\n" {
                        return Err(broken("a bulk string longer than it said"));
                    }
                    let bulk = at..end;
                    at = end + 2;
                    Reply::Bulk(bulk)
                }
            },
            b'*' => match length(line)? {
                None => Reply::Nil,
                Some(len) => {
                    left = left.checked_add(len).ok_or_else(|| broken("an array too long"))?;
                    Reply::Other
                }
            },
            _ => return Err(broken("an unknown type")),
        };
        first.get_or_insert(reply);
    }
    Ok(first.map(|reply| (reply, at)))
}

/// A length of a bulk string or an array: `None` for `-1` (nil).
fn length(digits: &[u8]) -> io::Result<Option<usize>> {
    if digits == b"-1" {
        return Ok(None);
    }
    let len = std::str::from_utf8(digits)
        .ok()
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<usize>().ok())
        .filter(|&len| len <= MAX_BULK)
        .ok_or_else(|| broken("a length that is not one"))?;
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reply read whole and cut at every byte: the same reply, or "not all there yet".
    #[test]
    fn replies_are_read_whole_or_waited_for() {
        let cases: [(&[u8], Reply); 9] = [
            (b"+OK\r\n", Reply::Other),
            (b":42\r\n", Reply::Other),
            (b"$-1\r\n", Reply::Nil),
            (b"*-1\r\n", Reply::Nil),
            (b"$0\r\n\r\n", Reply::Bulk(4..4)),
            (b"$5\r\nR1-ab\r\n", Reply::Bulk(4..9)),
            (b"$4\r\na\r\nb\r\n", Reply::Bulk(4..8)),
            (b"-ERR wrong number of arguments\r\n", Reply::Error("ERR wrong number of arguments".into())),
            (b"*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+x\r\n", Reply::Other),
        ];
        for (wire, expected) in cases {
            let mut followed = wire.to_vec();
            followed.extend_from_slice(b"$1\r\nz\r\n");
            assert_eq!(
                read_reply(&followed).unwrap(),
                Some((expected, wire.len())),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
            for cut in 0..wire.len() {
                assert_eq!(read_reply(&wire[..cut]).unwrap(), None, "{:?} cut at {cut}", String::from_utf8_lossy(wire));
            }
        }
    }

    #[test]
    fn what_is_not_resp_is_an_error() {
        for wire in [
            &b"?1\r\n"[..],
            b"\n",
            b"+OK\n",
            b"$x\r\n",
            b"$-2\r\n",
            b"$+1\r\nab\r\n",
            b"$1\r\nab\r\n",
            b"$99999999999999999999999\r\n",
            b"$536870913\r\n",
            b"*-5\r\n",
        ] {
            let error = read_reply(wire).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{:?}", String::from_utf8_lossy(wire));
        }
    }

    /// An array declaring more elements than memory could hold is only a count: nothing is sized
    /// from it, and the reader waits for elements that never come.
    #[test]
    fn a_huge_array_costs_nothing_until_it_is_there() {
        assert_eq!(read_reply(b"*536870912\r\n+a\r\n").unwrap(), None);
    }

    /// Whatever bytes come: a reply, "not all there yet", or an error, never a panic, and a
    /// reply's length within what was read. Bytes drawn (by a fixed xorshift, so a failure
    /// repeats) from RESP's own characters, so that most are nearly replies.
    #[test]
    fn any_bytes_are_read_without_a_panic() {
        const ALPHABET: &[u8] = b"+-:$*0123456789-\r\n\r\nabc";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut replies, mut errors) = (0, 0);
        for _ in 0..200_000 {
            let len = (next() % 24) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]).collect();
            match read_reply(&bytes) {
                Ok(Some((reply, used))) => {
                    assert!(used <= bytes.len(), "{:?}", String::from_utf8_lossy(&bytes));
                    // A bulk string's bytes are within the reply.
                    if let Reply::Bulk(bulk) = reply {
                        assert!(bulk.start <= bulk.end && bulk.end <= used, "{:?}", String::from_utf8_lossy(&bytes));
                    }
                    replies += 1;
                }
                Ok(None) => {}
                Err(_) => errors += 1,
            }
        }
        // The draw reaches both ends, not only "not all there yet".
        assert!(replies > 1_000 && errors > 1_000, "{replies} replies, {errors} errors");
    }

    /// A timeout too long to add to now is a deadline far away, not a panic.
    #[tokio::test]
    async fn the_longest_timeout_is_a_far_deadline() {
        assert!(after(Duration::MAX) > Instant::now() + Duration::from_secs(365 * 86_400));
        assert!(after(Duration::from_millis(5)) <= Instant::now() + Duration::from_millis(5));
    }

    /// The writer, on another worker thread, hands a batch over between the reader's look at the
    /// channel and its look at the socket, and the batch's reply is there already: what the
    /// reader read is kept for that batch, which gets its answer. (It was taken for bytes nobody
    /// asked for, the connection was ended, and the batch's askers got "the connection to Redis
    /// failed before the reply came": `tests/redis.rs` failed so beside two CPU burners.)
    #[tokio::test]
    async fn a_reply_here_before_its_batch_is_seen_is_kept_for_it() {
        /// A socket whose first read hands the batch over first, as the writer would meanwhile.
        struct Racing {
            handover: Option<(mpsc::UnboundedSender<Sent>, Sent)>,
            wire: &'static [u8],
        }

        impl AsyncRead for Racing {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if let Some((writer, batch)) = self.handover.take() {
                    writer.send(batch).expect("the reader's channel is open");
                }
                if self.wire.is_empty() {
                    return Poll::Pending;
                }
                let n = self.wire.len().min(buf.remaining());
                buf.put_slice(&self.wire[..n]);
                self.wire = &self.wire[n..];
                Poll::Ready(Ok(()))
            }
        }

        let (writer, batches) = mpsc::unbounded_channel();
        let (answer, answered) = oneshot::channel();
        let batch = Sent { answers: vec![Asker::Waiting(answer)], deadline: after(Duration::from_secs(5)) };
        let socket = Racing { handover: Some((writer.clone(), batch)), wire: b"+OK\r\n" };
        let reader = Reader { half: Box::new(socket), buffer: BytesMut::with_capacity(READ_ROOM) };
        let task = tokio::spawn(reader.run(batches));
        let answer = answered.await.expect("answered, not dropped with the connection");
        assert!(matches!(answer, Ok(None)), "{answer:?}");
        drop(writer);
        task.await.unwrap();
    }

    #[test]
    fn commands_are_written_as_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, &[b"AUTH", b"user", b"p\r\nw"]);
        bulk(&mut out, &[b"pre:", b"", b"key"]);
        assert_eq!(out, b"*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$4\r\np\r\nw\r\n$7\r\npre:key\r\n");
    }
}
