//! The WebSocket binding's plain-text control frames (reference §1): `START-SEND-*`, `STOP-SEND-*`
//! and `JWT-TOKEN`, recognised by a case-sensitive prefix as Ditto's `ProtocolMessageExtractor` does,
//! with form-decoded parameters after the first `?`.
//!
//! One deliberate difference: where Ditto's stream dies with close code 1011 on a malformed parameter
//! string (§1.4), we return an error so the session can answer a 400 frame and live on.

use crate::error::Error;
use std::collections::HashSet;

/// What a session can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamingKind {
    Events,
    Messages,
    LiveCommands,
    LiveEvents,
    PolicyAnnouncements,
}

impl StreamingKind {
    pub const ALL: [StreamingKind; 5] = [
        StreamingKind::Events,
        StreamingKind::Messages,
        StreamingKind::LiveCommands,
        StreamingKind::LiveEvents,
        StreamingKind::PolicyAnnouncements,
    ];

    /// Its position in [`StreamingKind::ALL`], for tables indexed by kind.
    pub fn index(self) -> usize {
        match self {
            StreamingKind::Events => 0,
            StreamingKind::Messages => 1,
            StreamingKind::LiveCommands => 2,
            StreamingKind::LiveEvents => 3,
            StreamingKind::PolicyAnnouncements => 4,
        }
    }

    pub fn start_str(self) -> &'static str {
        match self {
            StreamingKind::Events => "START-SEND-EVENTS",
            StreamingKind::Messages => "START-SEND-MESSAGES",
            StreamingKind::LiveCommands => "START-SEND-LIVE-COMMANDS",
            StreamingKind::LiveEvents => "START-SEND-LIVE-EVENTS",
            StreamingKind::PolicyAnnouncements => "START-SEND-POLICY-ANNOUNCEMENTS",
        }
    }

    pub fn stop_str(self) -> &'static str {
        match self {
            StreamingKind::Events => "STOP-SEND-EVENTS",
            StreamingKind::Messages => "STOP-SEND-MESSAGES",
            StreamingKind::LiveCommands => "STOP-SEND-LIVE-COMMANDS",
            StreamingKind::LiveEvents => "STOP-SEND-LIVE-EVENTS",
            StreamingKind::PolicyAnnouncements => "STOP-SEND-POLICY-ANNOUNCEMENTS",
        }
    }

    /// A short stable name, used in the bus schema and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamingKind::Events => "events",
            StreamingKind::Messages => "messages",
            StreamingKind::LiveCommands => "live_commands",
            StreamingKind::LiveEvents => "live_events",
            StreamingKind::PolicyAnnouncements => "policy_announcements",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Parameters of a START frame (reference §1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartParams {
    /// Exact namespaces; empty means all.
    pub namespaces: Vec<String>,
    /// The raw RQL filter, if given (an empty `filter=` is kept and then fails to parse, as in Ditto).
    pub filter: Option<String>,
    pub extra_fields: Option<String>,
    /// Only used as the correlation-id of an error this subscription causes.
    pub correlation_id: Option<String>,
    /// twinwire's `resume=<token>` (issue 16): continue from a `twinwire-resume` header's position.
    pub resume: Option<String>,
    /// `group=`: the shared subscription to join (a twinwire extension; Ditto ignores it).
    pub group: Option<String>,
    /// `dispatch=`: how the shared subscription picks a member (`by-thing` or `round-robin`).
    pub dispatch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Start {
        kind: StreamingKind,
        params: StartParams,
    },
    Stop {
        kind: StreamingKind,
    },
    JwtToken {
        token: String,
    },
}

impl Control {
    /// The exact `…:ACK` text answering this control frame; `JWT-TOKEN` is never acknowledged.
    pub fn ack(&self) -> Option<String> {
        match self {
            Control::Start { kind, .. } => Some(format!("{}:ACK", kind.start_str())),
            Control::Stop { kind } => Some(format!("{}:ACK", kind.stop_str())),
            Control::JwtToken { .. } => None,
        }
    }
}

const JWT_TOKEN: &str = "JWT-TOKEN";

/// Recognises a control frame. `None` means the text is not one and must be parsed as JSON.
pub fn parse_control(text: &str) -> Option<Result<Control, Error>> {
    for kind in StreamingKind::ALL {
        if text.starts_with(kind.start_str()) {
            return Some(parse_params(text).map(|params| {
                let mut p = StartParams::default();
                for (k, v) in params {
                    match k.as_str() {
                        "namespaces" => {
                            p.namespaces = v
                                .split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned)
                                .collect()
                        }
                        "filter" => p.filter = Some(v),
                        "extraFields" => p.extra_fields = Some(v),
                        "correlation-id" => p.correlation_id = Some(v),
                        "resume" => p.resume = Some(v),
                        "group" => p.group = Some(v),
                        "dispatch" => p.dispatch = Some(v),
                        // Ditto ignores unknown keys (`startSendingWithUnknownParameters`).
                        _ => {}
                    }
                }
                // Ditto drops the filter of policy announcements (`StartStreaming.withFilter`).
                if kind == StreamingKind::PolicyAnnouncements {
                    p.filter = None;
                }
                Control::Start { kind, params: p }
            }));
        }
        if text.starts_with(kind.stop_str()) {
            // STOP ignores its parameters entirely, malformed or not.
            return Some(Ok(Control::Stop { kind }));
        }
    }
    if text.starts_with(JWT_TOKEN) {
        return Some(parse_params(text).and_then(|params| {
            params
                .into_iter()
                .find(|(k, _)| k == "jwtToken")
                .map(|(_, token)| Control::JwtToken { token })
                .ok_or_else(|| Error::ProtocolParameterInvalid {
                    message: JWT_TOKEN.into(),
                    reason: "the parameter 'jwtToken' is missing".into(),
                })
        }));
    }
    None
}

