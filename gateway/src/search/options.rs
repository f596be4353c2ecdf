//! A search request as a client words it (ditto-features §6): the RQL filter, the namespaces and
//! the options `sort(+a,-b)`, `size(n)`, `cursor(c)` and `limit(offset,count)`, checked with
//! Ditto's errors (`thing-search:search.option.invalid`, `rql.expression.invalid`), and the cursor:
//! opaque to clients, it holds the filter, namespaces and sort of the search and the last sort key
//! returned, not any server state, so it stays valid whichever hub or gateway answers next.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinwire_common::bus::search::{SearchQuery, SortField};
use twinwire_common::Error;

/// Ditto's `ditto.limits.things-search.default-page-size`.
pub const DEFAULT_PAGE_SIZE: usize = 25;
/// Ditto's `ditto.limits.things-search.max-page-size`.
pub const MAX_PAGE_SIZE: usize = 200;

/// The most namespaces one search may name: each is a range read in every shard.
pub const MAX_NAMESPACES: usize = 100;

/// Where the request came from: the two protocols word the size error differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Http,
    WebSocket,
}

/// A checked search request.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub filter: Option<String>,
    pub namespaces: Vec<String>,
    /// The sort as asked, with `+thingId` appended (Ditto's tie-breaker).
    pub sort: Vec<SortField>,
    pub size: usize,
    /// `size(…)` was given.
    pub sized: bool,
    /// `limit(offset, count)`: the offset.
    pub offset: Option<usize>,
    /// Where a cursor left off.
    pub after: Option<Vec<Value>>,
    pub fields: Option<String>,
}

/// What a cursor carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    namespaces: Vec<String>,
    sort: Vec<SortField>,
    after: Vec<Value>,
    /// The page size the search asked for, kept unless a request names another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<usize>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::SearchOptionInvalid(message.into())
}

/// Splits `s` at commas outside parentheses.
fn top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn sort_of(args: &str) -> Result<Vec<SortField>, Error> {
    let mut sort = Vec::new();
    for raw in args.split(',') {
        let raw = raw.trim_end();
        let entry = raw.trim_start();
        let (desc, path) = match entry.chars().next() {
            Some('+') => (false, &entry[1..]),
            Some('-') => (true, &entry[1..]),
            // An unencoded `+` in a query string arrives as a space.
            Some(_) if raw.starts_with(' ') => (false, entry),
            _ => return Err(invalid(format!("Invalid sort option: <{entry}>."))),
        };
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            return Err(invalid(format!("Invalid sort option: <{entry}>.")));
        }
        sort.push(SortField {
            path: path.to_owned(),
            desc,
        });
    }
    Ok(sort)
}

fn with_tie_breaker(mut sort: Vec<SortField>) -> Vec<SortField> {
    if !sort.iter().any(|f| f.path == "thingId") {
        sort.push(SortField {
            path: "thingId".into(),
            desc: false,
        });
    }
    sort
}

fn size_of(n: &str, via: Via) -> Result<usize, Error> {
    let size: i64 = n
        .trim()
        .parse()
        .map_err(|_| invalid(format!("Invalid size option: <{n}>.")))?;
    match via {
        Via::WebSocket if !(1..=MAX_PAGE_SIZE as i64).contains(&size) => Err(invalid(format!(
            "size({size}) -- {size} must be between 1 and {MAX_PAGE_SIZE}"
        ))),
        _ if size <= 0 => Err(invalid("The option 'size' must be a positive integer.")),
        _ if size > MAX_PAGE_SIZE as i64 => Err(invalid(format!(
            "Parameter <size> must be less than or equal to <{MAX_PAGE_SIZE}> but it was <{size}>!"
        ))),
        _ => Ok(size as usize),
    }
}

