//! The `PassiveReply` trait, its object-safe twin, and `Empty`.

use std::rc::Rc;
use std::sync::Arc;

use crate::emit::{JsonOutput, Length, Output};
use crate::sink::{Buffer, Sink, Token};

/// A message that can be written as the body of a passive reply.
///
/// Implement it with `#[derive(PassiveReply)]` (from the `passive-reply` crate), which writes
/// the platform's canonical XML: an `<xml>` root, no declaration, no whitespace between elements,
/// every string as CDATA, and elements in the platform's order.
///
/// ```
/// use reply_core::{PassiveReply, Text};
///
/// let reply = Text::new("toUser", "fromUser", "你好").with_create_time(12345678);
/// assert_eq!(
///     reply.to_xml(),
///     "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>\
///      <CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType>\
///      <Content><![CDATA[你好]]></Content></xml>"
/// );
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a passive reply",
    label = "not a reply",
    note = "derive it with `#[derive(PassiveReply)]` and a kind such as `#[reply(text)]`, or use a standard message: `Text`, `Image`, `Voice`, `Video`, `Music`, `News`, `TransferCustomerService` or `Empty`"
)]
pub trait PassiveReply {
    /// The exact number of bytes that [`write_to`](PassiveReply::write_to) writes.
    fn encoded_len(&self) -> usize;

    /// Writes the reply into `sink`: exactly [`encoded_len`](PassiveReply::encoded_len) bytes.
    /// No heap allocation happens when the sink already has room; a fixed buffer that is too small
    /// is left untouched. A derived reply calls [`Sink::reserve`] once with its length first, then
    /// writes piece by piece, except into a `Vec<u8>` or `String`, where it is copied straight
    /// into the room the buffer has (grown first when it has too little).
    fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error>;

    /// The reply as a `String`, of exactly [`encoded_len`](PassiveReply::encoded_len) bytes,
    /// allocated once (never for a zero-length reply). A derived reply writes it the way
    /// `write_to` writes into a `Vec`, into an allocation of its length when none of its values
    /// needs escaping; when one does and makes it longer, that allocation is replaced by one of
    /// the exact length. The default: `encoded_len`, then `write_to`.
    #[inline]
    fn to_xml(&self) -> String {
        if Self::__DERIVED {
            return crate::write::to_xml(self);
        }
        let mut xml = String::with_capacity(self.encoded_len());
        let Ok(()) = self.write_to(&mut xml);
        xml
    }

    /// The number of bytes of the reply's customer-service message (the JSON body of the
    /// platform's `message/custom/send`, which sends it later, outside the five seconds), or
    /// `None` when it has none: the empty reply, `transfer_customer_service` (only a passive reply
    /// can hand a user to a human agent), and a reply implemented by hand that doesn't say.
    ///
    /// A derived reply writes `{"touser":…,"msgtype":…,KIND:{…}}` with the same values as its
    /// XML: ToUserName as `touser`, the kind's values under the API's keys (`content`,
    /// `media_id`, `title`, `description`, `musicurl`, `hqmusicurl`, `thumb_media_id`, and for
    /// news `articles` with `title`, `description`, `url`, `picurl`), each escaped with
    /// [`json`](crate::json). FromUserName and CreateTime are not part of it: the API sends as the
    /// account, now.
    ///
    /// ```
    /// use reply_core::{Empty, PassiveReply, Text};
    ///
    /// let reply = Text::new("oUser", "gh", "say \"hi\"").with_create_time(1);
    /// let json = reply.to_customer_service().unwrap();
    /// assert_eq!(json, r#"{"touser":"oUser","msgtype":"text","text":{"content":"say \"hi\""}}"#);
    /// assert_eq!(reply.customer_service_len(), Some(json.len()));
    /// assert_eq!(Empty.customer_service_len(), None);
    /// ```
    #[inline]
    fn customer_service_len(&self) -> Option<usize> {
        match Self::__CUSTOMER_SERVICE {
            true => Some(crate::emit::json_len(self)),
            false => None,
        }
    }

