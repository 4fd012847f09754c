//! Mapping fields to the elements of the platform's schema, and every check that needs no types.

use std::collections::HashMap;

use proc_macro2::Span;
use reply_schema::{ARTICLE, Element, Kind, MAX_ARTICLES, Presence, Value};
use syn::{Expr, ExprLit, GenericArgument, Lit, PathArguments, Type};

use crate::ast::Field;
use crate::errors::Errors;
use crate::symbol::{MAX_ARTICLES as MAX_ARTICLES_KEY, RENAME};

/// Which field gives each element.
pub struct Mapping<'f, 'a> {
    by_element: HashMap<&'static str, &'f Field<'a>>,
    /// Elements that a field not mapped may have been meant for: a near miss, or a field whose
    /// attribute had a mistake (`None`: any element). A missing element is not reported for them.
    meant: Vec<Option<&'static str>>,
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
        [] if input.attrs.misspelled_kind => None,
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
    let article = if kind.msg_type.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    let what = format!("{article} {} reply", kind.msg_type);
    let mapping = map_fields(&what, &elements, &derived, fields, errors);
    for element in &elements {
        let perhaps_meant = mapping.meant.iter().any(|m| m.is_none_or(|name| name == element.name));
        if element.presence == Presence::Required && mapping.get(element).is_none() && !perhaps_meant {
            let span = input.attrs.kinds.first().map_or_else(|| input.span(), |(_, s)| *s);
            errors.at_span(span, format!(
                "{what} needs {}: add a field `{}: {}`, or a field of another name with `#[reply(rename = \"{}\")]`",
                element.name, element.field, example_type(element), element.name
            ));
        }
    }
    if let Some(articles) = elements.iter().find(|e| matches!(e.value, Value::Items(_)))
        && let Some(field) = mapping.get(articles)
    {
        check_article_list(field.ty, max_articles, errors);
    }
    Reply { max_articles, mapping }
}

/// A type written as Rust source, without the spaces a token stream puts around punctuation.
fn shown(tokens: &(impl quote::ToTokens + ?Sized)) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (from, to) in [(" < ", "<"), ("< ", "<"), (" >", ">"), (" ;", ";"), ("& ", "&"), (" ,", ","), (" :: ", "::")] {
        text = text.replace(from, to);
    }
    text
}

/// The checks of a news reply's `articles` type that can be made from how it is written: an
/// array whose length is a literal, and the common unbounded collections. Any other type is
/// left to the `ArticleList` bound, which the type checker holds it to.
fn check_article_list(ty: &Type, max: usize, errors: &mut Errors) {
    let mut ty = ty;
    while let Type::Reference(reference) = ty {
        ty = &reference.elem;
    }
    let limit = if max == MAX_ARTICLES {
        format!("at most {max} articles")
    } else {
        format!("at most {max} articles (`max_articles = {max}`)")
    };
    let list = |item: &dyn quote::ToTokens| {
        let item = shown(item);
        if max == MAX_ARTICLES { format!("Articles<{item}>") } else { format!("Articles<{item}, {max}>") }
    };
    let unbounded = |item: &dyn quote::ToTokens, errors: &mut Errors| {
        let list = list(item);
        let item = shown(item);
        errors.at(ty, format!(
            "`{}` can hold any number of articles, and a news reply holds {limit}: use `{list}`, a list that refuses more when it is built, or an array `[{item}; N]`",
            shown(ty)
        ));
    };
    match ty {
        Type::Array(array) => {
            let Expr::Lit(ExprLit { lit: Lit::Int(len), .. }) = &array.len else { return };
            match len.base10_parse::<usize>() {
                Ok(0) => errors.at(&array.len, "a news reply holds at least one article, and this array holds none"),
                Ok(n) if n > max => errors.at(&array.len, format!(
                    "a news reply holds {limit}, and this array holds {n}: shorten it, or use `{}` for a number known only at run time",
                    list(&array.elem)
                )),
                _ => {}
            }
        }
        Type::Slice(slice) => unbounded(&slice.elem, errors),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else { return };
            let PathArguments::AngleBracketed(args) = &last.arguments else { return };
            let Some(GenericArgument::Type(inner)) = args.args.first() else { return };
            let name = last.ident.to_string();
            match (name.as_str(), inner) {
                ("Vec" | "VecDeque" | "LinkedList" | "SmallVec" | "BTreeSet" | "HashSet", _) => {
                    unbounded(inner, errors)
                }
                ("Box" | "Rc" | "Arc", Type::Slice(slice)) => unbounded(&slice.elem, errors),
                _ => {}
            }
        }
        _ => {}
    }
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
    let mut meant = Vec::new();
    for field in fields {
        if field.attrs.invalid {
            meant.push(None);
            continue;
        }
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
                    let message = match crate::suggest::closest(&wanted, elements.iter().map(|e| e.name)) {
                        Some(near) => {
                            meant.push(elements.iter().find(|e| e.name == near).map(|e| e.name));
                            format!("{what} has no element `{wanted}`: did you mean `{near}`?")
                        }
                        None => format!("{what} has no element `{wanted}`; its elements are {}", names(elements)),
                    };
                    errors.at(rename, message);
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
            let message = match crate::suggest::closest(&name, elements.iter().map(|e| e.field)) {
                Some(near) => {
                    let element = elements.iter().find(|e| e.field == near).map_or("", |e| e.name);
                    meant.push(Some(element));
                    format!("`{name}` is not an element of {what}: did you mean `{near}` ({element})?")
                }
                None => {
                    let example = elements.last().copied().unwrap_or(&ARTICLE[0]);
                    format!(
                        "`{name}` maps to no element of {what} ({}): name it after one in snake_case, like `{}`, map it with `#[reply(rename = \"{}\")]`, or leave it out with `#[reply(skip)]`",
                        names(elements),
                        example.field,
                        example.name
                    )
                }
            };
            errors.at(field.ident, message);
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
    Mapping { by_element, meant }
}

fn derived_message(element: &Element) -> String {
    match element.value {
        Value::MsgType => "MsgType comes from the kind in `#[reply(…)]` and is never a field: remove this field".to_string(),
        Value::ArticleCount => "ArticleCount is counted from `articles` and is never a field, so it can't disagree with them: remove this field".to_string(),
        Value::Group(children) => format!(
            "{} is a group of elements, not an element: give its elements with fields {}",
            element.name,
            children.iter().map(|c| format!("`{}`", c.field)).collect::<Vec<_>>().join(", ")
        ),
        _ => format!("{} is derived, never a field: remove this field", element.name),
    }
}
