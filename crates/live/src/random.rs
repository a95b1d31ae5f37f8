//! Randomness for what must be unguessable or unique (session tokens, keys, labels, source numbers): one
//! source, the operating system's generator. Codes people type or share (invites, room and recording IDs)
//! are `stoa_store::random_code`.

/// `N` random bytes. A machine whose generator fails cannot make a secret: that is a bug to stop on, not a
/// condition to go on without.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the operating system's random generator failed");
    out
}

/// `N` random bytes, as lowercase hex (`2 × N` characters).
pub fn hex<const N: usize>() -> String {
    bytes::<N>().iter().map(|b| format!("{b:02x}")).collect()
}

/// A random `u64`.
pub fn u64() -> u64 {
    u64::from_le_bytes(bytes())
}

/// A random `u32`.
pub fn u32() -> u32 {
    u32::from_le_bytes(bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_the_size_asked_and_differ() {
        assert_eq!(super::hex::<32>().len(), 64);
        assert!(super::hex::<12>().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(super::bytes::<16>(), super::bytes::<16>());
        assert_ne!(super::u64(), super::u64());
    }
}
