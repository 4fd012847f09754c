//! Writing the emitter: static text merged into literals at expansion time, one escaping call
//! per value; its length is the same pieces counted.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use reply_schema::{ARTICLE, Element, HEADER, Kind, Presence, ROOT, Value};
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
        None if !runtime_is_a_dependency() => {
            // Said first, and alone: otherwise every path of the generated code fails to resolve,
            // and none of those errors says why.
            let message = format!(
                "`#[derive({})]` writes code that names the `passive_reply` crate, which this crate's Cargo.toml does \
                 not depend on; if it comes through a framework that re-exports it, say where: \
                 `#[reply(crate = \"my_framework::reply\")]`",
                derive.trait_name()
            );
            return syn::Error::new_spanned(&input.ident, message).to_compile_error();
        }
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

/// The articles of `field`, through `ArticleList<max>`, spanned on its type: the trait bound is
/// the only one the type must meet, so a type that can't be a list of articles is reported once,
/// at the field.
fn articles(field: &Field, private: &TokenStream, max: usize) -> TokenStream {
    let ident = field.ident;
    respan(quote!(#private::ArticleList::<#max>::articles(&self.#ident)), field.ty.span())
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

/// Which form of the reply segments are lowered to.
#[derive(Clone, Copy)]
enum Form {
    /// The XML of the passive reply, through `Output`.
    Xml,
    /// The JSON of the customer-service message, through `JsonOutput`.
    Json,
}

/// The one lowering of a reply's segments: statements that hand each piece to the output
/// `__out` (a `&mut`), in order, and return when the output has failed. Every method of the
/// reply comes from these (`PassiveReply::__emit`, with another output for each;
/// `PassiveReply::__emit_json` the same way), so its length and its bytes can't disagree.
fn lower(segments: &[Segment], private: &TokenStream, max: usize, form: Form) -> TokenStream {
    let output = match form {
        Form::Xml => quote!(#private::Output),
        Form::Json => quote!(#private::JsonOutput),
    };
    // Each piece is a call that says whether the output has failed, and a return if it has:
    // the output lent and a `bool`, no `Result` of a generic output to match (which, per piece,
    // cost an unoptimized build of many replies more than a third of its time: issue 26, the
    // derive's build cost). The early return keeps optimized code as straight as before.
    let then = |call: TokenStream| quote!(if #call { return; });
    segments
        .iter()
        .map(|segment| match segment {
            Literal(text) => then(quote!(#output::literal(__out, #text))),
            Segment::Text { ty, value } => {
                let text = quote_spanned!(ty.span()=> #private::text(#value));
                then(quote!(#output::text(__out, #text)))
            }
            Segment::CreateTime(field) => {
                let ident = field.ident;
                let time = quote_spanned!(field.ty.span()=> #private::create_time(&self.#ident));
                then(quote!(#private::Output::decimal(__out, #time)))
            }
            Segment::ArticleCount(field) => {
                let articles = articles(field, private, max);
                then(quote!(#private::Output::decimal(__out, #private::article_count(#articles))))
            }
            Segment::Items(field) => {
                let articles = articles(field, private, max);
                match form {
                    Form::Xml => then(quote!(#private::items(__out, #articles))),
                    Form::Json => then(quote!(#private::json_articles(__out, #articles))),
                }
            }
            Segment::Optional { field, body } => {
                let ident = field.ident;
                let body = lower(body, private, max, form);
                quote! {
                    if let ::core::option::Option::Some(__value) = &self.#ident {
                        #body
                    }
                }
            }
        })
        .collect()
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

/// The segments of `elements` of `kind` inside `<root>`, merged, and the bounds their values
/// need.
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
    let pieces = lower(&segments, private, max, Form::Xml);
    // The customer-service message, for a kind that API can send: its pieces, which the
    // trait's three customer-service methods write (their defaults), through `JsonOutput`.
    let customer_service = match kind.customer_service {
        false => TokenStream::new(),
        true => {
            let pieces = lower(&merge(json_segments(kind, mapping)), private, max, Form::Json);
            quote! {
                const __CUSTOMER_SERVICE: bool = true;

                #[inline]
                fn __emit_json<__O: #private::JsonOutput>(&self, __out: &mut __O) {
                    #pieces
                }
            }
        }
    };
    implementation(
        input,
        quote!(#private::PassiveReply),
        predicates,
        quote! {
            #[inline]
            fn encoded_len(&self) -> usize {
                #private::encoded_len(self)
            }

            #[inline]
            fn write_to<__S: #private::Sink + ?::core::marker::Sized>(
                &self,
                __sink: &mut __S,
            ) -> ::core::result::Result<(), __S::Error> {
                #private::write_to(self, __sink)
            }

            const __DERIVED: bool = true;

            // Inlined always in optimized builds: the output is lent (`&mut`), and a cursor
            // behind a pointer would be stored back after every piece (issue 26: 356 -> 388
            // instructions for a short text when `emit` is a call of its own).
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn __emit<__O: #private::Output>(&self, __out: &mut __O) {
                #pieces
            }

            #customer_service
        },
    )
}

/// The segments of the customer-service message of `kind`:
/// `{"touser":"…","msgtype":"KIND","KIND":{…}}`, the kind's object holding each value the
/// struct gives under the API's key. Values that are always there come first (the schema gives
/// every kind one that is required), each optional one after them with its comma, in its
/// `Optional` segment.
fn json_segments<'f>(kind: &Kind, mapping: &Mapping<'f, 'f>) -> Vec<Segment<'f>> {
    let mut out = vec![Literal(r#"{"touser":""#.to_owned())];
    if let Some(field) = mapping.get(&HEADER[0]) {
        let ident = field.ident;
        out.push(Segment::Text { ty: field.ty, value: quote_spanned!(field.ty.span()=> &self.#ident) });
    }
    out.push(Literal(format!(r#"","msgtype":"{0}","{0}":{{"#, kind.msg_type)));
    let leaves = kind.body.iter().flat_map(|e| match e.value {
        Value::Group(children) => children,
        _ => core::slice::from_ref(e),
    });
    let (mut always, mut optional) = (Vec::new(), Vec::new());
    for element in leaves {
        let (Some(key), Some(field)) = (element.json, mapping.get(element)) else { continue };
        match (element.value, field.option_inner()) {
            (Value::Items(_), _) => {
                always.push(vec![Literal(format!(r#""{key}":["#)), Segment::Items(field), Literal("]".to_owned())])
            }
            (_, None) => {
                let ident = field.ident;
                let value = quote_spanned!(field.ty.span()=> &self.#ident);
                always.push(vec![
                    Literal(format!(r#""{key}":""#)),
                    Segment::Text { ty: field.ty, value },
                    Literal("\"".to_owned()),
                ]);
            }
            (_, Some(inner)) => optional.push(Segment::Optional {
                field,
                body: vec![
                    Literal(format!(r#","{key}":""#)),
                    Segment::Text { ty: inner, value: quote_spanned!(inner.span()=> __value) },
                    Literal("\"".to_owned()),
                ],
            }),
        }
    }
    for (i, value) in always.into_iter().enumerate() {
        if i > 0 {
            out.push(Literal(",".to_owned()));
        }
        out.extend(value);
    }
    out.extend(optional);
    out.push(Literal("}}".to_owned()));
    out
}

/// An article gives its values; the reply that holds it writes the `<item>`.
fn article_struct(input: &Input, mapping: &Mapping, private: &TokenStream) -> TokenStream {
    let params = type_params(input);
    let mut predicates: Vec<WherePredicate> = Vec::new();
    let accessors = ARTICLE.iter().filter_map(|element| {
        let field = mapping.get(element)?;
        let ident = field.ident;
        let accessor = Ident::new(element.field, Span::call_site());
        let ty = field.option_inner().unwrap_or(field.ty);
        if mentions(ty.to_token_stream(), &params) {
            predicates.push(syn::parse_quote_spanned!(ty.span()=> #ty: #private::TextValue));
        }
        let value = match field.option_inner() {
            Some(inner) => {
                let text = quote_spanned!(inner.span()=> #private::text(__value));
                quote! {
                    match &self.#ident {
                        ::core::option::Option::Some(__value) => ::core::option::Option::Some(#text),
                        ::core::option::Option::None => ::core::option::Option::None,
                    }
                }
            }
            None => {
                let text = quote_spanned!(field.ty.span()=> #private::text(&self.#ident));
                quote!(::core::option::Option::Some(#text))
            }
        };
        Some(quote! {
            #[inline]
            fn #accessor(&self) -> ::core::option::Option<&str> {
                #value
            }
        })
    });
    let accessors: TokenStream = accessors.collect();
    implementation(input, quote!(#private::NewsArticle), predicates, accessors)
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
    // Each variant's call, spanned on the variant's type, so a type that is not a reply is
    // reported there, once.
    let per_variant = |call: TokenStream| -> Vec<TokenStream> {
        variants.iter().map(|v| respan(call.clone(), v.ty.span())).collect()
    };
    let lengths = per_variant(quote!(#private::PassiveReply::encoded_len(#value)));
    let writes = per_variant(quote!(#private::PassiveReply::write_to(#value, __sink)));
    let to_xmls = per_variant(quote!(#private::PassiveReply::to_xml(#value)));
    let json_lengths = per_variant(quote!(#private::PassiveReply::customer_service_len(#value)));
    let json_writes = per_variant(quote!(#private::PassiveReply::write_customer_service(#value, __sink)));
    let to_jsons = per_variant(quote!(#private::PassiveReply::to_customer_service(#value)));
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

            #[inline]
            fn to_xml(&self) -> #private::String {
                match self {
                    #(Self::#names(#value) => #to_xmls,)*
                }
            }

            #[inline]
            fn customer_service_len(&self) -> ::core::option::Option<usize> {
                match self {
                    #(Self::#names(#value) => #json_lengths,)*
                }
            }

            fn write_customer_service<__S: #private::Sink + ?::core::marker::Sized>(
                &self,
                __sink: &mut __S,
            ) -> ::core::result::Result<(), __S::Error> {
                match self {
                    #(Self::#names(#value) => #json_writes,)*
                }
            }

            #[inline]
            fn to_customer_service(&self) -> ::core::option::Option<#private::String> {
                match self {
                    #(Self::#names(#value) => #to_jsons,)*
                }
            }
        },
    )
}

/// Whether the crate being compiled can name `passive_reply`: its manifest names the package
/// (as a dependency, or as itself). Where the manifest can't be read, assume it can.
fn runtime_is_a_dependency() -> bool {
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else { return true };
    match std::fs::read_to_string(std::path::Path::new(&dir).join("Cargo.toml")) {
        Ok(manifest) => manifest.contains("passive-reply") || manifest.contains("passive_reply"),
        Err(_) => true,
    }
}
