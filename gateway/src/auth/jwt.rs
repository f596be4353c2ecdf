//! JWT authentication (reference §2.2, §1.6, §1.7): a token from `Authorization: Bearer` or the
//! `access_token` query parameter (both at once is "Multiple JWTs provided."), verified against a
//! configured issuer: signature (RS256, ES256; HS256 only when configured), `exp`, `nbf`, `iss` and
//! `aud`. Keys come from a JWKS file or from the issuer's OpenID discovery document, are cached,
//! and are fetched again when a token names an unknown `kid` (key rotation). The subject is
//! `<subject_prefix>:<sub>`.

use super::{AuthContext, AuthFailure, AuthMethod};
use crate::config::{JwtConfig, JwtIssuerConfig};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A token naming an unknown `kid` triggers at most one key fetch per issuer in this interval, so
/// garbage tokens cannot make us hammer the issuer.
const MIN_REFETCH: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<u64>,
    /// A string or an array of strings.
    aud: Option<serde_json::Value>,
}

#[derive(Default)]
struct KeyCache {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    without_kid: Vec<(DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

struct Issuer {
    cfg: JwtIssuerConfig,
    algorithms: Vec<Algorithm>,
    keys: RwLock<KeyCache>,
    hs256: Option<DecodingKey>,
}

pub struct JwtAuth {
    issuers: Vec<Issuer>,
    leeway: u64,
    refresh: Duration,
}

fn fail(reason: &'static str, message: impl Into<String>) -> AuthFailure {
    AuthFailure::new(
        reason,
        message,
        Some("Check that your JWT is valid and issued by a trusted issuer."),
    )
}

fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        "HS256" => Some(Algorithm::HS256),
        _ => None,
    }
}

/// Turns a JWKS document into decoding keys, skipping keys of unsupported types.
fn parse_jwks(text: &str) -> Result<KeyCache, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("JWKS is not valid: {e}"))?;
    let mut cache = KeyCache::default();
    for jwk in &set.keys {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let alg = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            _ => continue,
        };
        match &jwk.common.key_id {
            Some(kid) => {
                cache.by_kid.insert(kid.clone(), (key, alg));
            }
            None => cache.without_kid.push((key, alg)),
        }
    }
    Ok(cache)
}

async fn http_get(url: &str) -> Result<String, String> {
    let client = awc::Client::builder().timeout(FETCH_TIMEOUT).finish();
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", resp.status()));
    }
    let body = resp
        .body()
        .limit(1024 * 1024)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    String::from_utf8(body.to_vec()).map_err(|_| format!("GET {url}: not UTF-8"))
}

impl Issuer {
    async fn fetch_keys(&self) -> Result<KeyCache, String> {
        if !self.cfg.jwks_file.is_empty() {
            let text = std::fs::read_to_string(&self.cfg.jwks_file)
                .map_err(|e| format!("{}: {e}", self.cfg.jwks_file))?;
            return parse_jwks(&text);
        }
        let base = if self.cfg.discovery_url.is_empty() {
            &self.cfg.issuer
        } else {
            &self.cfg.discovery_url
        };
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            base.trim_end_matches('/')
        );
        let doc: serde_json::Value = serde_json::from_str(&http_get(&discovery).await?)
            .map_err(|e| format!("{discovery}: {e}"))?;
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("{discovery}: no jwks_uri"))?;
        parse_jwks(&http_get(jwks_uri).await?)
    }

    /// Refetches keys if allowed now; returns whether the cache changed.
    async fn refresh(&self, force: bool) -> bool {
        {
            let k = self.keys.read();
            if k.attempted.is_some_and(|t| t.elapsed() < MIN_REFETCH)
                && !(force && k.fetched.is_none())
            {
                return false;
            }
        }
        self.keys.write().attempted = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(mut fresh) => {
                fresh.fetched = Some(Instant::now());
                fresh.attempted = Some(Instant::now());
                *self.keys.write() = fresh;
                true
            }
            Err(e) => {
                tracing::warn!(issuer = %self.cfg.issuer, error = %e, "fetching JWT keys failed");
                false
            }
        }
    }

    fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let k = self.keys.read();
        match kid {
            Some(kid) => k
                .by_kid
                .get(kid)
                .filter(|(_, a)| *a == alg)
                .map(|(key, _)| key.clone()),
            None => k
                .without_kid
                .iter()
                .find(|(_, a)| *a == alg)
                .map(|(key, _)| key.clone()),
        }
    }
}

