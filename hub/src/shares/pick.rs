//! Which member of a shared subscription gets a signal. By thing: rendezvous (highest random
//! weight) hashing of the thing id over the member ids, so every hub picks the same member for a
//! thing, and a membership change moves only the things of the member that left or the share a
//! new member takes. Round-robin: members in turn, counted per share on each hub.

use super::Member;

/// A stable 64-bit hash (FNV-1a, then splitmix64's finalizer to spread FNV's weak low bits):
/// every hub, whatever its build, must compute the same scores.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The member whose score for `thing_id` is highest.
pub fn by_thing<'a>(
    thing_id: &str,
    members: impl Iterator<Item = &'a Member>,
) -> Option<&'a Member> {
    members.max_by_key(|m| {
        (
            stable_hash(&[
                thing_id.as_bytes(),
                m.node.as_bytes(),
                &m.session.to_be_bytes(),
            ]),
            // Ties (never in practice) still pick the same member everywhere.
            (*m).clone(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn member(node: &str, session: u64) -> Member {
        Member {
            node: node.into(),
            session,
        }
    }

    #[test]
    fn a_thing_keeps_its_member_and_a_leaving_member_moves_only_its_own_things() {
        let three = [member("n1", 1), member("n1", 2), member("n2", 1)];
        let things: Vec<String> = (0..300).map(|i| format!("org.x:t{i}")).collect();
        let before: HashMap<&String, Member> = things
            .iter()
            .map(|t| (t, by_thing(t, three.iter()).unwrap().clone()))
            .collect();
        // Spread: each member gets a fair part of 300 things.
        for m in &three {
            let n = before.values().filter(|x| *x == m).count();
            assert!((60..=140).contains(&n), "{m:?} got {n} of 300");
        }
        // Order of the member list does not matter.
        let reversed: Vec<Member> = three.iter().rev().cloned().collect();
        for t in &things {
            assert_eq!(by_thing(t, reversed.iter()), Some(&before[t]));
        }
        // Member (n1, 2) leaves: only its things move.
        let two = [member("n1", 1), member("n2", 1)];
        for t in &things {
            let now = by_thing(t, two.iter()).unwrap();
            if before[t] != three[1] {
                assert_eq!(*now, before[t], "{t} moved though its member stayed");
            }
        }
        // A new member takes things only for itself.
        let four = [
            member("n1", 1),
            member("n1", 2),
            member("n2", 1),
            member("n2", 9),
        ];
        for t in &things {
            let now = by_thing(t, four.iter()).unwrap();
            assert!(*now == before[t] || *now == four[3], "{t}");
        }
        assert_eq!(by_thing("x", [].iter()), None);
    }
}