    /// Writes the reply's customer-service message into `sink`: exactly
    /// [`customer_service_len`](PassiveReply::customer_service_len) bytes, nothing when it has
    /// none. Like [`write_to`](PassiveReply::write_to), it allocates nothing when the sink has
    /// room, reserves its exact length in a sink that can't grow (a fixed buffer too small is left
    /// untouched), and writes a `Vec<u8>` or `String` in one pass, the length it has when no
    /// value needs escaping reserved first.
    #[inline]
    fn write_customer_service<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        match Self::__CUSTOMER_SERVICE {
            true => crate::write::write_customer_service(self, sink),
            false => Ok(()),
        }
    }

    /// The reply's customer-service message as a `String` of exactly its length; `None` when it
    /// has none. A derived reply allocates it once, of its length when no value needs escaping,
    /// written in one pass; when a value's escaping makes it longer, that allocation is replaced
    /// by one of the exact length. The default: `customer_service_len`, then
    /// `write_customer_service`.
    #[inline]
    fn to_customer_service(&self) -> Option<String> {
        if Self::__CUSTOMER_SERVICE {
            return Some(crate::write::to_customer_service(self));
        }
        let mut json = String::with_capacity(self.customer_service_len()?);
        let Ok(()) = self.write_customer_service(&mut json);
        Some(json)
    }

    /// Not a public API: whether [`__emit`](PassiveReply::__emit) and
    /// [`__len`](PassiveReply::__len) give the reply's pieces, which `to_xml`'s default then
    /// writes in one allocation. `#[derive(PassiveReply)]` sets it for a struct, and writes
    /// `__emit`, rather than an impl of its own and `to_xml` (issue 26, the derive's build cost).
    #[doc(hidden)]
    const __DERIVED: bool = false;

    /// Not a public API: hands the reply's pieces to `out`, in order (nothing, unless
    /// [`__DERIVED`](PassiveReply::__DERIVED)).
    #[doc(hidden)]
    #[inline]
    fn __emit<O: Output>(&self, out: &mut O) {
        let _ = out;
    }

    /// Not a public API: the number of bytes [`__emit`](PassiveReply::__emit)'s pieces make:
    /// exactly (`exact`), or as if no value needed escaping, by handing them to a length output.
    /// (The derive used to write it out as a function of its own; the same pieces counted cost
    /// the compiler less, in the front end and in codegen: issue 26. Nothing overrides it, but
    /// as a free function the same body made a news reply's `to_xml` 3,087 -> 3,158
    /// instructions, `benches/instructions.sh`: LLVM inlines the two differently.)
    #[doc(hidden)]
    #[inline]
    fn __len(&self, exact: bool) -> usize {
        let mut length = Length { len: 0, escaped: exact };
        self.__emit(&mut length);
        length.len
    }

    /// Not a public API: whether [`__emit_json`](PassiveReply::__emit_json) gives the reply's
    /// customer-service message, which the three methods above then write (their defaults).
    /// `#[derive(PassiveReply)]` sets it for the kinds that API can send, and writes
    /// `__emit_json`, rather than the three methods each (a third fewer functions a derived
    /// reply, for the compiler to check: issue 26, the derive's build cost).
    #[doc(hidden)]
    const __CUSTOMER_SERVICE: bool = false;

    /// Not a public API: hands the pieces of the reply's customer-service message to `out`, in
    /// order (nothing, unless [`__CUSTOMER_SERVICE`](PassiveReply::__CUSTOMER_SERVICE)).
    #[doc(hidden)]
    #[inline]
    fn __emit_json<O: JsonOutput>(&self, out: &mut O) {
        let _ = out;
    }

    /// Boxes the reply as a [`BoxedReply`], for a handler that answers with different types.
    /// A `#[derive(PassiveReply)]` enum does the same without allocating.
    ///
    /// ```
    /// use reply_core::{BoxedReply, Empty, PassiveReply, Text};
    ///
    /// fn answer(question: &str) -> BoxedReply<'_> {
    ///     match question {
    ///         "" => Empty.boxed(),
    ///         _ => Text::new("toUser", "fromUser", question).with_create_time(1).boxed(),
    ///     }
    /// }
    /// assert_eq!(answer("").encoded_len(), 0);
    /// assert!(answer("hi").to_xml().contains("<Content><![CDATA[hi]]></Content>"));
    /// ```
    fn boxed<'a>(self) -> BoxedReply<'a>
    where
        Self: Sized + Send + 'a,
    {
        Box::new(self)
    }
}

/// A boxed reply of any type, as a handler can return it.
pub type BoxedReply<'a> = Box<dyn DynReply + Send + 'a>;

