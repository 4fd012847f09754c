//! Parsing `#[reply(…)]` on the container and on fields.

use proc_macro2::Span;
use reply_schema::{KINDS, Kind, MAX_ARTICLES as PLATFORM_MAX_ARTICLES};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Attribute, LitInt, LitStr, Path, Token};

use crate::errors::Errors;
use crate::symbol::{CRATE, MAX_ARTICLES, RENAME, REPLY, SKIP};

/// `#[reply(KIND, crate = path, max_articles = N)]`.
#[derive(Default)]
pub struct Container {
    /// Each kind word given, with where it was given.
    pub kinds: Vec<(&'static Kind, Span)>,
    pub krate: Option<Path>,
    pub max_articles: Option<(usize, Span)>,
    /// An unknown word that looked like a kind was reported, so a missing kind is not.
    pub misspelled_kind: bool,
}

/// `#[reply(rename = "Element", skip)]`.
#[derive(Default)]
pub struct Field {
    pub rename: Option<LitStr>,
    pub skip: Option<Span>,
    /// Its attribute had a mistake, already reported: where it maps is not known.
    pub invalid: bool,
}

fn replies(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident(REPLY))
}

fn kind_list() -> String {
    KINDS.iter().map(|k| format!("`{}`", k.msg_type)).collect::<Vec<_>>().join(", ")
}

/// Skips what follows an unknown key (`= value` or `(…)`), so the rest of the attribute is still read.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
    }
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

pub fn container(attrs: &[Attribute], errors: &mut Errors) -> Container {
    let mut out = Container::default();
    for attr in replies(attrs) {
        let parsed = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident(CRATE) {
                let value = meta.value()?;
                // The path form, or serde's string form: `crate = "my_framework::reply"`.
                let krate = if value.peek(LitStr) {
                    let lit: LitStr = value.parse()?;
                    lit.parse::<Path>().map_err(|_| {
                        syn::Error::new(lit.span(), format!(
                            "`crate = \"{}\"` is not a path: write the path where the framework re-exports this crate, such as `crate = \"my_framework::reply\"`",
                            lit.value()
                        ))
                    })
                } else {
                    value.parse::<Path>().map_err(|e| {
                        let error = syn::Error::new(e.span(), "`crate` takes a path, such as `crate = my_framework::reply`");
                        let _ = skip_value(value);
                        error
                    })
                };
                match krate {
                    Ok(krate) if out.krate.is_some() => errors.at(&krate, "`crate` is given twice"),
                    Ok(krate) => out.krate = Some(krate),
                    Err(e) => errors.push(e),
                }
            } else if path.is_ident(MAX_ARTICLES) {
                let value = meta.value()?;
                let max = match value.parse::<LitInt>() {
                    Ok(lit) => match lit.base10_parse::<usize>() {
                        Ok(n) if (1..=PLATFORM_MAX_ARTICLES).contains(&n) => Some((n, lit.span())),
                        _ => {
                            errors.at(&lit, format!(
                                "`max_articles` is from 1 to {PLATFORM_MAX_ARTICLES}, the platform's limit; {lit} is not"
                            ));
                            None
                        }
                    },
                    Err(e) => {
                        errors.push(syn::Error::new(e.span(), format!(
                            "`max_articles` takes a whole number from 1 to {PLATFORM_MAX_ARTICLES}, such as `max_articles = 8`"
                        )));
                        skip_value(value)?;
                        None
                    }
                };
                if let Some(max) = max {
                    if out.max_articles.is_some() {
                        errors.at_span(max.1, "`max_articles` is given twice");
                    } else {
                        out.max_articles = Some(max);
                    }
                }
            } else if let Some(kind) = path.get_ident().and_then(|i| reply_schema::kind(&i.to_string())) {
                out.kinds.push((kind, path.span()));
                if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                    errors.at(path, format!("`{}` is a kind and takes no value", kind.msg_type));
                    skip_value(meta.input)?;
                }
            } else if path.is_ident(RENAME) || path.is_ident(SKIP) {
                errors.at(path, format!(
                    "`{}` goes on a field, not on the struct",
                    path.get_ident().map(ToString::to_string).unwrap_or_default()
                ));
                skip_value(meta.input)?;
            } else {
                let word = quote::ToTokens::to_token_stream(path).to_string().replace(' ', "");
                let words = KINDS.iter().map(|k| k.msg_type).chain([CRATE, MAX_ARTICLES]);
                let message = match crate::suggest::closest(&word, words) {
                    Some(near) if KINDS.iter().any(|k| k.msg_type == near) => {
                        out.misspelled_kind = true;
                        format!("unknown kind of reply `{word}`: did you mean `{near}`?")
                    }
                    Some(near) => format!("unknown `reply` attribute `{word}`: did you mean `{near}`?"),
                    None => format!(
                        "unknown `reply` attribute `{word}`: a struct takes one kind ({}), `crate = path` and, for news, `max_articles = N`",
                        kind_list()
                    ),
                };
                errors.at(path, message);
                skip_value(meta.input)?;
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    out
}

pub fn field(attrs: &[Attribute], errors: &mut Errors) -> Field {
    let mut out = Field::default();
    let reported = errors.len();
    for attr in replies(attrs) {
        let parsed = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident(RENAME) {
                let value = meta.value()?;
                match value.parse::<LitStr>() {
                    Ok(lit) if out.rename.is_some() => errors.at(&lit, "`rename` is given twice"),
                    Ok(lit) => out.rename = Some(lit),
                    Err(e) => {
                        errors.push(syn::Error::new(
                            e.span(),
                            "`rename` takes the element's name as a string, such as `rename = \"Content\"`",
                        ));
                        skip_value(value)?;
                    }
                }
            } else if path.is_ident(SKIP) {
                if out.skip.is_some() {
                    errors.at(path, "`skip` is given twice");
                }
                out.skip = Some(path.span());
                if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                    errors.at(path, "`skip` takes no value");
                    skip_value(meta.input)?;
                }
            } else {
                let word = quote::ToTokens::to_token_stream(path).to_string().replace(' ', "");
                let message = match crate::suggest::closest(&word, [RENAME, SKIP]) {
                    Some(near) => format!("unknown `reply` attribute `{word}` on a field: did you mean `{near}`?"),
                    None => format!(
                        "unknown `reply` attribute `{word}` on a field: a field takes `rename = \"Element\"` or `skip`"
                    ),
                };
                errors.at(path, message);
                skip_value(meta.input)?;
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    out.invalid = errors.len() > reported;
    out
}