/// Splits and form-decodes everything after the first `?`. Rejects what makes Ditto's extractor
/// throw (§1.4): an empty parameter string, a part without `=`, a repeated key, a broken `%` escape.
fn parse_params(text: &str) -> Result<Vec<(String, String)>, Error> {
    let (head, query) = match text.split_once('?') {
        None => return Ok(Vec::new()),
        Some(pair) => pair,
    };
    let invalid = |reason: String| Error::ProtocolParameterInvalid {
        message: head.to_owned(),
        reason,
    };
    if query.is_empty() {
        return Err(invalid("the parameter string after '?' is empty".into()));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for part in query.split('&') {
        if part.is_empty() {
            return Err(invalid("a parameter is empty".into()));
        }
        if !part.contains('=') {
            return Err(invalid(format!("the parameter '{part}' has no '='")));
        }
        if let Some(bad) = broken_escape(part) {
            return Err(invalid(format!(
                "the parameter '{part}' has a broken escape '{bad}'"
            )));
        }
        // form_urlencoded splits at the first '=' and decodes '+' as space, like Java's URLDecoder.
        let Some((k, v)) = form_urlencoded::parse(part.as_bytes()).next() else {
            return Err(invalid(format!("the parameter '{part}' cannot be decoded")));
        };
        if !seen.insert(k.to_string()) {
            return Err(invalid(format!(
                "the parameter '{k}' is given more than once"
            )));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// The first `%` not followed by two hex digits, which Java's URLDecoder rejects and
/// `form_urlencoded` would silently keep.
fn broken_escape(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                let end = (i + 3).min(bytes.len());
                return Some(String::from_utf8_lossy(&bytes[i..end]).into_owned());
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kinds_index_is_its_position_in_all() {
        for (i, k) in StreamingKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{k:?}");
        }
    }

    fn start(
        kind: StreamingKind,
        namespaces: &[&str],
        filter: Option<&str>,
        extra: Option<&str>,
    ) -> Control {
        Control::Start {
            kind,
            params: StartParams {
                namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
                filter: filter.map(str::to_owned),
                extra_fields: extra.map(str::to_owned),
                correlation_id: None,
                resume: None,
                group: None,
                dispatch: None,
            },
        }
    }

    #[test]
    fn control_frames_parse_as_dittos_extractor_does() {
        use StreamingKind::*;
        let table: Vec<(&str, Control)> = vec![
            ("START-SEND-EVENTS", start(Events, &[], None, None)),
            ("START-SEND-MESSAGES", start(Messages, &[], None, None)),
            (
                "START-SEND-LIVE-COMMANDS",
                start(LiveCommands, &[], None, None),
            ),
            ("START-SEND-LIVE-EVENTS", start(LiveEvents, &[], None, None)),
            ("STOP-SEND-EVENTS", Control::Stop { kind: Events }),
            (
                "STOP-SEND-LIVE-EVENTS?whatever",
                Control::Stop { kind: LiveEvents },
            ),
            ("START-SEND-EVENTSfoo", start(Events, &[], None, None)),
            (
                "START-SEND-EVENTS?namespaces=org.eclipse.ditto&filter=gt(attributes/counter,42)",
                start(
                    Events,
                    &["org.eclipse.ditto"],
                    Some("gt(attributes/counter,42)"),
                    None,
                ),
            ),
            (
                "START-SEND-EVENTS?namespaces=a,b",
                start(Events, &["a", "b"], None, None),
            ),
            (
                "START-SEND-EVENTS?namespaces=",
                start(Events, &[], None, None),
            ),
            (
                "START-SEND-EVENTS?filter=",
                start(Events, &[], Some(""), None),
            ),
            (
                "START-SEND-EVENTS?extraFields=attributes/counter,features/ConnectionStatus",
                start(
                    Events,
                    &[],
                    None,
                    Some("attributes/counter,features/ConnectionStatus"),
                ),
            ),
            (
                "START-SEND-EVENTS?filter=eq(attributes/a,%22x%26y%22)",
                start(Events, &[], Some("eq(attributes/a,\"x&y\")"), None),
            ),
            (
                "START-SEND-EVENTS?filter=gt(_modified,time:now+1h)",
                start(Events, &[], Some("gt(_modified,time:now 1h)"), None),
            ),
            (
                "START-SEND-EVENTS?filter=gt(_modified,time:now%2B1h)",
                start(Events, &[], Some("gt(_modified,time:now+1h)"), None),
            ),
            (
                "START-SEND-EVENTS?unknown=1&namespaces=x",
                start(Events, &["x"], None, None),
            ),
            (
                "START-SEND-POLICY-ANNOUNCEMENTS?filter=eq(a,1)",
                start(PolicyAnnouncements, &[], None, None),
            ),
            (
                "JWT-TOKEN?jwtToken=abc.def.ghi",
                Control::JwtToken {
                    token: "abc.def.ghi".into(),
                },
            ),
        ];
        for (text, expected) in table {
            assert_eq!(parse_control(text).unwrap().unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn group_and_dispatch_are_read_with_the_other_parameters() {
        let Control::Start { params, .. } =
            parse_control("START-SEND-MESSAGES?group=work%20ers&dispatch=round-robin&namespaces=x")
                .unwrap()
                .unwrap()
        else {
            panic!("not a start");
        };
        assert_eq!(params.group.as_deref(), Some("work ers"));
        assert_eq!(params.dispatch.as_deref(), Some("round-robin"));
        assert_eq!(params.namespaces, vec!["x".to_string()]);
    }

    #[test]
    fn correlation_id_parameter_is_kept_for_errors() {
        match parse_control("START-SEND-EVENTS?correlation-id=abc&filter=x")
            .unwrap()
            .unwrap()
        {
            Control::Start { params, .. } => {
                assert_eq!(params.correlation_id.as_deref(), Some("abc"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_parameters_are_errors_not_crashes() {
        for text in [
            "START-SEND-EVENTS?namespaces",
            "START-SEND-EVENTS?",
            "START-SEND-EVENTS?&namespaces=x",
            "START-SEND-EVENTS?namespaces=x&namespaces=y",
            "START-SEND-EVENTS?filter=%ZZ",
            "START-SEND-EVENTS?filter=abc%2",
            "JWT-TOKEN?jwtToken",
            "JWT-TOKEN",
        ] {
            match parse_control(text) {
                Some(Err(Error::ProtocolParameterInvalid { .. })) => {}
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_text_is_not_a_control_frame() {
        for text in [
            "",
            "start-send-events",
            " START-SEND-EVENTS",
            "{\"topic\":1}",
            "HELLO",
            "START-SEND",
        ] {
            assert!(parse_control(text).is_none(), "{text}");
        }
    }

    #[test]
    fn acks_are_the_bare_identifier_plus_ack() {
        assert_eq!(
            parse_control("START-SEND-EVENTS?namespaces=x")
                .unwrap()
                .unwrap()
                .ack()
                .unwrap(),
            "START-SEND-EVENTS:ACK"
        );
        assert_eq!(
            parse_control("START-SEND-EVENTSfoo")
                .unwrap()
                .unwrap()
                .ack()
                .unwrap(),
            "START-SEND-EVENTS:ACK"
        );
        assert_eq!(
            parse_control("STOP-SEND-LIVE-COMMANDS")
                .unwrap()
                .unwrap()
                .ack()
                .unwrap(),
            "STOP-SEND-LIVE-COMMANDS:ACK"
        );
        assert_eq!(
            parse_control("JWT-TOKEN?jwtToken=x")
                .unwrap()
                .unwrap()
                .ack(),
            None
        );
    }
}