/// The object-safe form of [`PassiveReply`], implemented for every `PassiveReply` (and sealed:
/// implement `PassiveReply` instead).
///
/// `dyn DynReply` (with `+ Send`, `+ Send + Sync` or neither) implements `PassiveReply` itself,
/// so `Box<dyn DynReply>` is written like any other reply, as fast as the type it holds: into a
/// `Vec<u8>` or a `String`, and by `to_xml`, through one virtual call to that type's own way.
///
/// ```
/// use reply_core::{DynReply, Image, PassiveReply, Text};
///
/// let replies: Vec<Box<dyn DynReply>> = vec![
///     Box::new(Text::new("u", "a", "hello").with_create_time(1)),
///     Box::new(Image::new("u", "a", "media-1").with_create_time(1)),
/// ];
/// let mut out = Vec::new();
/// for reply in &replies {
///     out.clear();
///     reply.write_to(&mut out).unwrap();
///     assert_eq!(out.len(), reply.encoded_len());
/// }
/// ```
pub trait DynReply: sealed::Sealed {
    /// [`PassiveReply::encoded_len`].
    fn encoded_len_dyn(&self) -> usize;

    /// [`PassiveReply::write_to`] through a type-erased sink. A failure is reported as
    /// [`SinkFailed`]; the sink's own error is kept by the caller's adapter.
    fn write_to_dyn(&self, sink: &mut dyn Sink<Error = SinkFailed>) -> Result<(), SinkFailed>;

    /// [`PassiveReply::to_xml`].
    fn to_xml_dyn(&self) -> String;

    /// [`PassiveReply::customer_service_len`].
    fn customer_service_len_dyn(&self) -> Option<usize>;

    /// [`PassiveReply::write_customer_service`] through a type-erased sink, as
    /// [`write_to_dyn`](DynReply::write_to_dyn).
    fn write_customer_service_dyn(&self, sink: &mut dyn Sink<Error = SinkFailed>) -> Result<(), SinkFailed>;

    /// [`PassiveReply::to_customer_service`].
    fn to_customer_service_dyn(&self) -> Option<String>;

    /// [`PassiveReply::write_to`] into the buffer of a `Vec<u8>` or `String` sink.
    #[doc(hidden)]
    fn write_to_buffer_dyn(&self, buffer: Buffer<'_>, _: Token);
}

/// A type-erased sink failed; its own error is kept by the adapter that erased it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkFailed;

mod sealed {
    pub trait Sealed {}
    impl<T: super::PassiveReply> Sealed for T {}
}

impl<T: PassiveReply> DynReply for T {
    fn encoded_len_dyn(&self) -> usize {
        self.encoded_len()
    }

    fn write_to_dyn(&self, sink: &mut dyn Sink<Error = SinkFailed>) -> Result<(), SinkFailed> {
        self.write_to(sink)
    }

    fn to_xml_dyn(&self) -> String {
        self.to_xml()
    }

    fn customer_service_len_dyn(&self) -> Option<usize> {
        self.customer_service_len()
    }

    fn write_customer_service_dyn(&self, sink: &mut dyn Sink<Error = SinkFailed>) -> Result<(), SinkFailed> {
        self.write_customer_service(sink)
    }

    fn to_customer_service_dyn(&self) -> Option<String> {
        self.to_customer_service()
    }

    fn write_to_buffer_dyn(&self, mut buffer: Buffer<'_>, _: Token) {
        let Ok(()) = self.write_to(&mut buffer);
    }
}

/// Turns any sink into a `Sink<Error = SinkFailed>`, keeping its first error.
struct Erased<'s, S: Sink + ?Sized> {
    sink: &'s mut S,
    error: Option<S::Error>,
}

impl<S: Sink + ?Sized> Sink for Erased<'_, S> {
    type Error = SinkFailed;

    fn reserve(&mut self, additional: usize) -> Result<(), SinkFailed> {
        self.sink.reserve(additional).map_err(|e| {
            self.error = Some(e);
            SinkFailed
        })
    }

    fn write_str(&mut self, s: &str) -> Result<(), SinkFailed> {
        self.sink.write_str(s).map_err(|e| {
            self.error = Some(e);
            SinkFailed
        })
    }
}

fn write_erased<S: Sink + ?Sized>(reply: &(impl DynReply + ?Sized), sink: &mut S) -> Result<(), S::Error> {
    if let Some(buffer) = sink.buffer(Token::new()) {
        reply.write_to_buffer_dyn(buffer, Token::new());
        return Ok(());
    }
    through_erased(sink, |erased| reply.write_to_dyn(erased))
}

