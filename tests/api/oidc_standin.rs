//! A stand-in for an OpenID Connect provider: discovery, a JWKS with one RSA key, an
//! authorization endpoint that signs in whoever the test says (at once, no login form) and
//! sends the browser back with a code, and a token endpoint that checks the client's
//! credentials and the PKCE verifier and issues an RS256 ID token. A test can make it issue a
//! wrong one: another nonce, expired, signed by another key, for another client.
//!
//! The keys are the GitHub App stand-in's (tests/fixtures), made for these tests alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use provenant::domain::sso::{SsoSettings, parse_allowed};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::fake::{Canned, FakeRemote};
use crate::github_app_standin::{KEY, OTHER_KEY};
use crate::helpers::{TestApp, now_secs};

/// The modulus of tests/fixtures/github-app-test-key.pem, base64url
/// (`openssl rsa -in … -noout -modulus`).
pub const KEY_N: &str = "rn4YAGz3WQrwFjXZBIQ0pV1FIAFAeJpLD4qEQ8UllJ9rNsYimhGTYGlYKLqGVqWwjjmGmbp5Hf_u5FIe-8Ju7-ekw3UMPRMzjT-BNKX3qvgjjqbL5ug28VWHuQEB7Sn3eq5kGZsqc09TdrHma73K1ByW5EXUIXy7OHxX4OPGF7lp2exI_lp8e8PbLsIBydKmNlIG8LZ0fqeWe5fA00ylceD0nZuirvLiMT1qXLv56UfGIMKJdwMocuFI12ZlJOeT0Dx_mISnIgb0NQvVvDvT8ERK3j7mHQzu_Usb09eIRwf7S96CjI4EqPW_qbO46HU9wpoEXMN-qjQkIVuOFmQnmQ";
pub const KID: &str = "test-key";

pub const CLIENT_ID: &str = "provenant-test-client";
pub const CLIENT_SECRET: &str = "oidc-client-secret-4f2b9c";

/// What the next ID token gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flaw {
    #[default]
    None,
    OtherNonce,
    Expired,
    OtherKey,
    OtherAudience,
    /// The ID token says nothing of whether the e-mail address is verified.
    NoEmailVerified,
}

/// Who signs in next.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    pub verified: bool,
    pub groups: Vec<String>,
}

#[derive(Default)]
struct Books {
    person: Option<Person>,
    flaw: Flaw,
    /// Code → (person, nonce, code challenge, redirect URI).
    codes: HashMap<String, (Person, String, String, String)>,
    /// The authorization requests' queries, as sent.
    pub authorizations: Vec<HashMap<String, String>>,
    /// What the token endpoint refused, and why.
    refusals: Vec<String>,
    next_code: u32,
}

pub struct OidcStandIn {
    pub remote: FakeRemote,
    books: Arc<Mutex<Books>>,
}

fn query_of(path: &str) -> HashMap<String, String> {
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn json_answer(value: Value) -> Canned {
    Canned::status(200, &value.to_string()).header("content-type", "application/json")
}

impl OidcStandIn {
    pub fn start() -> OidcStandIn {
        let remote = FakeRemote::start();
        let books = Arc::new(Mutex::new(Books::default()));
        let issuer = remote.url.clone();
        {
            let books = books.clone();
            remote.respond_with(move |req| {
                let route = req.path.split('?').next().unwrap_or_default();
                let mut books = books.lock().expect("books");
                match (req.method.as_str(), route) {
                    ("GET", "/.well-known/openid-configuration") => Some(json_answer(json!({
                        "issuer": issuer,
                        "authorization_endpoint": format!("{issuer}/authorize"),
                        "token_endpoint": format!("{issuer}/token"),
                        "jwks_uri": format!("{issuer}/jwks"),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                    }))),
                    ("GET", "/jwks") => Some(json_answer(json!({
                        "keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": KEY_N, "e": "AQAB"}]
                    }))),
                    ("GET", "/authorize") => {
                        let query = query_of(&req.path);
                        books.authorizations.push(query.clone());
                        let person = books.person.clone().expect("the test names who signs in");
                        books.next_code += 1;
                        let code = format!("code-{}", books.next_code);
                        let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
                        books.codes.insert(
                            code.clone(),
                            (
                                person,
                                query.get("nonce").cloned().unwrap_or_default(),
                                query.get("code_challenge").cloned().unwrap_or_default(),
                                redirect.clone(),
                            ),
                        );
                        let state = query.get("state").cloned().unwrap_or_default();
                        let back = format!(
                            "{redirect}?code={code}&state={}",
                            form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
                        );
                        Some(Canned::status(302, "").header("location", &back))
                    }
                    ("POST", "/token") => Some(token_answer(&mut books, req, &issuer)),
                    _ => None,
                }
            });
        }
        OidcStandIn { remote, books }
    }

    pub fn settings(&self, allowed: &[&str]) -> SsoSettings {
        SsoSettings {
            issuer: self.remote.url.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            allowed: parse_allowed(&allowed.iter().map(|a| a.to_string()).collect::<Vec<_>>())
                .expect("rules"),
            idle: Duration::from_secs(60 * 60),
            lifetime: Duration::from_secs(12 * 3600),
        }
    }

    pub fn next_person(&self, email: &str) {
        self.books.lock().expect("books").person = Some(Person {
            email: email.into(),
            verified: true,
            groups: vec![],
        });
    }

    pub fn next_flaw(&self, flaw: Flaw) {
        self.books.lock().expect("books").flaw = flaw;
    }

    pub fn authorizations(&self) -> Vec<HashMap<String, String>> {
        self.books.lock().expect("books").authorizations.clone()
    }

    pub fn refusals(&self) -> Vec<String> {
        self.books.lock().expect("books").refusals.clone()
    }
}

