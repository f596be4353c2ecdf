//! Which Redis Cluster slot a command addresses: its key (by the command's key position) and the
//! key's hash slot (CRC16 of the hash tag, as the cluster specification defines it). The cluster
//! connection uses it to split a pipeline into one pipeline per slot.

use redis::{Arg, Cmd};

/// Number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The key `cmd` addresses, if it has one. Covers the commands twinwire sends: the first
/// argument for most, after `numkeys` for scripts, the second word's argument for `XGROUP`, the
/// first stream for `XREAD`/`XREADGROUP`.
pub fn key_of(cmd: &Cmd) -> Option<Vec<u8>> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .filter_map(|a| match a {
            Arg::Simple(b) => Some(b),
            _ => None,
        })
        .collect();
    let name = args.first()?.to_ascii_uppercase();
    let at = match name.as_slice() {
        b"EVAL" | b"EVALSHA" | b"EVAL_RO" | b"EVALSHA_RO" | b"FCALL" | b"FCALL_RO" => {
            let keys: usize = std::str::from_utf8(args.get(2)?).ok()?.parse().ok()?;
            if keys == 0 {
                return None;
            }
            3
        }
        b"XGROUP" | b"XINFO" => 2,
        b"XREAD" | b"XREADGROUP" => {
            args.iter()
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))?
                + 1
        }
        b"WAIT" | b"PING" | b"SCAN" | b"SCRIPT" | b"CLIENT" | b"INFO" | b"ROLE" | b"CLUSTER" => {
            return None
        }
        _ => 1,
    };
    args.get(at).map(|k| k.to_vec())
}

/// The hash slot of `key`: only the part between the first `{` and the next `}` counts when it is
/// non-empty, so every key of one shard (`tw:{7}:…`) lands in the same slot.
pub fn slot_of(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|b| *b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|b| *b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16_xmodem(hashed) % SLOTS
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in data {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_cluster_specification() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
        assert_eq!(slot_of(b"tw:{7}:cmd"), slot_of(b"tw:{7}:thing:a:b"));
    }

    #[test]
    fn the_key_of_a_command_follows_its_key_position() {
        let mut get = redis::cmd("GET");
        get.arg("tw:{1}:applied");
        assert_eq!(key_of(&get).unwrap(), b"tw:{1}:applied");
        let mut group = redis::cmd("XGROUP");
        group.arg("CREATE").arg("tw:{2}:cmd").arg("hubs");
        assert_eq!(key_of(&group).unwrap(), b"tw:{2}:cmd");
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg("hubs")
            .arg("h1")
            .arg("STREAMS")
            .arg("tw:{3}:cmd")
            .arg(">");
        assert_eq!(key_of(&read).unwrap(), b"tw:{3}:cmd");
        let mut script = redis::cmd("EVALSHA");
        script.arg("abc").arg(1).arg("tw:{4}:lease");
        assert_eq!(key_of(&script).unwrap(), b"tw:{4}:lease");
        assert_eq!(key_of(&redis::cmd("WAIT")), None);
    }
}
