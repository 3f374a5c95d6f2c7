//! What every group of checks shares.

/// Records a problem with `message` against the key `path` (naming the layer that set it)
/// unless `ok`, the first argument, holds.
pub(super) type Check<'a> = dyn FnMut(bool, &[&str], String) + 'a;

/// A finite number above zero.
pub(super) fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}
