//! The compiled enforcer: a policy turned into a resource trie once per revision, answering permission
//! checks with a walk down one path and no JSON work.
//!
//! Semantics are those of Ditto's default evaluator, `TrieBasedPolicyEnforcer` (`PolicyEnforcers.
//! defaultEvaluator`; `policy-enforcement-use-throughput-optimized-evaluator-enabled = true` in
//! `ditto-devops.conf`), reduced to closed forms:
//!
//! * Every entry adds, at the trie node of each of its resources (`type` then the path keys), its subjects to
//!   the node's grant set and/or revoke set of each permission.
//! * **Inherited state** (`PolicyTrie.getTransitiveClosure`): a subject's state at a node is decided by the
//!   deepest node on the way from the root that names the subject; at one node a revoke beats a grant.
//!   For a *set* of subjects (`GrantRevokeIndex.hasPermissions`, weights = depth) the deepest node naming
//!   any of them decides, and there again any revoke beats any grant. So a grant on a sub-path re-opens what
//!   a revoke higher up closed, and a revoke on a sub-path closes what a grant higher up opened.
//! * **Unrestricted** (`hasUnrestrictedPermissions`, bottom-up revoke trie): the inherited state allows, and
//!   no subject of the set has a revoke of that permission strictly below the resource.
//! * **Partial** (`hasPartialPermissions`, bottom-up grant trie): the inherited state allows, or some subject
//!   of the set has an effective grant (a grant not revoked for the same subject at the same node) strictly
//!   below the resource.
//! * A resource below the deepest trie node (`seekWithFallback`) inherits that node's state and has nothing
//!   below it.

use super::entry::PolicyEntry;
use super::model::Policy;
use super::permission::Permission;
use super::references;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::HashMap;

/// A session's subjects as interned indices, sorted (subjects the policy never names are dropped: they can
/// neither be granted nor revoked anything).
pub(crate) type Ids = SmallVec<[u32; 4]>;

#[derive(Debug, Default)]
pub(crate) struct PermissionSets {
    /// Subjects granted at this node (any entry).
    grant: Box<[u32]>,
    /// Subjects revoked at this node.
    revoke: Box<[u32]>,
    /// Subjects with an effective grant at some node strictly below.
    grant_below: Box<[u32]>,
    /// Subjects with a revoke at some node strictly below.
    revoke_below: Box<[u32]>,
}

#[derive(Debug, Default)]
pub(crate) struct Node {
    children: HashMap<Box<str>, u32>,
    perms: [PermissionSets; 3],
}

/// A policy compiled for permission checks and readable views. Cheap to share (`Send + Sync`, immutable);
/// build one per policy revision (and per thing namespace when entries use `namespaces`).
#[derive(Debug)]
pub struct Enforcer {
    subject_index: HashMap<String, u32>,
    subject_names: Vec<String>,
    /// `nodes[0]` is the root above the resource types; a child always has a larger index than its parent.
    nodes: Vec<Node>,
    /// Subjects with (single-subject) partial READ on `thing:/`: the read-granted subjects Ditto 3.9 puts on
    /// every twin event (`ThingCommandEnforcement.addEffectedReadSubjectsToThingSignal`).
    pub(crate) event_readers: Box<[u32]>,
    /// Of those, the ones with unrestricted READ on `thing:/`: they get events unfiltered
    /// (`PartialAccessPathCalculator.subjectsWithRestrictedAccess` leaves them out).
    pub(crate) event_full_readers: Box<[u32]>,
}

fn contains(set: &[u32], id: u32) -> bool {
    set.binary_search(&id).is_ok()
}

fn intersects(set: &[u32], ids: &[u32]) -> bool {
    ids.iter().any(|&i| contains(set, i))
}

fn sorted(mut v: Vec<u32>) -> Box<[u32]> {
    v.sort_unstable();
    v.dedup();
    v.into_boxed_slice()
}

/// Path keys of a slash-separated pointer; empty segments are skipped and `~0` decodes to `~` like
/// Ditto's `JsonPointer.of`.
pub(crate) fn path_keys(path: &str) -> impl Iterator<Item = Cow<'_, str>> {
    path.split('/').filter(|s| !s.is_empty()).map(|s| {
        if s.contains("~0") {
            Cow::Owned(s.replace("~0", "~"))
        } else {
            Cow::Borrowed(s)
        }
    })
}

