//! A borrowed model of the derive's input.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, PathArguments, Type};

use crate::attr;
use crate::errors::Errors;

/// Which derive is running.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Derive {
    PassiveReply,
    NewsArticle,
}

impl Derive {
    pub fn trait_name(self) -> &'static str {
        match self {
            Derive::PassiveReply => "PassiveReply",
            Derive::NewsArticle => "NewsArticle",
        }
    }
}

pub struct Input<'a> {
    pub original: &'a DeriveInput,
    pub attrs: attr::Container,
    pub shape: Shape<'a>,
}

pub enum Shape<'a> {
    Struct(Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
    /// A shape the derive can't take; the error is already reported.
    Invalid,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: attr::Field,
}

impl Field<'_> {
    /// `T` when the field's type is written `Option<T>`.
    pub fn option_inner(&self) -> Option<&Type> {
        option_inner(self.ty)
    }
}

pub struct Variant<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
}

/// `T` when `ty` is written `Option<T>` (or with the `std::option::` / `core::option::` path).
/// The derive goes by how the type is written, as serde does: an alias of `Option` is not seen.
pub fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<String> = path.path.segments.iter().map(|s| s.ident.to_string()).collect();
    let is_option = matches!(
        segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
        ["Option"] | ["std" | "core", "option", "Option"]
    );
    if !is_option {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &path.path.segments.last()?.arguments else { return None };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

impl<'a> Input<'a> {
    pub fn from_syn(input: &'a DeriveInput, derive: Derive, errors: &mut Errors) -> Self {
        let attrs = attr::container(&input.attrs, errors);
        let what = derive.trait_name();
        // The runtime as the user reaches it, for messages that name its items.
        let runtime = attrs.krate.as_ref().map_or_else(|| crate::symbol::DEFAULT_CRATE.to_owned(), path_text);
        let shape = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Shape::Struct(
                    named
                        .named
                        .iter()
                        .map(|f| Field {
                            ident: f.ident.as_ref().expect("named fields have names"),
                            ty: &f.ty,
                            attrs: attr::field(&f.attrs, errors),
                        })
                        .collect(),
                ),
                Fields::Unnamed(_) => {
                    errors.at(&input.ident, format!(
                        "`{what}` can't be derived for a tuple struct: name its fields after the elements they hold, such as `content`"
                    ));
                    Shape::Invalid
                }
                Fields::Unit => {
                    errors.at(&input.ident, format!(
                        "`{what}` can't be derived for a unit struct: it has no fields to hold the elements; for the empty reply use `{runtime}::Empty`"
                    ));
                    Shape::Invalid
                }
            },
            Data::Enum(data) if derive == Derive::PassiveReply => {
                let mut variants = Vec::new();
                for v in &data.variants {
                    match &v.fields {
                        Fields::Unnamed(f) if f.unnamed.len() == 1 => {
                            variants.push(Variant { ident: &v.ident, ty: &f.unnamed[0].ty });
                        }
                        Fields::Unit => errors.at(v, format!(
                            "`{0}` wraps no reply: each variant wraps one, so write `{0}({runtime}::Empty)` for the empty reply",
                            v.ident
                        )),
                        Fields::Unnamed(f) => errors.at(v, format!(
                            "`{0}` wraps {1} values: each variant wraps exactly one reply, like `{0}(Text<'a>)`",
                            v.ident,
                            f.unnamed.len()
                        )),
                        Fields::Named(_) => errors.at(v, format!(
                            "`{0}` has named fields: each variant wraps one reply in a tuple variant, like `{0}(Text<'a>)`",
                            v.ident
                        )),
                    }
                }
                Shape::Enum(variants)
            }
            Data::Enum(_) => {
                errors.at(&input.ident, "`NewsArticle` can't be derived for an enum: an article is a struct with Title, Description, PicUrl and Url fields");
                Shape::Invalid
            }
            Data::Union(u) => {
                errors.at_span(u.union_token.span(), format!("`{what}` can't be derived for a union: use a struct"));
                Shape::Invalid
            }
        };
        Input { original: input, attrs, shape }
    }

    pub fn span(&self) -> Span {
        self.original.ident.span()
    }
}

/// A path as it is written, `a::b` (no spaces, as `quote` would put between its tokens).
fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|segment| segment.ident.to_string()).collect();
    let lead = if path.leading_colon.is_some() { "::" } else { "" };
    format!("{lead}{}", segments.join("::"))
}
