//! The builder methods the standard messages share (`messages`, `news`).

macro_rules! with_create_time {
    () => {
        /// Sets CreateTime, in whole seconds since the Unix epoch.
        #[must_use]
        pub fn with_create_time(mut self, seconds: u64) -> Self {
            self.create_time = seconds;
            self
        }
    };
}

/// `into_owned` for a message whose text fields are `$cow: Cow` and `$optional: Option<Cow>`.
macro_rules! into_owned {
    ($name:ident { $($cow:ident),* ; $($optional:ident),* }) => {
        impl $name<'_> {
            /// The same message, owning its text, so that it can outlive what it borrowed from
            /// (a handler that replies from an async block returns one of these).
            pub fn into_owned(self) -> $name<'static> {
                $name {
                    create_time: self.create_time,
                    $($cow: Cow::Owned(self.$cow.into_owned()),)*
                    $($optional: self.$optional.map(|v| Cow::Owned(v.into_owned())),)*
                }
            }
        }
    };
}

macro_rules! optional_setters {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: impl Into<Cow<'a, str>>) -> Self {
            self.$name = Some(value.into());
            self
        }
    )*};
}