impl Enforcer {
    /// Compiles all entries of `policy` (local references resolved; entry `namespaces` ignored, which is what
    /// Ditto does for the policy itself and for things until `forNamespace` narrows it).
    pub fn new(policy: &Policy) -> Enforcer {
        Enforcer::from_entries(&references::effective_entries(policy, None))
    }

    /// Compiles only the entries applying to things in `namespace` (`PolicyEnforcer.forNamespace`, 3.9):
    /// use this for a thing when any entry declares `namespaces`.
    pub fn for_namespace(policy: &Policy, namespace: &str) -> Enforcer {
        Enforcer::from_entries(&references::effective_entries(policy, Some(namespace)))
    }

    fn from_entries(entries: &[PolicyEntry]) -> Enforcer {
        let mut subject_index: HashMap<String, u32> = HashMap::new();
        let mut subject_names: Vec<String> = Vec::new();
        let mut nodes: Vec<Node> = vec![Node::default()];
        let mut parents: Vec<u32> = vec![0];
        // Raw grant/revoke lists per node and permission, deduplicated once at the end.
        let mut raw: Vec<[(Vec<u32>, Vec<u32>); 3]> = vec![Default::default()];

        for entry in entries {
            let ids: Vec<u32> = entry
                .subjects()
                .iter()
                .map(|s| {
                    *subject_index.entry(s.id().to_owned()).or_insert_with(|| {
                        subject_names.push(s.id().to_owned());
                        (subject_names.len() - 1) as u32
                    })
                })
                .collect();
            for resource in entry.resources() {
                let key = resource.key();
                let mut node = 0usize;
                for k in std::iter::once(key.resource_type())
                    .chain(key.path().iter().map(String::as_str))
                {
                    node = match nodes[node].children.get(k) {
                        Some(&c) => c as usize,
                        None => {
                            let c = nodes.len();
                            nodes[node].children.insert(k.into(), c as u32);
                            nodes.push(Node::default());
                            parents.push(node as u32);
                            raw.push(Default::default());
                            c
                        }
                    };
                }
                for p in Permission::ALL {
                    let (grant, revoke) = &mut raw[node][p.index()];
                    if resource.grants(p) {
                        grant.extend_from_slice(&ids);
                    }
                    if resource.revokes(p) {
                        revoke.extend_from_slice(&ids);
                    }
                }
            }
        }

        // Children have larger indices than their parents, so walking the indices backwards sees every
        // node's complete "below" sets before folding its own subtree into its parent.
        let mut grant_below: Vec<[Vec<u32>; 3]> =
            (0..nodes.len()).map(|_| Default::default()).collect();
        let mut revoke_below: Vec<[Vec<u32>; 3]> =
            (0..nodes.len()).map(|_| Default::default()).collect();
        for n in (0..nodes.len()).rev() {
            for p in Permission::ALL {
                let i = p.index();
                let grant = sorted(std::mem::take(&mut raw[n][i].0));
                let revoke = sorted(std::mem::take(&mut raw[n][i].1));
                let gb = sorted(std::mem::take(&mut grant_below[n][i]));
                let rb = sorted(std::mem::take(&mut revoke_below[n][i]));
                if n > 0 {
                    let parent = parents[n] as usize;
                    // An effective grant: granted here and not revoked here for the same subject.
                    grant_below[parent][i]
                        .extend(grant.iter().copied().filter(|s| !contains(&revoke, *s)));
                    grant_below[parent][i].extend_from_slice(&gb);
                    revoke_below[parent][i].extend_from_slice(&revoke);
                    revoke_below[parent][i].extend_from_slice(&rb);
                }
                nodes[n].perms[i] = PermissionSets {
                    grant,
                    revoke,
                    grant_below: gb,
                    revoke_below: rb,
                };
            }
        }

        let mut enforcer = Enforcer {
            subject_index,
            subject_names,
            nodes,
            event_readers: Box::new([]),
            event_full_readers: Box::new([]),
        };
        if let Some(thing) = enforcer.child(0, "thing") {
            let read = &enforcer.nodes[thing as usize].perms[Permission::Read.index()];
            // At `thing:/` a single subject's inherited state is its raw state there (nothing is above).
            let granted_here: Vec<u32> = read
                .grant
                .iter()
                .copied()
                .filter(|s| !contains(&read.revoke, *s))
                .collect();
            let readers: Vec<u32> = granted_here
                .iter()
                .chain(read.grant_below.iter())
                .copied()
                .collect();
            let full: Vec<u32> = granted_here
                .into_iter()
                .filter(|s| !contains(&read.revoke_below, *s))
                .collect();
            enforcer.event_readers = sorted(readers);
            enforcer.event_full_readers = sorted(full);
        }
        enforcer
    }

