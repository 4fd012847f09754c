//! Mapping fields to the elements of the platform's schema, and every check that needs no types.

use std::collections::HashMap;

use proc_macro2::Span;
use reply_schema::{ARTICLE, Element, Kind, MAX_ARTICLES, Presence, Value};

use crate::ast::Field;
use crate::errors::Errors;
use crate::symbol::{MAX_ARTICLES as MAX_ARTICLES_KEY, RENAME};

/// Which field gives each element.
pub struct Mapping<'f, 'a> {
    by_element: HashMap<&'static str, &'f Field<'a>>,
}

impl<'f, 'a> Mapping<'f, 'a> {
    pub fn get(&self, element: &Element) -> Option<&'f Field<'a>> {
        self.by_element.get(element.name).copied()
    }
}

/// What a struct deriving `PassiveReply` is, once checked.
pub struct Reply<'f, 'a> {
    pub max_articles: usize,
    pub mapping: Mapping<'f, 'a>,
}

fn names(elements: &[&Element]) -> String {
    elements.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

fn example_type(element: &Element) -> &'static str {
    match element.value {
        Value::CreateTime => "u64",
        Value::Items(_) => "[Article<'a>; N]",
        _ => "&'a str",
    }
}

/// The kind of a struct, from `#[reply(KIND)]`.
pub fn kind(input: &crate::ast::Input, errors: &mut Errors) -> Option<&'static Kind> {
    let kinds = &input.attrs.kinds;
    let list = reply_schema::KINDS.iter().map(|k| k.msg_type).collect::<Vec<_>>().join(", ");
    match kinds.as_slice() {
        [] => {
            errors.at_span(
                input.span(),
                format!("say which kind of reply this is, with `#[reply(text)]` or another of: {list}"),
            );
            None
        }
        [(kind, _)] => Some(kind),
        [(first, _), rest @ ..] => {
            for (other, span) in rest {
                errors.at_span(*span, format!(
                    "a reply has one kind, and `{}` is given after `{}`: derive `PassiveReply` on an enum to answer with either",
                    other.msg_type, first.msg_type
                ));
            }
            Some(first)
        }
    }
}

/// Checks a struct deriving `PassiveReply` of `kind`.
pub fn reply<'f, 'a>(
    input: &crate::ast::Input,
    kind: &'static Kind,
    fields: &'f [Field<'a>],
    errors: &mut Errors,
) -> Reply<'f, 'a> {
    let max_articles = match input.attrs.max_articles {
        Some((n, span)) => {
            if kind.msg_type != "news" {
                errors.at_span(
                    span,
                    format!("`{MAX_ARTICLES_KEY}` is for news replies, and this is a {} reply", kind.msg_type),
                );
            }
            n
        }
        None => MAX_ARTICLES,
    };
    let elements: Vec<&'static Element> = reply_schema::given_elements(kind).collect();
    let derived: Vec<&'static Element> = kind.elements().filter(|e| !e.is_given()).collect();
    let what = format!("a {} reply", kind.msg_type);
    let mapping = map_fields(&what, &elements, &derived, fields, errors);
    for element in &elements {
        if element.presence == Presence::Required && mapping.get(element).is_none() {
            let span = input.attrs.kinds.first().map_or_else(|| input.span(), |(_, s)| *s);
            errors.at_span(span, format!(
                "{what} needs {}: add a field `{}: {}`, or a field of another name with `#[reply(rename = \"{}\")]`",
                element.name, element.field, example_type(element), element.name
            ));
        }
    }
    Reply { max_articles, mapping }
}

/// Checks a struct deriving `NewsArticle`.
pub fn article<'f, 'a>(input: &crate::ast::Input, fields: &'f [Field<'a>], errors: &mut Errors) -> Mapping<'f, 'a> {
    if let Some((kind, span)) = input.attrs.kinds.first() {
        errors.at_span(
            *span,
            format!("a news article has no kind; `{}` belongs on a struct deriving `PassiveReply`", kind.msg_type),
        );
    }
    if let Some((_, span)) = input.attrs.max_articles {
        errors.at_span(span, "`max_articles` belongs on the news reply, not on an article");
    }
    let elements: Vec<&'static Element> = ARTICLE.iter().collect();
    map_fields("a news article", &elements, &[], fields, errors)
}

fn map_fields<'f, 'a>(
    what: &str,
    elements: &[&'static Element],
    derived: &[&'static Element],
    fields: &'f [Field<'a>],
    errors: &mut Errors,
) -> Mapping<'f, 'a> {
    let mut by_element: HashMap<&'static str, &'f Field<'a>> = HashMap::new();
    for field in fields {
        if field.attrs.skip.is_some() {
            if let Some(rename) = &field.attrs.rename {
                errors.at(rename, format!("`{}` is skipped, so `{RENAME}` has nothing to do", field.ident));
            }
            continue;
        }
        let name = field.ident.to_string();
        let (element, span): (Option<&'static Element>, Span) = match &field.attrs.rename {
            Some(rename) => {
                let wanted = rename.value();
                if let Some(d) = derived.iter().find(|e| e.name == wanted) {
                    errors.at(rename, derived_message(d));
                    continue;
                }
                let found = elements.iter().copied().find(|e| e.name == wanted);
                if found.is_none() {
                    errors
                        .at(rename, format!("{what} has no element `{wanted}`; its elements are {}", names(elements)));
                    continue;
                }
                (found, rename.span())
            }
            None => {
                if let Some(d) = derived.iter().find(|e| e.field == name) {
                    errors.at(field.ident, derived_message(d));
                    continue;
                }
                (elements.iter().copied().find(|e| e.field == name), field.ident.span())
            }
        };
        let Some(element) = element else {
            let example = elements.last().copied().unwrap_or(&ARTICLE[0]);
            errors.at(field.ident, format!(
                "`{name}` maps to no element of {what} ({}): name it after one in snake_case, like `{}`, map it with `#[reply(rename = \"{}\")]`, or leave it out with `#[reply(skip)]`",
                names(elements), example.field, example.name
            ));
            continue;
        };
        if let Some(first) = by_element.get(element.name) {
            errors.at_span(
                span,
                format!("`{name}` and `{}` both map to {}: {what} holds it once", first.ident, element.name),
            );
            continue;
        }
        if element.presence == Presence::Required && field.option_inner().is_some() {
            errors.at(field.ty, format!(
                "{} is required in {what}, so `{name}` can't be an `Option`: the platform refuses the reply without it",
                element.name
            ));
        }
        by_element.insert(element.name, field);
    }
    Mapping { by_element }
}

fn derived_message(element: &Element) -> String {
    match element.value {
        Value::MsgType => "MsgType comes from the kind in `#[reply(…)]` and is never a field: remove this field".to_string(),
        Value::ArticleCount => "ArticleCount is counted from `articles` and is never a field, so it can't disagree with them: remove this field".to_string(),
        _ => format!("{} is derived, never a field: remove this field", element.name),
    }
}
