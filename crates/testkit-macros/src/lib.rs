//! `#[conformance]`: one test written once, run on every store backend. Re-exported by
//! `testkit`, which owns what the generated tests call; this crate only rewrites syntax.

use proc_macro::TokenStream;
use quote::quote;
use syn::{ItemFn, parse_macro_input};

/// Turns `async fn name() { … }` into the function itself plus `mod name` with two
/// `#[tokio::test]`s, `sqlite` and `postgres`, each running it with
/// `testkit::run_on(backend, …)`. Arguments go to `#[tokio::test]` as they are
/// (`#[conformance(flavor = "multi_thread")]`).
#[proc_macro_attribute]
pub fn conformance(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let function = parse_macro_input!(item as ItemFn);
    if function.sig.asyncness.is_none() || !function.sig.inputs.is_empty() {
        return syn::Error::new_spanned(
            &function.sig,
            "#[conformance] takes an `async fn` without arguments",
        )
        .to_compile_error()
        .into();
    }
    let name = &function.sig.ident;
    let tokio_args = if args.is_empty() {
        quote!()
    } else {
        quote!((#args))
    };
    quote! {
        #function

        mod #name {
            #[::tokio::test #tokio_args]
            async fn sqlite() {
                ::testkit::run_on(::testkit::Backend::Sqlite, super::#name()).await;
            }

            #[::tokio::test #tokio_args]
            async fn postgres() {
                ::testkit::run_on(::testkit::Backend::Postgres, super::#name()).await;
            }
        }
    }
    .into()
}
