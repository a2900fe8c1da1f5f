//! Randomness from the operating system, in the forms the service hands out:
//! raw bytes, hex tokens, and codes people type from a chosen alphabet.

use super::identity::hex;

/// `N` random bytes. The operating system's source never running dry is a
/// condition of running at all, so its failure is a panic, not an error.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// `N` random bytes as `2 × N` lowercase hexadecimal characters.
pub fn hex_token<const N: usize>() -> String {
    hex(&bytes::<N>())
}

/// `len` characters drawn uniformly from `alphabet` (rejection sampling: a
/// byte past the last whole multiple of the alphabet's size is drawn again,
/// so no character is likelier than another).
pub fn code(alphabet: &[u8], len: usize) -> String {
    assert!(
        !alphabet.is_empty() && alphabet.len() <= 256,
        "an alphabet of 1 to 256 characters"
    );
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in bytes::<32>() {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_their_alphabet_at_their_length() {
        let alphabet = b"ABC23";
        for len in [0, 1, 8, 40, 100] {
            let c = code(alphabet, len);
            assert_eq!(c.len(), len);
            assert!(c.bytes().all(|b| alphabet.contains(&b)), "{c}");
        }
        assert_eq!(hex_token::<16>().len(), 32);
        assert_ne!(hex_token::<16>(), hex_token::<16>());
    }

    #[test]
    fn every_character_comes_up_about_as_often() {
        // 31 characters: a plain `byte % 31` would favour the first 8 by 9 / 8.
        let alphabet = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
        let drawn = code(alphabet, 31 * 4000);
        let counts: Vec<usize> = alphabet
            .iter()
            .map(|a| drawn.bytes().filter(|b| b == a).count())
            .collect();
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 3400 && *max < 4600, "{counts:?}");
    }
}
