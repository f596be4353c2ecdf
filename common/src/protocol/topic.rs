//! The Ditto Protocol topic path: `{namespace}/{entityName}/{group}/{channel}/{criterion}/{action}`
//! (reference §3.2). Policies and connections have no channel; messages, acks and announcements end in
//! a free subject that may contain `/`.

use crate::error::Error;
use std::fmt;

/// The longest topic path a client may send, in bytes: a namespace and name (Ditto allows 256
/// characters for both), the fixed parts and a message subject. Longer ones are refused before they
/// are split, and not echoed in full.
pub const MAX_TOPIC_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Things,
    Policies,
    Connections,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Twin,
    Live,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Criterion {
    Commands,
    Events,
    Search,
    Messages,
    Errors,
    Acks,
    Announcements,
    Streaming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Create,
    Retrieve,
    Modify,
    Merge,
    Delete,
    Migrate,
    Created,
    Modified,
    Merged,
    Migrated,
    Deleted,
    CheckPermissions,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Things => "things",
            Group::Policies => "policies",
            Group::Connections => "connections",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "things" => Group::Things,
            "policies" => Group::Policies,
            "connections" => Group::Connections,
            _ => return None,
        })
    }
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Twin => "twin",
            Channel::Live => "live",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "twin" => Some(Channel::Twin),
            "live" => Some(Channel::Live),
            _ => None,
        }
    }
}

impl Criterion {
    pub fn as_str(self) -> &'static str {
        match self {
            Criterion::Commands => "commands",
            Criterion::Events => "events",
            Criterion::Search => "search",
            Criterion::Messages => "messages",
            Criterion::Errors => "errors",
            Criterion::Acks => "acks",
            Criterion::Announcements => "announcements",
            Criterion::Streaming => "streaming",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "commands" => Criterion::Commands,
            "events" => Criterion::Events,
            "search" => Criterion::Search,
            "messages" => Criterion::Messages,
            "errors" => Criterion::Errors,
            "acks" => Criterion::Acks,
            "announcements" => Criterion::Announcements,
            "streaming" => Criterion::Streaming,
            _ => return None,
        })
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Retrieve => "retrieve",
            Action::Modify => "modify",
            Action::Merge => "merge",
            Action::Delete => "delete",
            Action::Migrate => "migrate",
            Action::Created => "created",
            Action::Modified => "modified",
            Action::Merged => "merged",
            Action::Migrated => "migrated",
            Action::Deleted => "deleted",
            Action::CheckPermissions => "checkPermissions",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "create" => Action::Create,
            "retrieve" => Action::Retrieve,
            "modify" => Action::Modify,
            "merge" => Action::Merge,
            "delete" => Action::Delete,
            "migrate" => Action::Migrate,
            "created" => Action::Created,
            "modified" => Action::Modified,
            "merged" => Action::Merged,
            "migrated" => Action::Migrated,
            "deleted" => Action::Deleted,
            "checkPermissions" => Action::CheckPermissions,
            _ => return None,
        })
    }
    pub fn is_command(self) -> bool {
        matches!(
            self,
            Action::Create
                | Action::Retrieve
                | Action::Modify
                | Action::Merge
                | Action::Delete
                | Action::Migrate
                | Action::CheckPermissions
        )
    }
    pub fn is_event(self) -> bool {
        matches!(
            self,
            Action::Created
                | Action::Modified
                | Action::Merged
                | Action::Migrated
                | Action::Deleted
        )
    }
}

/// A parsed topic path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub namespace: String,
    pub name: String,
    pub group: Group,
    pub channel: Option<Channel>,
    pub criterion: Criterion,
    /// For commands and events.
    pub action: Option<Action>,
    /// The message subject, the ack label, the announcement name, or the search/streaming action.
    pub subject: Option<String>,
}

impl Topic {
    /// A thing topic with a command or event action.
    pub fn thing(
        namespace: &str,
        name: &str,
        channel: Channel,
        criterion: Criterion,
        action: Action,
    ) -> Topic {
        Topic {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            group: Group::Things,
            channel: Some(channel),
            criterion,
            action: Some(action),
            subject: None,
        }
    }

    /// The topic of an error answering a signal about `namespace/name` (reference §3.4): things errors
    /// keep the channel, policy errors have none.
    pub fn errors(namespace: &str, name: &str, group: Group, channel: Option<Channel>) -> Topic {
        let (group, channel) = match group {
            Group::Policies => (Group::Policies, None),
            _ => (Group::Things, Some(channel.unwrap_or(Channel::Twin))),
        };
        Topic {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            group,
            channel,
            criterion: Criterion::Errors,
            action: None,
            subject: None,
        }
    }

