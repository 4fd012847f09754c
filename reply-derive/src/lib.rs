//! `#[derive(PassiveReply)]` and `#[derive(NewsArticle)]`.
//!
//! Use them through the `passive-reply` crate, whose documentation describes them; the generated
//! code names paths in it (or in the path given by `#[reply(crate = …)]`).
//!
//! The stages, each in its own file: `ast` reads the input into a borrowed model, `attr`
//! parses `#[reply(…)]`, `check` maps fields to the elements of the platform's schema
//! (`reply-schema`) and collects every mistake, `expand` writes the emitter, and `fallback`
//! writes a stub impl when there were mistakes, so that only they are reported.
#![forbid(unsafe_code)]

mod ast;
mod attr;
mod check;
mod errors;
mod expand;
mod fallback;
mod suggest;
mod symbol;

use proc_macro::TokenStream;

/// Derives `PassiveReply` for a struct that holds one kind of reply, or for an enum whose
/// variants each hold one reply. See the `passive-reply` crate.
#[proc_macro_derive(PassiveReply, attributes(reply))]
pub fn derive_passive_reply(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input, ast::Derive::PassiveReply).into()
}

/// Derives `NewsArticle` for a struct whose fields are an article's Title, Description, PicUrl
/// and Url. See the `passive-reply` crate.
#[proc_macro_derive(NewsArticle, attributes(reply))]
pub fn derive_news_article(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input, ast::Derive::NewsArticle).into()
}