impl JwtAuth {
    pub fn new(cfg: &JwtConfig) -> JwtAuth {
        let issuers = cfg
            .issuers
            .iter()
            .map(|c| Issuer {
                algorithms: c.algorithms.iter().filter_map(|a| algorithm(a)).collect(),
                hs256: (c.algorithms.iter().any(|a| a == "HS256"))
                    .then(|| DecodingKey::from_secret(c.hs256_secret.as_bytes())),
                keys: RwLock::new(KeyCache::default()),
                cfg: c.clone(),
            })
            .collect();
        JwtAuth {
            issuers,
            leeway: cfg.leeway_secs,
            refresh: Duration::from_secs(cfg.jwks_refresh_secs),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Verifies `token` and derives the session's subjects and expiry.
    pub async fn authenticate(&self, token: &str) -> Result<AuthContext, AuthFailure> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| fail("jwt_invalid", "The JWT is malformed."))?;
        let unverified: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| fail("jwt_invalid", "The JWT is malformed."))?;
        let iss = unverified
            .iss
            .as_deref()
            .ok_or_else(|| fail("jwt_invalid", "The JWT has no issuer ('iss')."))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.cfg.issuer == iss)
            .ok_or_else(|| {
                fail(
                    "jwt_issuer",
                    format!("The JWT issuer '{iss}' is not trusted."),
                )
            })?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(fail(
                "jwt_invalid",
                format!(
                    "The JWT algorithm {:?} is not accepted for issuer '{iss}'.",
                    header.alg
                ),
            ));
        }
        let key = if header.alg == Algorithm::HS256 {
            issuer.hs256.clone()
        } else {
            let stale = issuer
                .keys
                .read()
                .fetched
                .is_none_or(|t| t.elapsed() > self.refresh);
            if stale {
                issuer.refresh(true).await;
            }
            match issuer.key_for(header.kid.as_deref(), header.alg) {
                Some(k) => Some(k),
                // An unknown kid may be a rotated key: fetch once more.
                None if issuer.refresh(false).await => {
                    issuer.key_for(header.kid.as_deref(), header.alg)
                }
                None => None,
            }
        };
        let key = key.ok_or_else(|| fail("jwt_key", "The JWT was signed with an unknown key."))?;
        let mut v = Validation::new(header.alg);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_issuer(&[iss]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        if issuer.cfg.audiences.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&issuer.cfg.audiences);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            match e.kind() {
                ExpiredSignature => fail("jwt_expired", "The JWT has expired."),
                ImmatureSignature => fail("jwt_invalid", "The JWT is not valid yet ('nbf')."),
                InvalidAudience => fail("jwt_invalid", "The JWT audience is not accepted."),
                InvalidIssuer => fail("jwt_issuer", "The JWT issuer is not trusted."),
                InvalidSignature => fail("jwt_invalid", "The JWT signature is invalid."),
                MissingRequiredClaim(c) => {
                    fail("jwt_invalid", format!("The JWT lacks the claim '{c}'."))
                }
                _ => fail("jwt_invalid", "The JWT could not be verified."),
            }
        })?;
        let sub = data
            .claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail("jwt_invalid", "The JWT has no subject ('sub')."))?;
        let expires_at = data.claims.exp.map(|e| UNIX_EPOCH + Duration::from_secs(e));
        Ok(AuthContext {
            subjects: vec![format!("{}:{sub}", issuer.cfg.subject_prefix)],
            method: AuthMethod::Jwt,
            expires_at,
            audiences: match data.claims.aud {
                Some(serde_json::Value::String(a)) => vec![a],
                Some(serde_json::Value::Array(a)) => a
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
        })
    }
}