fn token_answer(books: &mut Books, req: &crate::fake::Recorded, issuer: &str) -> Canned {
    let refuse = |books: &mut Books, why: &str| {
        books.refusals.push(why.to_string());
        Canned::status(400, &json!({"error": "invalid_grant"}).to_string())
            .header("content-type", "application/json")
    };
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if req.header("authorization") != Some(expected.as_str()) {
        return refuse(books, "client credentials");
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&req.body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return refuse(books, "grant_type");
    }
    let code = form.get("code").cloned().unwrap_or_default();
    // A code is good once.
    let Some((person, nonce, challenge, redirect)) = books.codes.remove(&code) else {
        return refuse(books, "unknown code");
    };
    if form.get("redirect_uri") != Some(&redirect) {
        return refuse(books, "redirect_uri");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
        return refuse(books, "PKCE verifier");
    }
    let flaw = std::mem::take(&mut books.flaw);
    let now = now_secs();
    let claims = json!({
        "iss": issuer,
        "sub": format!("sub-{}", person.email),
        "aud": if flaw == Flaw::OtherAudience { "another-client" } else { CLIENT_ID },
        "iat": now,
        "exp": if flaw == Flaw::Expired { now - 600 } else { now + 300 },
        "nonce": if flaw == Flaw::OtherNonce { "another-nonce".to_string() } else { nonce },
        "email": person.email,
        "email_verified": person.verified,
        "groups": person.groups,
    });
    let mut claims = claims;
    if flaw == Flaw::NoEmailVerified
        && let Some(map) = claims.as_object_mut()
    {
        map.remove("email_verified");
    }
    let pem = if flaw == Flaw::OtherKey {
        OTHER_KEY
    } else {
        KEY
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    let id_token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("test key"),
    )
    .expect("sign");
    json_answer(json!({"access_token": "at-unused", "token_type": "Bearer", "id_token": id_token}))
}

/// A browser's cookies, as a test that speaks HTTP itself keeps them.
#[derive(Debug, Clone, Default)]
pub struct Jar(pub Vec<(String, String)>);

impl Jar {
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, headers: &ureq::http::HeaderMap) {
        for line in headers.get_all("set-cookie") {
            let line = line.to_str().unwrap_or_default();
            let pair = line.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            self.0.retain(|(k, _)| k != name);
            if !value.is_empty() && !line.contains("Max-Age=0") {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One hop of a browser that does not follow redirects.
pub struct Hop {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub text: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

pub fn hop(url: &str, jar: &mut Jar) -> Hop {
    let mut request = agent().get(url);
    if !jar.0.is_empty() {
        request = request.header("cookie", &jar.header());
    }
    let mut reply = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    jar.take(reply.headers());
    Hop {
        status: reply.status().as_u16(),
        location: reply
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        set_cookies: reply
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect(),
        text: reply.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// A person's way through the sign-in, without a browser: the start (its redirect and state
/// cookie), the provider's authorization (which sends back a code), and the callback, whose
/// hop is returned (303 with the session cookie, or the refusal page).
pub fn sign_in_hops(app: &TestApp, standin: &OidcStandIn, email: &str, jar: &mut Jar) -> Hop {
    standin.next_person(email);
    let start = hop(&app.url("/auth/sso/start?next=%2Fsecrets"), jar);
    assert_eq!(start.status, 302, "{}", start.text);
    let to_provider = start.location.expect("the start redirects to the provider");
    assert!(
        to_provider.starts_with(&standin.remote.url),
        "{to_provider}"
    );
    let back = hop(&to_provider, jar);
    assert_eq!(back.status, 302);
    hop(&back.location.expect("the provider redirects back"), jar)
}

/// A signed-in person: their cookies and what `/api/me` says of them.
pub struct SignedIn {
    pub jar: Jar,
    pub me: Value,
}

impl SignedIn {
    pub fn csrf(&self) -> String {
        self.me["csrfToken"]
            .as_str()
            .expect("csrfToken")
            .to_string()
    }

    pub fn session_id(&self) -> String {
        self.me["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string()
    }

    /// A request with the session cookie (and, for a change, the CSRF token and this origin).
    pub fn call(
        &self,
        app: &TestApp,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> crate::helpers::Reply {
        let cookie = self.jar.header();
        let csrf = self.csrf();
        let mut headers = vec![("cookie", cookie.as_str())];
        if method != "GET" {
            headers.push(("x-csrf-token", csrf.as_str()));
            headers.push(("content-type", "application/json"));
        }
        app.request(
            method,
            path,
            None,
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
    }
}

pub fn sign_in(app: &TestApp, standin: &OidcStandIn, email: &str) -> SignedIn {
    let mut jar = Jar::default();
    let done = sign_in_hops(app, standin, email, &mut jar);
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(
        done.location.as_deref(),
        Some("/signin?sso=1&next=%2Fsecrets")
    );
    let cookie = jar.header();
    let me = app.request("GET", "/api/me", None, &[("cookie", cookie.as_str())], None);
    assert_eq!(me.status, 200, "{}", me.text);
    SignedIn { jar, me: me.json() }
}
