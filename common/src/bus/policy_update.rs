//! Policy revisions on `tw:policy-updates`: the shard owner that wrote a policy announces its id
//! and revision, and every hub drops a cached enforcer of another revision before its next batch.

use super::entry::{DecodeError, Fields, StreamEntry};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyUpdate {
    pub id: String,
    pub revision: i64,
}

mod field {
    pub const ID: &str = "id";
    pub const REVISION: &str = "rev";
}

impl StreamEntry for PolicyUpdate {
    fn to_fields(&self) -> Vec<(String, String)> {
        vec![
            (field::ID.into(), self.id.clone()),
            (field::REVISION.into(), self.revision.to_string()),
        ]
    }

    fn from_fields(f: &Fields) -> Result<PolicyUpdate, DecodeError> {
        Ok(PolicyUpdate {
            id: f.require(field::ID)?.to_owned(),
            revision: f.require_parsed(field::REVISION)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn policy_updates_keep_their_format() {
        let u = PolicyUpdate {
            id: "org.x:p".into(),
            revision: 12,
        };
        let fields = vec![("id", "org.x:p"), ("rev", "12")];
        let owned: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(u.to_fields(), owned);
        assert_eq!(
            PolicyUpdate::from_fields(&fields.into_iter().collect()),
            Ok(u)
        );
        for bad in [
            vec![("id", "p")],
            vec![("rev", "1")],
            vec![("id", "p"), ("rev", "x")],
        ] {
            assert!(PolicyUpdate::from_fields(&bad.into_iter().collect()).is_err());
        }
    }

    proptest! {
        #[test]
        fn any_policy_update_round_trips(id: String, revision: i64) {
            let u = PolicyUpdate { id, revision };
            prop_assert_eq!(PolicyUpdate::from_fields(&u.to_fields().into_iter().collect()), Ok(u));
        }
    }
}
