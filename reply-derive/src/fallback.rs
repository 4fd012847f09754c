//! When the input has mistakes, an impl with the right signature and no body, so the compiler
//! reports only the mistakes and not every use of the type as "trait not implemented".

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::Derive;

pub fn stub(input: &DeriveInput, derive: Derive, private: &TokenStream) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let items = match derive {
        Derive::PassiveReply => quote! {
            fn encoded_len(&self) -> usize {
                ::core::unreachable!()
            }

            fn write_to<__S: #private::Sink + ?::core::marker::Sized>(
                &self,
                _: &mut __S,
            ) -> ::core::result::Result<(), __S::Error> {
                ::core::unreachable!()
            }
        },
        // Every method has a default.
        Derive::NewsArticle => quote!(),
    };
    let trait_name = syn::Ident::new(derive.trait_name(), proc_macro2::Span::call_site());
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::#trait_name for #ident #type_generics #where_clause {
            #items
        }
    }
}
