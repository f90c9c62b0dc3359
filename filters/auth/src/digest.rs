//! Comparing digests without telling how close they came.

use subtle::ConstantTimeEq;

/// Whether two digests are equal, in time that does not depend on where
/// they differ: every byte is folded into one difference, which is then
/// compared once through `subtle`: one optimisation barrier per digest
/// instead of one per byte (the per-byte barriers were a tenth of an
/// API-key check's own time in a native profile).
pub fn same<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    difference.ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_digests_and_every_single_byte_difference() {
        let a = [7u8; 32];
        assert!(same(&a, &a));
        for i in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[i] ^= 1 << bit;
                assert!(!same(&a, &b), "byte {i} bit {bit}");
            }
        }
    }
}