/// Seconds from now until `t` (0 if past).
pub fn until(t: SystemTime) -> Duration {
    t.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    fn cfg(issuers: Vec<JwtIssuerConfig>) -> JwtConfig {
        JwtConfig {
            issuers,
            leeway_secs: 0,
            jwks_refresh_secs: 300,
        }
    }

    fn hs_issuer(aud: Vec<String>) -> JwtIssuerConfig {
        JwtIssuerConfig {
            issuer: "https://issuer.test".into(),
            subject_prefix: "test".into(),
            audiences: aud,
            jwks_file: String::new(),
            discovery_url: String::new(),
            algorithms: vec!["HS256".into()],
            hs256_secret: "secret".into(),
        }
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[actix_web::test]
    async fn a_valid_token_yields_the_prefixed_subject_and_its_expiry() {
        let a = JwtAuth::new(&cfg(vec![hs_issuer(vec![])]));
        let exp = now() + 60;
        let ctx = a
            .authenticate(&token(
                serde_json::json!({"iss": "https://issuer.test", "sub": "alice", "exp": exp}),
                "secret",
            ))
            .await
            .unwrap();
        assert_eq!(ctx.subjects, vec!["test:alice"]);
        assert_eq!(ctx.expires_at, Some(UNIX_EPOCH + Duration::from_secs(exp)));
    }

    #[actix_web::test]
    async fn invalid_tokens_are_rejected_with_a_reason() {
        let a = JwtAuth::new(&cfg(vec![hs_issuer(vec!["twinwire".into()])]));
        let good = serde_json::json!({"iss": "https://issuer.test", "sub": "alice", "exp": now() + 60, "aud": "twinwire"});
        assert!(a.authenticate(&token(good.clone(), "secret")).await.is_ok());
        let mut cases: Vec<(String, &str)> = vec![
            (token(good.clone(), "other-secret"), "jwt_invalid"),
            ("not.a.jwt".into(), "jwt_invalid"),
            ("".into(), "jwt_invalid"),
        ];
        let mut expired = good.clone();
        expired["exp"] = serde_json::json!(now() - 10);
        cases.push((token(expired, "secret"), "jwt_expired"));
        let mut future = good.clone();
        future["nbf"] = serde_json::json!(now() + 100);
        cases.push((token(future, "secret"), "jwt_invalid"));
        let mut aud = good.clone();
        aud["aud"] = serde_json::json!("someone-else");
        cases.push((token(aud, "secret"), "jwt_invalid"));
        let mut iss = good.clone();
        iss["iss"] = serde_json::json!("https://evil.test");
        cases.push((token(iss, "secret"), "jwt_issuer"));
        let mut nosub = good.clone();
        nosub.as_object_mut().unwrap().remove("sub");
        cases.push((token(nosub, "secret"), "jwt_invalid"));
        for (t, reason) in cases {
            let e = a.authenticate(&t).await.unwrap_err();
            assert_eq!(e.reason, reason, "{t}: {:?}", e.error);
            assert_eq!(e.error.to_ditto().error, "gateway:authentication.failed");
        }
    }

    #[actix_web::test]
    async fn hs256_is_refused_unless_configured() {
        let mut i = hs_issuer(vec![]);
        i.algorithms = vec!["RS256".into()];
        let a = JwtAuth::new(&cfg(vec![i]));
        let t = token(
            serde_json::json!({"iss": "https://issuer.test", "sub": "a", "exp": now() + 60}),
            "secret",
        );
        assert_eq!(a.authenticate(&t).await.unwrap_err().reason, "jwt_invalid");
    }
}