    // ---- building blocks ----

    pub(crate) fn ids(&self, subjects: &[String]) -> Ids {
        let mut ids: Ids = subjects
            .iter()
            .filter_map(|s| self.subject_index.get(s.as_str()).copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub(crate) fn subject_name(&self, id: u32) -> &str {
        &self.subject_names[id as usize]
    }

    pub(crate) fn child(&self, node: u32, key: &str) -> Option<u32> {
        self.nodes[node as usize].children.get(key).copied()
    }

    fn sets(&self, node: u32, p: Permission) -> &PermissionSets {
        &self.nodes[node as usize].perms[p.index()]
    }

    /// What `node` itself says for the subject set: any revoke beats any grant; `None` when it names none.
    pub(crate) fn node_verdict(&self, node: u32, p: Permission, ids: &[u32]) -> Option<bool> {
        let sets = self.sets(node, p);
        if intersects(&sets.revoke, ids) {
            Some(false)
        } else if intersects(&sets.grant, ids) {
            Some(true)
        } else {
            None
        }
    }

    /// What `node` says for one subject.
    pub(crate) fn subject_verdict(&self, node: u32, p: Permission, id: u32) -> Option<bool> {
        let sets = self.sets(node, p);
        if contains(&sets.revoke, id) {
            Some(false)
        } else if contains(&sets.grant, id) {
            Some(true)
        } else {
            None
        }
    }

    /// Walks `rtype` then `path` down the trie: the inherited verdict for the subject set, and the node of
    /// the resource itself when the trie has one (`None`: the resource lies below the trie).
    pub(crate) fn walk(
        &self,
        rtype: &str,
        path: &str,
        p: Permission,
        ids: &[u32],
    ) -> (bool, Option<u32>) {
        let mut verdict = false;
        let Some(mut node) = self.child(0, rtype) else {
            return (false, None);
        };
        if let Some(v) = self.node_verdict(node, p, ids) {
            verdict = v;
        }
        for key in path_keys(path) {
            match self.child(node, &key) {
                Some(c) => {
                    node = c;
                    if let Some(v) = self.node_verdict(node, p, ids) {
                        verdict = v;
                    }
                }
                None => return (verdict, None),
            }
        }
        (verdict, Some(node))
    }

    /// Per-subject inherited states along a path (for subject listings): subject → granted?, plus the
    /// resource's own node when the trie has one.
    fn walk_states(
        &self,
        rtype: &str,
        path: &str,
        p: Permission,
    ) -> (HashMap<u32, bool>, Option<u32>) {
        let mut states: HashMap<u32, bool> = HashMap::new();
        let apply = |states: &mut HashMap<u32, bool>, node: u32| {
            let sets = self.sets(node, p);
            for &s in sets.grant.iter() {
                states.insert(s, true);
            }
            for &s in sets.revoke.iter() {
                states.insert(s, false);
            }
        };
        let Some(mut node) = self.child(0, rtype) else {
            return (states, None);
        };
        apply(&mut states, node);
        for key in path_keys(path) {
            match self.child(node, &key) {
                Some(c) => {
                    node = c;
                    apply(&mut states, node);
                }
                None => return (states, None),
            }
        }
        (states, Some(node))
    }

    fn names(&self, mut ids: Vec<u32>) -> Vec<String> {
        ids.sort_unstable();
        ids.into_iter()
            .map(|i| self.subject_name(i).to_owned())
            .collect()
    }

    // ---- permission checks ----

    /// True when the subjects hold `perm` on `rtype:path` and everything below it (Ditto "unrestricted";
    /// what every modify command needs: `WRITE` on its resource path).
    pub fn has_unrestricted(
        &self,
        subjects: &[String],
        rtype: &str,
        path: &str,
        perm: Permission,
    ) -> bool {
        let ids = self.ids(subjects);
        let (verdict, node) = self.walk(rtype, path, perm, &ids);
        verdict && node.is_none_or(|n| !intersects(&self.sets(n, perm).revoke_below, &ids))
    }

    /// True when the subjects hold `perm` on `rtype:path` or on some part below it (Ditto "partial"; what a
    /// retrieve needs: `READ` on its resource path).
    pub fn has_partial(
        &self,
        subjects: &[String],
        rtype: &str,
        path: &str,
        perm: Permission,
    ) -> bool {
        let ids = self.ids(subjects);
        let (verdict, node) = self.walk(rtype, path, perm, &ids);
        verdict || node.is_some_and(|n| intersects(&self.sets(n, perm).grant_below, &ids))
    }

    /// `has_unrestricted` for every resource path (merge patches, RQL conditions:
    /// `Enforcer.hasUnrestrictedPermissions(Set<ResourceKey>, …)`).
    pub fn has_unrestricted_all<'a>(
        &self,
        subjects: &[String],
        rtype: &str,
        paths: impl IntoIterator<Item = &'a str>,
        perm: Permission,
    ) -> bool {
        paths
            .into_iter()
            .all(|p| self.has_unrestricted(subjects, rtype, p, perm))
    }

    /// Each subject that alone has partial `perm` (`getSubjectsWithPartialPermission`: an inherited grant at
    /// the resource or an effective grant below it; revokes elsewhere do not matter). Sorted by first
    /// appearance in the policy.
    pub fn subjects_with_partial(&self, rtype: &str, path: &str, perm: Permission) -> Vec<String> {
        let (states, node) = self.walk_states(rtype, path, perm);
        let mut ids: Vec<u32> = states
            .into_iter()
            .filter(|&(_, g)| g)
            .map(|(s, _)| s)
            .collect();
        if let Some(n) = node {
            ids.extend(self.sets(n, perm).grant_below.iter().copied());
            ids.sort_unstable();
            ids.dedup();
        }
        self.names(ids)
    }

    /// Each subject that alone has unrestricted `perm` (`getSubjectsWithUnrestrictedPermission`).
    pub fn subjects_with_unrestricted(
        &self,
        rtype: &str,
        path: &str,
        perm: Permission,
    ) -> Vec<String> {
        let (states, node) = self.walk_states(rtype, path, perm);
        let below: &[u32] = node.map_or(&[], |n| &self.sets(n, perm).revoke_below);
        self.names(
            states
                .into_iter()
                .filter(|&(s, g)| g && !contains(below, s))
                .map(|(s, _)| s)
                .collect(),
        )
    }

    /// The subjects granted and the subjects revoked `perm` at the resource by inheritance
    /// (`getSubjectsWithPermission` → `EffectedSubjects`): what Ditto puts on live commands and messages as
    /// read-granted/read-revoked subjects.
    pub fn subjects_with_permission(
        &self,
        rtype: &str,
        path: &str,
        perm: Permission,
    ) -> (Vec<String>, Vec<String>) {
        let (states, _) = self.walk_states(rtype, path, perm);
        let (mut granted, mut revoked) = (Vec::new(), Vec::new());
        for (s, g) in states {
            if g {
                granted.push(s);
            } else {
                revoked.push(s);
            }
        }
        (self.names(granted), self.names(revoked))
    }

    /// Whether a session receives a live command, live message or message sent to `rtype:path` (`message:/…`
    /// for messages, `thing:/…` for live commands): one of its subjects is read-granted there and none is
    /// read-revoked (`subjects_with_permission(READ)` + `AuthorizationContext.isAuthorized`; system test
    /// `consumeFeatureModifiedHavingRevokedAndGrantedAuthIds`). Per subject, not combined: a revoke inherited
    /// by one subject blocks even when another subject is granted deeper.
    pub fn can_receive_live(&self, subjects: &[String], rtype: &str, path: &str) -> bool {
        let ids = self.ids(subjects);
        let Some(mut node) = self.child(0, rtype) else {
            return false;
        };
        let mut states: SmallVec<[Option<bool>; 4]> = ids
            .iter()
            .map(|&s| self.subject_verdict(node, Permission::Read, s))
            .collect();
        for key in path_keys(path) {
            let Some(c) = self.child(node, &key) else {
                break;
            };
            node = c;
            for (state, &s) in states.iter_mut().zip(&ids) {
                if let Some(v) = self.subject_verdict(node, Permission::Read, s) {
                    *state = Some(v);
                }
            }
        }
        states.contains(&Some(true)) && !states.contains(&Some(false))
    }

    /// The subject IDs the policy names (in first-appearance order).
    pub fn subjects(&self) -> &[String] {
        &self.subject_names
    }
}
