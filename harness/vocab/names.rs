//! [`named_enum!`]: an enum of kinds declared once with the name each kind has in files and
//! reports, from which its list of values, its list of names, `name()`, `parse()`, `Display` and
//! `Serialize` are derived. A kind added to the declaration is in every list at once, and every
//! `match` on the enum stops compiling until it handles it.

/// Declare an enum whose variants are written `Variant => "name"`:
///
/// ```ignore
/// named_enum! {
///     /// Which of the two products a step addresses.
///     pub enum Service {
///         Gitlab => "gitlab",
///         Mattermost => "mattermost",
///     }
/// }
/// ```
///
/// gives `Service::ALL`, `Service::NAMES`, `Service::name(self)`, `Service::parse(&str)`, and
/// `Display`/`Serialize` as the name. The enum derives `Debug, Clone, Copy, PartialEq, Eq, Hash,
/// PartialOrd, Ord`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $name:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $ty {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            /// Every name as written in files, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The name as written in files and reports.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $ty::$variant => $name, )+
                }
            }

            /// The value with this name, exactly as written.
            pub fn parse(name: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    named_enum! {
        /// A test enum.
        enum Colour {
            Red => "red",
            /// Documented variant.
            DarkBlue => "dark_blue",
        }
    }

    #[test]
    fn names_lists_and_parse_come_from_one_declaration() {
        assert_eq!(Colour::ALL, &[Colour::Red, Colour::DarkBlue]);
        assert_eq!(Colour::NAMES, &["red", "dark_blue"]);
        assert_eq!(Colour::DarkBlue.name(), "dark_blue");
        assert_eq!(Colour::parse("dark_blue"), Some(Colour::DarkBlue));
        assert_eq!(Colour::parse("Red"), None);
        assert_eq!(Colour::Red.to_string(), "red");
        assert_eq!(
            serde_json::to_string(&Colour::DarkBlue).expect("serialises"),
            "\"dark_blue\""
        );
    }
}