/// Runs `write` with `sink` erased, and gives back the sink's own error if it failed.
pub(crate) fn through_erased<S: Sink + ?Sized>(
    sink: &mut S,
    write: impl FnOnce(&mut dyn Sink<Error = SinkFailed>) -> Result<(), SinkFailed>,
) -> Result<(), S::Error> {
    let mut erased = Erased { sink, error: None };
    match write(&mut erased) {
        Ok(()) => Ok(()),
        Err(SinkFailed) => match erased.error {
            Some(e) => Err(e),
            // Not reached: `DynReply` is sealed, and a generic `write_to` can't make up a
            // `SinkFailed` of its own, it only passes on what the sink returned.
            None => Ok(()),
        },
    }
}

macro_rules! dyn_reply_is_a_reply {
    ($($object:ty),*) => {$(
        impl PassiveReply for $object {
            fn encoded_len(&self) -> usize {
                self.encoded_len_dyn()
            }

            fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
                write_erased(self, sink)
            }

            fn to_xml(&self) -> String {
                self.to_xml_dyn()
            }

            fn customer_service_len(&self) -> Option<usize> {
                self.customer_service_len_dyn()
            }

            fn write_customer_service<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
                through_erased(sink, |erased| self.write_customer_service_dyn(erased))
            }

            fn to_customer_service(&self) -> Option<String> {
                self.to_customer_service_dyn()
            }
        }
    )*};
}

dyn_reply_is_a_reply!(dyn DynReply + '_, dyn DynReply + Send + '_, dyn DynReply + Send + Sync + '_);

macro_rules! pointer_to_a_reply_is_a_reply {
    ($($pointer:ty),*) => {$(
        impl<T: PassiveReply + ?Sized> PassiveReply for $pointer {
            #[inline]
            fn encoded_len(&self) -> usize {
                (**self).encoded_len()
            }

            #[inline]
            fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
                (**self).write_to(sink)
            }

            #[inline]
            fn to_xml(&self) -> String {
                (**self).to_xml()
            }

            #[inline]
            fn customer_service_len(&self) -> Option<usize> {
                (**self).customer_service_len()
            }

            #[inline]
            fn write_customer_service<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
                (**self).write_customer_service(sink)
            }

            #[inline]
            fn to_customer_service(&self) -> Option<String> {
                (**self).to_customer_service()
            }
        }
    )*};
}

pointer_to_a_reply_is_a_reply!(&T, Box<T>, Rc<T>, Arc<T>);

/// An optional reply: `None` is the empty reply, so a handler can answer `Option<Text>` for "a text
/// reply, or no reply".
///
/// ```
/// use reply_core::{PassiveReply, Text};
///
/// let none: Option<Text<'_>> = None;
/// assert_eq!((none.encoded_len(), none.to_customer_service()), (0, None));
/// let some = Some(Text::new("u", "gh", "hi").with_create_time(1));
/// assert_eq!(some.to_xml(), some.as_ref().unwrap().to_xml());
/// ```
impl<R: PassiveReply> PassiveReply for Option<R> {
    #[inline]
    fn encoded_len(&self) -> usize {
        self.as_ref().map_or(0, R::encoded_len)
    }

    #[inline]
    fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        match self {
            Some(reply) => reply.write_to(sink),
            None => Ok(()),
        }
    }

    #[inline]
    fn to_xml(&self) -> String {
        self.as_ref().map_or_else(String::new, R::to_xml)
    }

    #[inline]
    fn customer_service_len(&self) -> Option<usize> {
        self.as_ref()?.customer_service_len()
    }

    #[inline]
    fn write_customer_service<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        match self {
            Some(reply) => reply.write_customer_service(sink),
            None => Ok(()),
        }
    }

    #[inline]
    fn to_customer_service(&self) -> Option<String> {
        self.as_ref()?.to_customer_service()
    }
}

/// The empty reply: zero bytes.
///
/// The platform's page: a server that can't answer within five seconds must answer with an empty
/// string (not an XML message with empty Content); the platform then neither retries nor tells
/// the user that the account can't provide service. Answer later through the customer-service
/// message API instead.
///
/// ```
/// use reply_core::{Empty, PassiveReply};
///
/// assert_eq!(Empty.encoded_len(), 0);
/// assert_eq!(Empty.to_xml(), "");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Empty;

impl PassiveReply for Empty {
    #[inline]
    fn encoded_len(&self) -> usize {
        0
    }

    #[inline]
    fn write_to<S: Sink + ?Sized>(&self, _sink: &mut S) -> Result<(), S::Error> {
        Ok(())
    }
}