/// Checks a search request: `filter` (RQL), `namespaces`, the options string (comma-separated,
/// as `option=` parameters concatenate) and the field selector.
pub fn parse(
    filter: Option<String>,
    namespaces: Vec<String>,
    options: &str,
    fields: Option<String>,
    via: Via,
) -> Result<SearchRequest, Error> {
    if let Some(f) = &filter {
        twinwire_common::rql::parse(f).map_err(|e| Error::RqlInvalid(e.message))?;
    }
    if namespaces.len() > MAX_NAMESPACES {
        return Err(invalid(format!(
            "At most {MAX_NAMESPACES} namespaces may be searched at once, not {}.",
            namespaces.len()
        )));
    }
    if let Some(f) = &fields {
        twinwire_common::things::FieldSelector::parse(f)?;
    }
    let (mut sort, mut size, mut cursor, mut limit) = (None, None, None, None);
    for option in top_level(options) {
        let (name, args) = option
            .strip_suffix(')')
            .and_then(|o| o.split_once('('))
            .ok_or_else(|| invalid(format!("Invalid option: <{option}>.")))?;
        match name.trim() {
            "sort" if sort.is_none() => sort = Some(sort_of(args)?),
            "size" if size.is_none() => size = Some(size_of(args, via)?),
            "cursor" if cursor.is_none() => cursor = Some(args.trim().to_owned()),
            "limit" if limit.is_none() => {
                let (o, c) = args
                    .split_once(',')
                    .ok_or_else(|| invalid(format!("Invalid limit option: <{args}>.")))?;
                let offset: usize = o
                    .trim()
                    .parse()
                    .map_err(|_| invalid(format!("Invalid limit option: <{args}>.")))?;
                let count: usize = c
                    .trim()
                    .parse()
                    .map_err(|_| invalid(format!("Invalid limit option: <{args}>.")))?;
                if count > MAX_PAGE_SIZE {
                    return Err(invalid(format!(
                        "Parameter <limit> must be less than or equal to <{MAX_PAGE_SIZE}> but it was <{count}>!"
                    )));
                }
                limit = Some((offset, count.max(1)));
            }
            "sort" | "size" | "cursor" | "limit" => {
                return Err(invalid(format!(
                    "The option '{}' must not be given more than once.",
                    name.trim()
                )))
            }
            other => return Err(invalid(format!("Unknown option: <{other}>."))),
        }
    }
    // Over the WebSocket a subscription pages by demand: Ditto has neither cursor nor limit there.
    if via == Via::WebSocket && (cursor.is_some() || limit.is_some()) {
        return Err(invalid(
            "The options 'cursor' and 'limit' are not supported for search subscriptions.",
        ));
    }
    if cursor.is_some() && limit.is_some() {
        return Err(invalid(
            "The options 'cursor' and 'limit' must not be used together.",
        ));
    }
    let mut request = SearchRequest {
        filter,
        namespaces,
        sort: with_tie_breaker(sort.clone().unwrap_or_default()),
        size: limit.map(|l| l.1).or(size).unwrap_or(DEFAULT_PAGE_SIZE),
        sized: size.is_some(),
        offset: limit.map(|l| l.0),
        after: None,
        fields,
    };
    if let Some(c) = cursor {
        // Ditto: the cursor's filter, namespaces and sort hold; a request may repeat the filter
        // and sort (they must match) and may change size and fields; the size stays as it was.
        let c = decode(&c)
            .ok_or_else(|| invalid("The option 'cursor' is not valid for the search request."))?;
        let mismatch = request
            .filter
            .as_ref()
            .is_some_and(|f| Some(f) != c.filter.as_ref())
            || sort.is_some_and(|s| with_tie_breaker(s) != c.sort);
        if mismatch {
            return Err(invalid(
                "The option 'cursor' is not valid for the search request.",
            ));
        }
        if size.is_none() {
            request.size = c.size.unwrap_or(DEFAULT_PAGE_SIZE);
        }
        request.filter = c.filter;
        request.namespaces = c.namespaces;
        request.sort = c.sort;
        request.after = Some(c.after);
    }
    Ok(request)
}

fn decode(c: &str) -> Option<Cursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
    (cursor.after.len() == cursor.sort.len()).then_some(cursor)
}

impl SearchRequest {
    /// The query each shard owner answers: the page (or the pages up to the offset's end).
    pub fn query(&self, count: bool) -> SearchQuery {
        SearchQuery {
            filter: self.filter.clone(),
            namespaces: self.namespaces.clone(),
            sort: self.sort.clone(),
            size: self.offset.unwrap_or(0) + self.size,
            after: self.after.clone(),
            count,
            fields: self.fields.clone(),
        }
    }

    /// The cursor that continues after the item whose sort key is `last`.
    pub fn cursor_after(&self, last: Vec<Value>) -> String {
        let c = Cursor {
            filter: self.filter.clone(),
            namespaces: self.namespaces.clone(),
            sort: self.sort.clone(),
            after: last,
            size: Some(self.size),
        };
        // Plain data always serializes.
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&c).expect("cursor serializes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(options: &str, via: Via) -> String {
        match parse(None, vec![], options, None, via) {
            Err(Error::SearchOptionInvalid(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sort_and_size_parse_with_thing_id_as_tie_breaker() {
        let r = parse(
            None,
            vec![],
            "sort(+attributes/a,-_modified),size(3)",
            None,
            Via::Http,
        )
        .unwrap();
        assert_eq!(r.size, 3);
        assert_eq!(
            r.sort
                .iter()
                .map(|f| (f.path.as_str(), f.desc))
                .collect::<Vec<_>>(),
            vec![
                ("attributes/a", false),
                ("_modified", true),
                ("thingId", false)
            ]
        );
    }

    #[test]
    fn bad_options_get_dittos_messages() {
        assert_eq!(
            err("size(0)", Via::Http),
            "The option 'size' must be a positive integer."
        );
        assert_eq!(
            err("size(201)", Via::Http),
            "Parameter <size> must be less than or equal to <200> but it was <201>!"
        );
        assert_eq!(
            err("size(0)", Via::WebSocket),
            "size(0) -- 0 must be between 1 and 200"
        );
        assert_eq!(
            err("cursor(x),limit(0,2)", Via::Http),
            "The options 'cursor' and 'limit' must not be used together."
        );
        assert_eq!(
            err("cursor(nonsense)", Via::Http),
            "The option 'cursor' is not valid for the search request."
        );
        let many = (0..=MAX_NAMESPACES).map(|i| format!("n{i}")).collect();
        assert!(matches!(
            parse(None, many, "", None, Via::Http),
            Err(Error::SearchOptionInvalid(_))
        ));
    }

    #[test]
    fn a_cursor_carries_filter_namespaces_and_sort() {
        let r = parse(
            Some("eq(attributes/a,1)".into()),
            vec!["n".into()],
            "sort(-attributes/a)",
            None,
            Via::Http,
        )
        .unwrap();
        let c = r.cursor_after(vec![json!(1), json!("n:x")]);
        let next = parse(
            None,
            vec!["other".into()],
            &format!("cursor({c}),size(2)"),
            None,
            Via::Http,
        )
        .unwrap();
        assert_eq!(next.filter, r.filter);
        assert_eq!(next.namespaces, vec!["n".to_string()]);
        assert_eq!(next.sort, r.sort);
        assert_eq!(next.size, 2);
        assert_eq!(next.after, Some(vec![json!(1), json!("n:x")]));
        let wrong = parse(
            Some("eq(attributes/a,2)".into()),
            vec![],
            &format!("cursor({c})"),
            None,
            Via::Http,
        );
        assert!(wrong.is_err());
    }
}
