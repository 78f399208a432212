//! RFC 6962 / certificate-transparency test vectors, and property tests of every
//! proof against its verifier.
#![allow(clippy::unwrap_used)]

use kidvault_ledger::hash::{from_hex, leaf_hash, Hash};
use kidvault_ledger::tree::{consistency_proof, inclusion_proof, root, MemNodes};
use kidvault_ledger::verify::{verify_consistency, verify_inclusion};
use proptest::prelude::*;

const LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn h(s: &str) -> Hash {
    from_hex(s).unwrap()
}

fn ct_tree() -> MemNodes {
    let mut t = MemNodes::default();
    for l in LEAVES {
        t.push(leaf_hash(l));
    }
    t
}

#[test]
fn roots_of_sizes_1_to_8() {
    let t = ct_tree();
    for (i, want) in ROOTS.iter().enumerate() {
        assert_eq!(root(&t, i as u64 + 1).unwrap(), h(want), "size {}", i + 1);
    }
    assert_eq!(root(&t, 0).unwrap(), h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

#[test]
fn inclusion_vectors() {
    let t = ct_tree();
    let cases: [(u64, u64, &[&str]); 3] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (0, 1, &[]),
    ];
    for (index, size, want) in cases {
        let proof = inclusion_proof(&t, index, size).unwrap();
        assert_eq!(proof, want.iter().map(|s| h(s)).collect::<Vec<_>>(), "leaf {index} of {size}");
        let leaf = leaf_hash(LEAVES[index as usize]);
        verify_inclusion(&leaf, index, size, &proof, &h(ROOTS[size as usize - 1])).unwrap();
    }
}

#[test]
fn consistency_vectors() {
    let t = ct_tree();
    let cases: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (from, to, want) in cases {
        let proof = consistency_proof(&t, from, to).unwrap();
        assert_eq!(proof, want.iter().map(|s| h(s)).collect::<Vec<_>>(), "{from} -> {to}");
        verify_consistency(from, to, &proof, &h(ROOTS[from as usize - 1]), &h(ROOTS[to as usize - 1])).unwrap();
    }
}

fn tree(n: u64) -> MemNodes {
    let mut t = MemNodes::default();
    for i in 0..n {
        t.push(leaf_hash(&i.to_le_bytes()));
    }
    t
}

fn flip(h: &mut Hash, bit: usize) {
    h[bit / 8 % 32] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Inclusion proofs verify, and fail if any hash, the index or the size changes.
    #[test]
    fn inclusion_proofs_verify_and_detect_changes(size in 1u64..300, idx in any::<u64>(), which in any::<usize>(), bit in 0usize..256) {
        let t = tree(size + 1);
        let index = idx % size;
        let r = root(&t, size).unwrap();
        let leaf = leaf_hash(&index.to_le_bytes());
        let proof = inclusion_proof(&t, index, size).unwrap();
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &r).is_ok());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = which % bad.len();
            flip(&mut bad[i], bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &r).is_err());
        }
        let mut bad_leaf = leaf;
        flip(&mut bad_leaf, bit);
        prop_assert!(verify_inclusion(&bad_leaf, index, size, &proof, &r).is_err());
        if size > 1 {
            let other = (index + 1 + which as u64 % (size - 1)) % size;
            prop_assert!(verify_inclusion(&leaf, other, size, &proof, &r).is_err());
        }
        // Against the tree of another size (its signed root), the proof fails.
        prop_assert!(verify_inclusion(&leaf, index, size + 1, &proof, &root(&t, size + 1).unwrap()).is_err());
    }

    /// Consistency proofs verify for every pair of sizes, and fail on any change.
    #[test]
    fn consistency_proofs_verify_and_detect_changes(a in 1u64..300, b in 1u64..300, which in any::<usize>(), bit in 0usize..256) {
        let (from, to) = (a.min(b), a.max(b));
        let t = tree(to + 1);
        let (r1, r2) = (root(&t, from).unwrap(), root(&t, to).unwrap());
        let proof = consistency_proof(&t, from, to).unwrap();
        prop_assert!(verify_consistency(from, to, &proof, &r1, &r2).is_ok());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = which % bad.len();
            flip(&mut bad[i], bit);
            prop_assert!(verify_consistency(from, to, &bad, &r1, &r2).is_err());
        }
        let mut bad_root = r1;
        flip(&mut bad_root, bit);
        prop_assert!(verify_consistency(from, to, &proof, &bad_root, &r2).is_err());
        // Claimed against the trees of other sizes (their real roots), it fails.
        let r3 = root(&t, to + 1).unwrap();
        prop_assert!(verify_consistency(from, to + 1, &proof, &r1, &r3).is_err());
        if from < to {
            let r0 = root(&t, from + 1).unwrap();
            prop_assert!(verify_consistency(from + 1, to, &proof, &r0, &r2).is_err());
        }
    }

    /// A frontier kept by a writer gives the same root as the stored nodes.
    #[test]
    fn frontier_root_matches_stored_root(size in 0u64..500) {
        let t = tree(size);
        let f = kidvault_ledger::tree::Frontier::load(&t, size).unwrap();
        prop_assert_eq!(f.root(), root(&t, size).unwrap());
    }
}
