//! [`mirror!`]: the two conversions between an internal struct and its file form, field by
//! field. The patterns have no `..`: a field added on either side does not compile until it
//! is named here.

/// `From<&Inside> for Wire` and `From<Wire> for Inside`. `same` fields have one type on both
/// sides; `one` fields a type of their own on each (with these conversions); `list` fields
/// vectors of such; `opt_list` optional vectors of such.
macro_rules! mirror {
    ($($wire:ident = $int:path {
        $(same: $($s:ident),* ;)?
        $(one: $($o:ident),* ;)?
        $(list: $($l:ident),* ;)?
        $(opt_list: $($ol:ident),* ;)?
    })*) => {$(
        impl From<&$int> for $wire {
            #[allow(clippy::clone_on_copy)]
            fn from(x: &$int) -> Self {
                let $int { $($($s,)*)? $($($o,)*)? $($($l,)*)? $($($ol,)*)? } = x;
                $wire {
                    $($($s: $s.clone(),)*)?
                    $($($o: $o.into(),)*)?
                    $($($l: $l.iter().map(Into::into).collect(),)*)?
                    $($($ol: $ol.as_deref().map(|v| v.iter().map(Into::into).collect()),)*)?
                }
            }
        }
        impl From<$wire> for $int {
            fn from(x: $wire) -> Self {
                let $wire { $($($s,)*)? $($($o,)*)? $($($l,)*)? $($($ol,)*)? } = x;
                Self {
                    $($($s,)*)?
                    $($($o: $o.into(),)*)?
                    $($($l: $l.into_iter().map(Into::into).collect(),)*)?
                    $($($ol: $ol.map(|v| v.into_iter().map(Into::into).collect()),)*)?
                }
            }
        }
    )*};
}
