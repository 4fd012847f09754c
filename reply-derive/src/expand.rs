//! Writing the emitter: static text merged into literals at expansion time, one escaping call
//! per value, and `encoded_len` as a constant plus the values' lengths.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use reply_schema::{ARTICLE, Element, ITEM, Kind, Presence, ROOT, Value};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, Type, WherePredicate};

use crate::ast::{Derive, Field, Input, Shape, Variant};
use crate::check::{self, Mapping};
use crate::errors::Errors;
use crate::fallback;
use crate::symbol::DEFAULT_CRATE;

pub fn derive(input: &DeriveInput, derive: Derive) -> TokenStream {
    let mut errors = Errors::default();
    let parsed = Input::from_syn(input, derive, &mut errors);
    let krate = match &parsed.attrs.krate {
        Some(path) => path.to_token_stream(),
        None => {
            let name = Ident::new(DEFAULT_CRATE, Span::call_site());
            quote!(::#name)
        }
    };
    let private = quote!(#krate::__private);
    let generated = match (&parsed.shape, derive) {
        (Shape::Struct(fields), Derive::PassiveReply) => check::kind(&parsed, &mut errors).map(|kind| {
            let reply = check::reply(&parsed, kind, fields, &mut errors);
            reply_struct(&parsed, kind, reply.max_articles, &reply.mapping, &private)
        }),
        (Shape::Struct(fields), Derive::NewsArticle) => {
            let mapping = check::article(&parsed, fields, &mut errors);
            Some(article_struct(&parsed, &mapping, &private))
        }
        (Shape::Enum(variants), _) => {
            for (kind, span) in &parsed.attrs.kinds {
                errors.at_span(
                    *span,
                    format!(
                        "an enum has no kind of its own: each variant wraps a reply that has one, so remove `{}`",
                        kind.msg_type
                    ),
                );
            }
            if let Some((_, span)) = parsed.attrs.max_articles {
                errors.at_span(span, "`max_articles` belongs on the news reply a variant wraps, not on the enum");
            }
            Some(reply_enum(&parsed, variants, &private))
        }
        (Shape::Invalid, _) => None,
    };
    match generated {
        Some(generated) if errors.is_empty() => wrap(generated),
        _ => {
            let errors = errors.to_compile_errors();
            let stub = wrap(fallback::stub(input, derive, &private));
            quote!(#errors #stub)
        }
    }
}

fn wrap(item: TokenStream) -> TokenStream {
    quote! {
        const _: () = {
            #item
        };
    }
}

/// One piece of the output.
enum Segment<'f> {
    /// Static text.
    Literal(String),
    /// A text value, escaped: `value` is an expression of type `&T`; `ty` is `T`, for spans and bounds.
    Text { ty: &'f Type, value: TokenStream },
    /// The CreateTime of this field.
    CreateTime(&'f Field<'f>),
    /// The number of articles of this field.
    ArticleCount(&'f Field<'f>),
    /// The `<item>`s of this field.
    Items(&'f Field<'f>),
    /// The body, when this `Option` field is `Some(__value)`.
    Optional { field: &'f Field<'f>, body: Vec<Segment<'f>> },
}

use Segment::Literal;

fn open(name: &str) -> String {
    format!("<{name}>")
}

fn close(name: &str) -> String {
    format!("</{name}>")
}

/// Appends the segments of a text element given by `field`.
fn text_element<'f>(element: &Element, field: &'f Field<'f>, out: &mut Vec<Segment<'f>>) {
    let cdata = |ty, value| {
        [
            Literal(format!("<{}><![CDATA[", element.name)),
            Segment::Text { ty, value },
            Literal(format!("]]></{}>", element.name)),
        ]
    };
    match field.option_inner() {
        Some(inner) => {
            out.push(Segment::Optional { field, body: cdata(inner, quote_spanned!(inner.span()=> __value)).into() })
        }
        None => {
            let ident = field.ident;
            out.extend(cdata(field.ty, quote_spanned!(field.ty.span()=> &self.#ident)));
        }
    }
}

/// Appends the segments of `element` of `kind`, as the fields in `mapping` give it.
fn element<'f>(kind: &Kind, element: &Element, mapping: &Mapping<'f, 'f>, out: &mut Vec<Segment<'f>>) {
    let given = mapping.get(element);
    match element.value {
        Value::Text => {
            if let Some(field) = given {
                text_element(element, field, out);
            }
        }
        Value::CreateTime => {
            if let Some(field) = given {
                out.extend([Literal(open(element.name)), Segment::CreateTime(field), Literal(close(element.name))]);
            }
        }
        Value::MsgType => out.push(Literal(format!("<{0}><![CDATA[{1}]]></{0}>", element.name, kind.msg_type))),
        Value::ArticleCount => {
            let articles = kind.body.iter().find(|e| matches!(e.value, Value::Items(_)));
            if let Some(field) = articles.and_then(|e| mapping.get(e)) {
                out.extend([Literal(open(element.name)), Segment::ArticleCount(field), Literal(close(element.name))]);
            }
        }
        Value::Items(_) => {
            if let Some(field) = given {
                out.extend([Literal(open(element.name)), Segment::Items(field), Literal(close(element.name))]);
            }
        }
        Value::Group(children) => {
            let mut inner = Vec::new();
            for child in children {
                self::element(kind, child, mapping, &mut inner);
            }
            let always = element.presence == Presence::Required
                || inner.iter().any(|s| !matches!(s, Literal(_) | Segment::Optional { .. }));
            match inner.as_mut_slice() {
                // A group of optional elements is left out when all of them are. The schema has
                // such groups of one element only (TransInfo/KfAccount; a test in `reply-schema`
                // holds it to that), so it is present exactly when that element is.
                [Segment::Optional { body, .. }] if !always => {
                    body.insert(0, Literal(open(element.name)));
                    body.push(Literal(close(element.name)));
                    out.append(&mut inner);
                }
                [] if !always => {}
                _ => {
                    out.push(Literal(open(element.name)));
                    out.append(&mut inner);
                    out.push(Literal(close(element.name)));
                }
            }
        }
    }
}

/// Joins adjacent literals, so each run of static text is one write.
fn merge(segments: Vec<Segment<'_>>) -> Vec<Segment<'_>> {
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    for segment in segments {
        let segment = match segment {
            Segment::Optional { field, body } => Segment::Optional { field, body: merge(body) },
            other => other,
        };
        match (out.last_mut(), segment) {
            (Some(Literal(previous)), Literal(next)) => previous.push_str(&next),
            (_, segment) => out.push(segment),
        }
    }
    out
}

/// A call of a method of `ArticleList<max>` on the articles `field`, spanned on its type: the
/// trait bound is the only one the type must meet, so a type that can't be a list of articles
/// is one diagnostic, at the field.
fn articles_call(field: &Field, private: &TokenStream, max: usize, call: TokenStream) -> TokenStream {
    respan(quote!(#private::ArticleList::<#max>::#call), field.ty.span())
}

/// `tokens`, every one of them at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            }
            tree.set_span(span);
            tree
        })
        .collect()
}

/// The statements that write `segments` into `__sink`.
fn writes(segments: &[Segment], private: &TokenStream, max: usize) -> TokenStream {
    segments
        .iter()
        .map(|segment| match segment {
            Literal(text) => quote!(#private::Sink::write_str(__sink, #text)?;),
            Segment::Text { ty, value } => {
                let text = quote_spanned!(ty.span()=> #private::text(#value));
                quote!(#private::write_text(__sink, #text)?;)
            }
            // Numbers and lists are written as `scanned` writes them; a segment reaches here
            // only inside an optional element or an article, where the schema has none of these.
            Segment::CreateTime(field) => {
                let ident = field.ident;
                let time = quote_spanned!(field.ty.span()=> #private::create_time(&self.#ident));
                quote! {
                    let mut __digits = #private::digits();
                    #private::Sink::write_str(__sink, #private::decimal(#time, &mut __digits))?;
                }
            }
            Segment::ArticleCount(field) => {
                let ident = field.ident;
                let count = articles_call(field, private, max, quote!(articles(&self.#ident).len()));
                quote! {
                    let mut __digits = #private::digits();
                    #private::Sink::write_str(__sink, #private::count_decimal(#count, &mut __digits))?;
                }
            }
            Segment::Items(field) => {
                let ident = field.ident;
                let scan = articles_call(field, private, max, quote!(scan_items(&self.#ident)));
                let write =
                    articles_call(field, private, max, quote!(write_scanned_items(&self.#ident, &__items, __sink)));
                quote! {
                    let __items = #scan;
                    #write?;
                }
            }
            Segment::Optional { field, body } => {
                let ident = field.ident;
                let body = writes(body, private, max);
                quote!(if let ::core::option::Option::Some(__value) = &self.#ident { #body })
            }
        })
        .collect()
}

/// The emitter of a reply's `write_to` and `to_xml`. Every text value, number and optional
/// value is read once, in `reads`, into locals that both ways of writing use:
///
/// - into room the sink already has (`room`, when every segment has a way there): the reply's
///   length if nothing needs escaping is `clean_length`; each value is checked as it is copied,
///   and the first that needs escaping sends the reply the other way;
/// - the other way: each value is scanned once, in `scans`, for the exact `length`, then
///   `writes` copies a clean value as it is and escapes the others.
struct Scanned {
    reads: TokenStream,
    clean_length: TokenStream,
    room: Option<TokenStream>,
    scans: TokenStream,
    length: TokenStream,
    writes: TokenStream,
}

/// `steps`, expressions of type bool, joined by `&&`: each runs only if those before it were true.
fn all(steps: Vec<TokenStream>) -> TokenStream {
    match steps.is_empty() {
        true => quote!(true),
        false => quote!(#(#steps)&&*),
    }
}

fn scanned(segments: &[Segment], private: &TokenStream, max: usize) -> Scanned {
    let mut reads = TokenStream::new();
    let mut scans = TokenStream::new();
    let mut constant = 0usize;
    let mut terms = Vec::new();
    let mut clean_terms = Vec::new();
    let mut room = Some(Vec::new());
    let mut writes = TokenStream::new();
    // Adds a step to the way into room, while there is one.
    fn step(room: &mut Option<Vec<TokenStream>>, tokens: TokenStream) {
        if let Some(steps) = room {
            steps.push(tokens);
        }
    }
    for (k, segment) in segments.iter().enumerate() {
        let text = format_ident!("__text{}", k);
        let scan = format_ident!("__scan{}", k);
        match segment {
            Literal(literal) => {
                constant += literal.len();
                writes.extend(quote!(#private::Sink::write_str(__sink, #literal)?;));
                step(&mut room, quote!(__room.copy(#literal)));
            }
            Segment::Text { ty, value } => {
                let value = quote_spanned!(ty.span()=> #private::text(#value));
                reads.extend(quote!(let #text: &str = #value;));
                scans.extend(quote!(let #scan = #private::scan(#text);));
                terms.push(quote!(#scan.len));
                clean_terms.push(quote!(#text.len()));
                writes.extend(quote!(#private::write_scanned(__sink, #text, #scan)?;));
                step(&mut room, quote!(__room.text(#text)));
            }
            // An optional text element, possibly inside the group it alone fills: its one value
            // is read once. Anything else optional takes the general path below.
            Segment::Optional { field, body }
                if body.iter().all(|s| matches!(s, Literal(_) | Segment::Text { .. }))
                    && body.iter().filter(|s| matches!(s, Segment::Text { .. })).count() == 1 =>
            {
                let ident = field.ident;
                let mut body_constant = 0usize;
                let mut body_writes = TokenStream::new();
                let mut body_room = Vec::new();
                let mut value = TokenStream::new();
                for inner in body {
                    match inner {
                        Literal(literal) => {
                            body_constant += literal.len();
                            body_writes.extend(quote!(#private::Sink::write_str(__sink, #literal)?;));
                            body_room.push(quote!(__room.copy(#literal)));
                        }
                        Segment::Text { ty, value: v } => {
                            value = quote_spanned!(ty.span()=> #private::text(#v));
                            body_writes.extend(quote!(#private::write_scanned(__sink, #text, #scan)?;));
                            body_room.push(quote!(__room.text(#text)));
                        }
                        // Ruled out by the guard.
                        _ => {}
                    }
                }
                let read = format_ident!("__read{}", k);
                let found = format_ident!("__found{}", k);
                reads.extend(quote! {
                    let #read: ::core::option::Option<&str> = match &self.#ident {
                        ::core::option::Option::Some(__value) => ::core::option::Option::Some(#value),
                        ::core::option::Option::None => ::core::option::Option::None,
                    };
                });
                scans.extend(quote! {
                    let #found: ::core::option::Option<(&str, #private::Scanned)> = match #read {
                        ::core::option::Option::Some(#text) => ::core::option::Option::Some((#text, #private::scan(#text))),
                        ::core::option::Option::None => ::core::option::Option::None,
                    };
                });
                terms.push(quote! {
                    match #found {
                        ::core::option::Option::Some((_, #scan)) => #body_constant + #scan.len,
                        ::core::option::Option::None => 0usize,
                    }
                });
                clean_terms.push(quote! {
                    match #read {
                        ::core::option::Option::Some(#text) => #body_constant + #text.len(),
                        ::core::option::Option::None => 0usize,
                    }
                });
                writes.extend(quote! {
                    if let ::core::option::Option::Some((#text, #scan)) = #found { #body_writes }
                });
                let body_room = all(body_room);
                step(
                    &mut room,
                    quote! {
                        match #read {
                            ::core::option::Option::Some(#text) => #body_room,
                            ::core::option::Option::None => true,
                        }
                    },
                );
            }
            // A number: formatted once, into digits on the stack that the length and the
            // writes use.
            Segment::CreateTime(_) | Segment::ArticleCount(_) => {
                let digits = format_ident!("__digits{}", k);
                let formatted = match segment {
                    Segment::CreateTime(field) => {
                        let ident = field.ident;
                        let time = quote_spanned!(field.ty.span()=> #private::create_time(&self.#ident));
                        quote!(#private::decimal(#time, &mut #digits))
                    }
                    Segment::ArticleCount(field) => {
                        let ident = field.ident;
                        let count = articles_call(field, private, max, quote!(articles(&self.#ident).len()));
                        quote!(#private::count_decimal(#count, &mut #digits))
                    }
                    _ => continue,
                };
                reads.extend(quote! {
                    let mut #digits = #private::digits();
                    let #text: &str = #formatted;
                });
                terms.push(quote!(#text.len()));
                clean_terms.push(quote!(#text.len()));
                writes.extend(quote!(#private::Sink::write_str(__sink, #text)?;));
                step(&mut room, quote!(__room.copy(#text)));
            }
            Segment::Items(field) => {
                let ident = field.ident;
                let items = format_ident!("__items{}", k);
                let call = articles_call(field, private, max, quote!(scan_items(&self.#ident)));
                scans.extend(quote!(let #items = #call;));
                terms.push(quote!(#items.len()));
                clean_terms.push(articles_call(field, private, max, quote!(clean_items_len(&self.#ident))));
                let write =
                    articles_call(field, private, max, quote!(write_scanned_items(&self.#ident, &#items, __sink)));
                writes.extend(quote!(#write?;));
                let into_room = articles_call(field, private, max, quote!(write_items_in_room(&self.#ident, __room)));
                step(&mut room, into_room);
            }
            other => {
                let one = std::slice::from_ref(other);
                terms.push(length(one, private, max));
                writes.extend(self::writes(one, private, max));
                room = None;
            }
        }
    }
    Scanned {
        reads,
        clean_length: quote!(#constant #(+ #clean_terms)*),
        room: room.map(all),
        scans,
        length: quote!(#constant #(+ #terms)*),
        writes,
    }
}

/// An expression for the number of bytes `segments` write: the static length, a constant
/// computed here, plus one term per value.
fn length(segments: &[Segment], private: &TokenStream, max: usize) -> TokenStream {
    let mut constant = 0usize;
    let mut terms = Vec::new();
    for segment in segments {
        match segment {
            Literal(text) => constant += text.len(),
            Segment::Text { ty, value } => {
                let text = quote_spanned!(ty.span()=> #private::text(#value));
                terms.push(quote!(#private::text_len(#text)));
            }
            Segment::CreateTime(field) => {
                let ident = field.ident;
                let time = quote_spanned!(field.ty.span()=> #private::create_time(&self.#ident));
                terms.push(quote!(#private::create_time_len(#time)));
            }
            Segment::ArticleCount(field) => {
                let ident = field.ident;
                let count = articles_call(field, private, max, quote!(articles(&self.#ident).len()));
                terms.push(quote!(#private::article_count_len(#count)));
            }
            Segment::Items(field) => {
                let ident = field.ident;
                terms.push(articles_call(field, private, max, quote!(items_len(&self.#ident))));
            }
            Segment::Optional { field, body } => {
                let ident = field.ident;
                let body = length(body, private, max);
                terms.push(quote! {
                    match &self.#ident {
                        ::core::option::Option::Some(__value) => #body,
                        ::core::option::Option::None => 0usize,
                    }
                });
            }
        }
    }
    quote!(#constant #(+ #terms)*)
}

/// The names of the struct's type and const parameters: a field type that mentions one gets its
/// bound in the impl's where clause, so it is checked where the struct is used with concrete
/// arguments (`Digest<11>`), not where it is defined.
fn type_params(input: &Input) -> Vec<Ident> {
    let generics = &input.original.generics;
    generics.type_params().map(|p| p.ident.clone()).chain(generics.const_params().map(|p| p.ident.clone())).collect()
}

fn mentions(tokens: TokenStream, params: &[Ident]) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => params.contains(&ident),
        TokenTree::Group(group) => mentions(group.stream(), params),
        _ => false,
    })
}

/// The bounds that the values' types need, for those that mention a type parameter: a parameter
/// used only by skipped fields gets none.
fn bounds(segments: &[Segment], params: &[Ident], private: &TokenStream, max: usize, out: &mut Vec<WherePredicate>) {
    for segment in segments {
        let (ty, bound) = match segment {
            Literal(_) => continue,
            Segment::Text { ty, .. } => (*ty, quote!(#private::TextValue)),
            Segment::CreateTime(field) => (field.ty, quote!(#private::CreateTime)),
            Segment::ArticleCount(_) => continue,
            Segment::Items(field) => (field.ty, quote!(#private::ArticleList<#max>)),
            Segment::Optional { body, .. } => {
                bounds(body, params, private, max, out);
                continue;
            }
        };
        if mentions(ty.to_token_stream(), params) {
            out.push(syn::parse_quote_spanned!(ty.span()=> #ty: #bound));
        }
    }
}

fn implementation(
    input: &Input,
    trait_path: TokenStream,
    predicates: Vec<WherePredicate>,
    items: TokenStream,
) -> TokenStream {
    let ident = &input.original.ident;
    let mut generics = input.original.generics.clone();
    generics.make_where_clause().predicates.extend(predicates);
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #trait_path for #ident #type_generics #where_clause {
            #items
        }
    }
}

/// The emitter of `elements` of `kind`, inside `<root>`: the expression of its length, its
/// writes, and the bounds its values need.
/// The segments of `elements` of `kind` inside `<root>`, merged, and the bounds their values
/// need: what a reply's and an article's emitters are generated from.
struct Emitter<'f> {
    segments: Vec<Segment<'f>>,
    predicates: Vec<WherePredicate>,
}

fn emitter<'f>(
    input: &Input,
    root: &str,
    kind: &Kind,
    elements: impl IntoIterator<Item = &'static Element>,
    mapping: &Mapping<'f, 'f>,
    private: &TokenStream,
    max: usize,
) -> Emitter<'f> {
    let mut segments = vec![Literal(open(root))];
    for e in elements {
        element(kind, e, mapping, &mut segments);
    }
    segments.push(Literal(close(root)));
    let segments = merge(segments);
    let mut predicates = Vec::new();
    bounds(&segments, &type_params(input), private, max, &mut predicates);
    Emitter { segments, predicates }
}

fn reply_struct(
    input: &Input,
    kind: &'static Kind,
    max: usize,
    mapping: &Mapping,
    private: &TokenStream,
) -> TokenStream {
    let Emitter { segments, predicates } = emitter(input, ROOT, kind, kind.elements(), mapping, private, max);
    let length = length(&segments, private, max);
    let Scanned { reads, clean_length, room, scans, length: scanned_length, writes } = scanned(&segments, private, max);
    let room = room.map(|room| {
        quote! {
            if #private::write_in_room(__sink, #clean_length, |__room: &mut #private::Room<'_>| #room) {
                return ::core::result::Result::Ok(());
            }
        }
    });
    implementation(
        input,
        quote!(#private::PassiveReply),
        predicates,
        quote! {
            #[inline]
            fn encoded_len(&self) -> usize {
                #length
            }

            fn write_to<__S: #private::Sink + ?::core::marker::Sized>(
                &self,
                __sink: &mut __S,
            ) -> ::core::result::Result<(), __S::Error> {
                #reads
                #room
                #scans
                #private::Sink::reserve(__sink, #scanned_length)?;
                #writes
                ::core::result::Result::Ok(())
            }

            fn to_xml(&self) -> #private::String {
                #private::to_xml(self)
            }
        },
    )
}

fn article_struct(input: &Input, mapping: &Mapping, private: &TokenStream) -> TokenStream {
    // An article's elements are all text, so the kind they are read in doesn't matter; news is theirs.
    let news = reply_schema::kind("news").expect("the schema has news");
    let Emitter { segments, predicates } = emitter(input, ITEM, news, ARTICLE, mapping, private, 0);
    let length = length(&segments, private, 0);
    let writes = writes(&segments, private, 0);
    // Any other shape of article (none the schema allows) keeps the trait's defaults.
    let scanned = item_scan(&segments, private).map(|ItemScan { scan, write, clean_len, room }| {
        quote! {
            #[inline]
            fn clean_item_len(&self) -> usize {
                #clean_len
            }

            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn write_item_in_room(&self, __room: &mut #private::Room<'_>) -> bool {
                #room
            }

            #[inline]
            fn scan_item(&self) -> #private::ItemScan<'_> {
                #scan
            }

            #[inline]
            fn write_scanned_item<__S: #private::Sink + ?::core::marker::Sized>(
                &self,
                __sink: &mut __S,
                __scan: &#private::ItemScan<'_>,
            ) -> ::core::result::Result<(), __S::Error> {
                #write
                ::core::result::Result::Ok(())
            }
        }
    });
    implementation(
        input,
        quote!(#private::NewsArticle),
        predicates,
        quote! {
            #[inline]
            fn item_len(&self) -> usize {
                #length
            }

            fn write_item<__S: #private::Sink + ?::core::marker::Sized>(
                &self,
                __sink: &mut __S,
            ) -> ::core::result::Result<(), __S::Error> {
                #writes
                ::core::result::Result::Ok(())
            }

            #scanned
        },
    )
}

/// An article's `scan_item` and `write_scanned_item`: each text value gets a slot of the
/// `ItemScan`, in order, holding the value and its scan, so the writing copies a clean value as
/// it is and never reads a field twice. `None` for segments of another shape than an article's
/// (literals, and text values alone or inside an optional element), or more values than slots.
///
/// Also its `clean_item_len` and `write_item_in_room`, the way of a reply written into room its
/// sink already has: `clean_len` adds each value's length to `__len`, `room` copies the pieces.
struct ItemScan {
    scan: TokenStream,
    write: TokenStream,
    clean_len: TokenStream,
    room: TokenStream,
}

fn item_scan(segments: &[Segment], private: &TokenStream) -> Option<ItemScan> {
    let mut constant = 0usize;
    let mut scan = TokenStream::new();
    let mut write = TokenStream::new();
    let mut clean_len = TokenStream::new();
    let mut room = Vec::new();
    let mut slot = 0usize;
    // The statements that fill slot `slot` from the text expression `text` and add
    // `extra + its length` to `__len`, and the write of the slot between `before` and `after`.
    let mut fill = |text: TokenStream, extra: usize, before: &str, after: &str| {
        let at = slot;
        slot += 1;
        let fill = quote! {
            let __text: &str = #text;
            let __scanned = #private::scan(__text);
            __len += #extra + __scanned.len;
            __values[#at] = ::core::option::Option::Some((__text, __scanned.clean));
        };
        let write = quote! {
            if let ::core::option::Option::Some((__text, __clean)) = __scan.values[#at] {
                #private::Sink::write_str(__sink, #before)?;
                #private::write_clean_or_escaped(__sink, __text, __clean)?;
                #private::Sink::write_str(__sink, #after)?;
            }
        };
        (fill, write)
    };
    for segment in segments {
        match segment {
            Literal(literal) => {
                constant += literal.len();
                write.extend(quote!(#private::Sink::write_str(__sink, #literal)?;));
                room.push(quote!(__room.copy(#literal)));
            }
            Segment::Text { ty, value } => {
                let text = quote_spanned!(ty.span()=> #private::text(#value));
                let (f, w) = fill(text.clone(), 0, "", "");
                scan.extend(quote!({ #f }));
                write.extend(w);
                clean_len.extend(quote!(__len += #text.len();));
                room.push(quote!(__room.item_text(#text)));
            }
            // An optional element: its literals and its one value.
            Segment::Optional { field, body } => {
                let [Literal(before), Segment::Text { ty, value }, Literal(after)] = body.as_slice() else {
                    return None;
                };
                let ident = field.ident;
                let text = quote_spanned!(ty.span()=> #private::text(#value));
                let extra = before.len() + after.len();
                let (f, w) = fill(text.clone(), extra, before, after);
                scan.extend(quote! {
                    if let ::core::option::Option::Some(__value) = &self.#ident { #f }
                });
                write.extend(w);
                clean_len.extend(quote! {
                    if let ::core::option::Option::Some(__value) = &self.#ident {
                        __len += #extra + #text.len();
                    }
                });
                room.push(quote! {
                    match &self.#ident {
                        ::core::option::Option::Some(__value) => {
                            __room.copy(#before) && __room.item_text(#text) && __room.copy(#after)
                        }
                        ::core::option::Option::None => true,
                    }
                });
            }
            Segment::CreateTime(_) | Segment::ArticleCount(_) | Segment::Items(_) => return None,
        }
    }
    if slot > reply_schema::ARTICLE.len() {
        return None;
    }
    let scan = quote! {
        let mut __len: usize = #constant;
        let mut __values = [::core::option::Option::None; #private::ItemScan::VALUES];
        #scan
        #private::ItemScan { len: __len, values: __values }
    };
    let clean_len = quote! {
        let mut __len: usize = #constant;
        #clean_len
        __len
    };
    Some(ItemScan { scan, write, clean_len, room: all(room) })
}

fn reply_enum(input: &Input, variants: &[Variant], private: &TokenStream) -> TokenStream {
    let params = type_params(input);
    let predicates = variants
        .iter()
        .filter(|v| mentions(v.ty.to_token_stream(), &params))
        .map(|v| {
            let ty = v.ty;
            syn::parse_quote_spanned!(ty.span()=> #ty: #private::PassiveReply)
        })
        .collect();
    let names: Vec<&Ident> = variants.iter().map(|v| v.ident).collect();
    let value = format_ident!("__reply");
    // Spanned on the variant's type, so a type that is not a reply is reported there, once.
    let lengths = variants.iter().map(|v| respan(quote!(#private::PassiveReply::encoded_len(#value)), v.ty.span()));
    let writes = variants.iter().map(|v| respan(quote!(#private::PassiveReply::write_to(#value, __sink)), v.ty.span()));
    implementation(
        input,
        quote!(#private::PassiveReply),
        predicates,
        quote! {
            #[inline]
            fn encoded_len(&self) -> usize {
                match self {
                    #(Self::#names(#value) => #lengths,)*
                }
            }

            fn write_to<__S: #private::Sink + ?::core::marker::Sized>(
                &self,
                __sink: &mut __S,
            ) -> ::core::result::Result<(), __S::Error> {
                match self {
                    #(Self::#names(#value) => #writes,)*
                }
            }
        },
    )
}