    /// The entity id `namespace:name` this topic addresses.
    pub fn entity_id(&self) -> String {
        format!("{}:{}", self.namespace, self.name)
    }

    pub fn is_wildcard_name(&self) -> bool {
        self.name == "_"
    }

    /// Parses a topic path. Errors are `protocoladapter:unknown.topicpath`, naming the part that is
    /// wrong in the description as Ditto's `UnknownTopicPathException` does.
    pub fn parse(topic: &str) -> Result<Topic, Error> {
        if topic.len() > MAX_TOPIC_BYTES {
            let mut end = 64;
            while !topic.is_char_boundary(end) {
                end -= 1;
            }
            return Err(Error::UnknownTopicPath {
                topic: format!("{}...", &topic[..end]),
                description: format!(
                    "The topic path exceeds the limit of {MAX_TOPIC_BYTES} bytes."
                ),
            });
        }
        let unknown = |description: String| Error::UnknownTopicPath {
            topic: topic.to_owned(),
            description,
        };
        let mut parts = topic.splitn(4, '/');
        let namespace = parts.next().unwrap_or_default();
        let (Some(name), Some(group_str)) = (parts.next(), parts.next()) else {
            return Err(unknown(
                "A topic path must contain at least a namespace, an entity name and a group."
                    .into(),
            ));
        };
        if name.is_empty() {
            return Err(unknown("The entity name must not be empty.".into()));
        }
        let group = Group::parse(group_str)
            .ok_or_else(|| unknown(format!("Group name <{group_str}> is unknown.")))?;
        let rest = parts.next().unwrap_or("");
        let mut rest_parts = rest.splitn(2, '/');
        let channel = if group == Group::Things {
            let c = rest_parts.next().unwrap_or("");
            Some(
                Channel::parse(c)
                    .ok_or_else(|| unknown(format!("Channel name <{c}> is unknown.")))?,
            )
        } else {
            None
        };
        // Without a channel segment the criterion is the first remaining part.
        let (criterion_str, tail) = match channel {
            Some(_) => {
                let tail = rest_parts.next().unwrap_or("");
                let mut t = tail.splitn(2, '/');
                (t.next().unwrap_or(""), t.next())
            }
            None => {
                let mut t = rest.splitn(2, '/');
                (t.next().unwrap_or(""), t.next())
            }
        };
        let criterion = Criterion::parse(criterion_str)
            .ok_or_else(|| unknown(format!("Criterion name <{criterion_str}> is unknown.")))?;
        let mut t = Topic {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            group,
            channel,
            criterion,
            action: None,
            subject: None,
        };
        match criterion {
            Criterion::Commands | Criterion::Events => {
                let a = tail.unwrap_or("");
                let action = Action::parse(a)
                    .ok_or_else(|| unknown(format!("Action name <{a}> is unknown.")))?;
                let fits = match criterion {
                    Criterion::Commands => action.is_command(),
                    _ => action.is_event(),
                };
                if !fits {
                    return Err(unknown(format!(
                        "Action name <{a}> is unknown for criterion <{criterion_str}>."
                    )));
                }
                t.action = Some(action);
            }
            Criterion::Messages | Criterion::Announcements => {
                let s = tail.unwrap_or("");
                if s.is_empty() {
                    return Err(unknown(format!(
                        "A subject is required for criterion <{criterion_str}>."
                    )));
                }
                t.subject = Some(s.to_owned());
            }
            Criterion::Acks | Criterion::Search | Criterion::Streaming => {
                t.subject = tail.filter(|s| !s.is_empty()).map(str::to_owned);
            }
            Criterion::Errors => {
                if let Some(extra) = tail.filter(|s| !s.is_empty()) {
                    return Err(unknown(format!(
                        "Criterion <errors> takes no action, found <{extra}>."
                    )));
                }
            }
        }
        Ok(t)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.namespace,
            self.name,
            self.group.as_str()
        )?;
        if let Some(c) = self.channel {
            write!(f, "/{}", c.as_str())?;
        }
        write!(f, "/{}", self.criterion.as_str())?;
        if let Some(a) = self.action {
            write!(f, "/{}", a.as_str())?;
        }
        if let Some(s) = &self.subject {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_at_ten_times_the_limit_is_refused_without_being_echoed() {
        let long = format!(
            "ns/n/things/live/messages/{}",
            "s".repeat(10 * MAX_TOPIC_BYTES)
        );
        match Topic::parse(&long) {
            Err(Error::UnknownTopicPath { topic, description }) => {
                assert!(topic.len() < 100, "{topic}");
                assert_eq!(
                    description,
                    "The topic path exceeds the limit of 4096 bytes."
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn valid_topics_parse_and_print_back_unchanged() {
        let table = [
            (
                "org.example/demo/things/twin/commands/create",
                Group::Things,
                Some(Channel::Twin),
                Criterion::Commands,
                Some(Action::Create),
                None,
            ),
            (
                "org.example/demo/things/twin/events/modified",
                Group::Things,
                Some(Channel::Twin),
                Criterion::Events,
                Some(Action::Modified),
                None,
            ),
            (
                "org.example/_/things/twin/commands/retrieve",
                Group::Things,
                Some(Channel::Twin),
                Criterion::Commands,
                Some(Action::Retrieve),
                None,
            ),
            (
                "org.example/demo/things/live/messages/ask/deep/er",
                Group::Things,
                Some(Channel::Live),
                Criterion::Messages,
                None,
                Some("ask/deep/er"),
            ),
            (
                "org.example/demo/things/twin/acks/custom:label",
                Group::Things,
                Some(Channel::Twin),
                Criterion::Acks,
                None,
                Some("custom:label"),
            ),
            (
                "org.example/demo/things/twin/acks",
                Group::Things,
                Some(Channel::Twin),
                Criterion::Acks,
                None,
                None,
            ),
            (
                "org.example/demo/things/live/errors",
                Group::Things,
                Some(Channel::Live),
                Criterion::Errors,
                None,
                None,
            ),
            (
                "org.example/pol/policies/commands/modify",
                Group::Policies,
                None,
                Criterion::Commands,
                Some(Action::Modify),
                None,
            ),
            (
                "org.example/pol/policies/errors",
                Group::Policies,
                None,
                Criterion::Errors,
                None,
                None,
            ),
            (
                "/demo/things/twin/commands/create",
                Group::Things,
                Some(Channel::Twin),
                Criterion::Commands,
                Some(Action::Create),
                None,
            ),
            (
                "org.example/demo/things/twin/commands/checkPermissions",
                Group::Things,
                Some(Channel::Twin),
                Criterion::Commands,
                Some(Action::CheckPermissions),
                None,
            ),
        ];
        for (s, group, channel, criterion, action, subject) in table {
            let t = Topic::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(
                (
                    t.group,
                    t.channel,
                    t.criterion,
                    t.action,
                    t.subject.as_deref()
                ),
                (group, channel, criterion, action, subject),
                "{s}"
            );
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn invalid_topics_name_the_wrong_part() {
        let table = [
            (
                "org.example/demo/thingz/twin/commands/create",
                "Group name <thingz> is unknown.",
            ),
            (
                "org.example/demo/things/tween/commands/create",
                "Channel name <tween> is unknown.",
            ),
            (
                "org.example/demo/things/twin/commandz/create",
                "Criterion name <commandz> is unknown.",
            ),
            (
                "org.example/demo/things/twin/commands/crate",
                "Action name <crate> is unknown.",
            ),
            (
                "org.example/demo/things/twin/commands/created",
                "Action name <created> is unknown for criterion <commands>.",
            ),
            (
                "org.example/demo/things/twin/events/create",
                "Action name <create> is unknown for criterion <events>.",
            ),
            (
                "org.example/demo/things/live/messages",
                "A subject is required for criterion <messages>.",
            ),
            (
                "org.example/demo",
                "A topic path must contain at least a namespace, an entity name and a group.",
            ),
            (
                "",
                "A topic path must contain at least a namespace, an entity name and a group.",
            ),
            (
                "org.example//things/twin/commands/create",
                "The entity name must not be empty.",
            ),
        ];
        for (s, description) in table {
            match Topic::parse(s) {
                Err(Error::UnknownTopicPath {
                    topic,
                    description: d,
                }) => {
                    assert_eq!(topic, s);
                    assert_eq!(d, description, "{s}");
                }
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn error_topics_keep_the_channel_for_things_and_drop_it_for_policies() {
        assert_eq!(
            Topic::errors("a", "b", Group::Things, Some(Channel::Live)).to_string(),
            "a/b/things/live/errors"
        );
        assert_eq!(
            Topic::errors("a", "b", Group::Things, None).to_string(),
            "a/b/things/twin/errors"
        );
        assert_eq!(
            Topic::errors("a", "b", Group::Policies, Some(Channel::Twin)).to_string(),
            "a/b/policies/errors"
        );
    }
}
