//! The key set's tests: JWK parsing, every algorithm's verification, and
//! the refusals RFC 8725 asks for.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rsa::BigUint;
use serde_json::json;
use sha2::{Sha256, Sha384, Sha512};

const RSA2048: &str = include_str!("../testdata/rsa2048.pub.jwk.json");
const RSA2048_PRIVATE: &str = include_str!("../testdata/rsa2048.jwk.json");
const RSA1024: &str = include_str!("../testdata/rsa1024.pub.jwk.json");
const P256: &str = include_str!("../testdata/p256.pub.jwk.json");
const P256_PRIVATE: &str = include_str!("../testdata/p256.jwk.json");
const P384: &str = include_str!("../testdata/p384.pub.jwk.json");
const P384_PRIVATE: &str = include_str!("../testdata/p384.jwk.json");
const ED25519: &str = include_str!("../testdata/ed25519.pub.jwk.json");
const ED25519_PRIVATE: &str = include_str!("../testdata/ed25519.jwk.json");
/// A compact JWS `header.payload`; the `*.sig` fixtures sign it.
const INPUT: &[u8] = include_bytes!("../testdata/signing_input.txt");
const PS256_SIG: &[u8] = include_bytes!("../testdata/ps256.sig");
const PS384_SIG: &[u8] = include_bytes!("../testdata/ps384.sig");
const PS512_SIG: &[u8] = include_bytes!("../testdata/ps512.sig");
const PS256_SALT20_SIG: &[u8] = include_bytes!("../testdata/ps256-salt20.sig");
const RS256_OPENSSL_SIG: &[u8] = include_bytes!("../testdata/rs256-openssl.sig");
const SECRET: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn jwk(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn with(text: &str, member: &str, value: Value) -> Value {
    let mut jwk = jwk(text);
    jwk[member] = value;
    jwk
}

fn load(text: &str) -> Key {
    Key::from_jwk(&jwk(text)).unwrap()
}

fn b64(jwk: &Value, member: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(jwk[member].as_str().unwrap())
        .unwrap()
}

fn uint(jwk: &Value, member: &str) -> BigUint {
    BigUint::from_bytes_be(&b64(jwk, member))
}

fn rsa_sign(alg: Algorithm, input: &[u8]) -> Vec<u8> {
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let jwk = jwk(RSA2048_PRIVATE);
    let private = rsa::RsaPrivateKey::from_components(
        uint(&jwk, "n"),
        uint(&jwk, "e"),
        uint(&jwk, "d"),
        vec![uint(&jwk, "p"), uint(&jwk, "q")],
    )
    .unwrap();
    match alg {
        Algorithm::RS256 => SigningKey::<Sha256>::new(private).sign(input).to_vec(),
        Algorithm::RS384 => SigningKey::<Sha384>::new(private).sign(input).to_vec(),
        Algorithm::RS512 => SigningKey::<Sha512>::new(private).sign(input).to_vec(),
        _ => panic!("not RSASSA-PKCS1-v1_5: {alg}"),
    }
}

fn es256_sign(input: &[u8]) -> p256::ecdsa::Signature {
    use p256::ecdsa::signature::Signer;
    let d = b64(&jwk(P256_PRIVATE), "d");
    p256::ecdsa::SigningKey::from_slice(&d).unwrap().sign(input)
}

fn es384_sign(input: &[u8]) -> Vec<u8> {
    use p384::ecdsa::signature::Signer;
    let d = b64(&jwk(P384_PRIVATE), "d");
    let signature: p384::ecdsa::Signature =
        p384::ecdsa::SigningKey::from_slice(&d).unwrap().sign(input);
    signature.to_vec()
}

fn eddsa_sign(input: &[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let d: [u8; 32] = b64(&jwk(ED25519_PRIVATE), "d").try_into().unwrap();
    ed25519_dalek::SigningKey::from_bytes(&d)
        .sign(input)
        .to_vec()
}

fn hmac_sign(alg: Algorithm, secret: &[u8], input: &[u8]) -> Vec<u8> {
    fn tag<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        Algorithm::HS256 => tag::<Hmac<Sha256>>(secret, input),
        Algorithm::HS384 => tag::<Hmac<Sha384>>(secret, input),
        Algorithm::HS512 => tag::<Hmac<Sha512>>(secret, input),
        _ => panic!("not HMAC: {alg}"),
    }
}

/// The good signature verifies; a changed input or signature does not.
fn assert_verifies(key: &Key, alg: Algorithm, signature: &[u8]) {
    assert_eq!(key.verify(alg, INPUT, signature), Ok(()), "{alg}");
    let mut input = INPUT.to_vec();
    input[10] ^= 1;
    assert_eq!(
        key.verify(alg, &input, signature),
        Err(VerifyError::BadSignature),
        "{alg} tampered input"
    );
    let mut tampered = signature.to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        key.verify(alg, INPUT, &tampered),
        Err(VerifyError::BadSignature),
        "{alg} tampered signature"
    );
    assert_eq!(
        key.verify(alg, INPUT, &signature[1..]),
        Err(VerifyError::Malformed),
        "{alg} short signature"
    );
}

fn err(jwk: &Value) -> KeyError {
    Key::from_jwk(jwk).unwrap_err()
}

fn allowed(key: &Key) -> Vec<Algorithm> {
    key.algorithms().collect()
}

#[test]
fn algorithm_names() {
    for alg in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        assert_eq!(alg.to_string(), alg.name());
    }
    for name in [
        "none", "None", "NONE", "", "hs256", "ES512", "EdDSA ", "RSA-OAEP",
    ] {
        assert_eq!(Algorithm::from_name(name), None, "{name:?}");
    }
}

#[test]
fn hmac_verifies() {
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let key = Key::hmac(SECRET, alg).unwrap();
        assert_eq!(allowed(&key), [alg]);
        assert_verifies(&key, alg, &hmac_sign(alg, SECRET, INPUT));
        let wrong_secret = hmac_sign(alg, &SECRET[..63], INPUT);
        assert_eq!(
            key.verify(alg, INPUT, &wrong_secret),
            Err(VerifyError::BadSignature)
        );
    }
}

#[test]
fn oct_jwk_allows_the_hmac_algorithms_its_size_meets() {
    let oct = |len: usize| json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(&SECRET[..len])});
    let key = Key::from_jwk(&oct(64)).unwrap();
    assert_eq!(
        allowed(&key),
        [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
    );
    assert_verifies(
        &key,
        Algorithm::HS384,
        &hmac_sign(Algorithm::HS384, SECRET, INPUT),
    );
    let key = Key::from_jwk(&oct(48)).unwrap();
    assert_eq!(allowed(&key), [Algorithm::HS256, Algorithm::HS384]);
    assert_eq!(err(&oct(31)), KeyError::HmacKeyTooShort(Algorithm::HS256));
    let mut pinned = oct(48);
    pinned["alg"] = json!("HS512");
    assert_eq!(err(&pinned), KeyError::HmacKeyTooShort(Algorithm::HS512));
    pinned["alg"] = json!("HS256");
    assert_eq!(
        allowed(&Key::from_jwk(&pinned).unwrap()),
        [Algorithm::HS256]
    );
    pinned["alg"] = json!("RS256");
    assert_eq!(err(&pinned).to_string(), "`alg` RS256 does not fit kty oct");
}

#[test]
fn short_hmac_secrets_are_refused() {
    for (alg, min) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        assert_eq!(
            Key::hmac(&SECRET[..min - 1], alg).unwrap_err(),
            KeyError::HmacKeyTooShort(alg)
        );
        assert!(Key::hmac(&SECRET[..min], alg).is_ok());
    }
    assert_eq!(
        Key::hmac(b"", Algorithm::HS256).unwrap_err().to_string(),
        "HMAC secret is shorter than 32 bytes, the minimum for HS256"
    );
    assert_eq!(
        Key::hmac(SECRET, Algorithm::RS256).unwrap_err(),
        KeyError::NotHmac(Algorithm::RS256)
    );
}

#[test]
fn rsa_pkcs1v15_verifies() {
    let key = load(RSA2048);
    assert_eq!(key.kid(), Some("rsa-2048"));
    assert_eq!(allowed(&key), Algorithm::RSA);
    for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
        assert_verifies(&key, alg, &rsa_sign(alg, INPUT));
    }
    // Made by openssl, so not only our own signer agrees.
    assert_verifies(&key, Algorithm::RS256, RS256_OPENSSL_SIG);
    assert_eq!(
        key.verify(Algorithm::RS384, INPUT, RS256_OPENSSL_SIG),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn rsa_pss_verifies() {
    let key = load(RSA2048);
    assert_verifies(&key, Algorithm::PS256, PS256_SIG);
    assert_verifies(&key, Algorithm::PS384, PS384_SIG);
    assert_verifies(&key, Algorithm::PS512, PS512_SIG);
    // The salt must be as long as the hash (RFC 7518 §3.5).
    assert_eq!(
        key.verify(Algorithm::PS256, INPUT, PS256_SALT20_SIG),
        Err(VerifyError::BadSignature)
    );
    // PSS is not PKCS#1 v1.5, nor another hash.
    assert_eq!(
        key.verify(Algorithm::RS256, INPUT, PS256_SIG),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        key.verify(Algorithm::PS384, INPUT, PS256_SIG),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn rsa_signature_must_be_modulus_sized_and_below_it() {
    let key = load(RSA2048);
    let mut long = vec![0];
    long.extend_from_slice(PS256_SIG);
    assert_eq!(
        key.verify(Algorithm::PS256, INPUT, &long),
        Err(VerifyError::Malformed)
    );
    assert_eq!(
        key.verify(Algorithm::RS256, INPUT, &[0xff; 256]),
        Err(VerifyError::Malformed)
    );
}

#[test]
fn ecdsa_verifies() {
    let p256 = load(P256);
    assert_eq!(allowed(&p256), [Algorithm::ES256]);
    assert_verifies(&p256, Algorithm::ES256, &es256_sign(INPUT).to_vec());
    let p384 = load(P384);
    assert_eq!(allowed(&p384), [Algorithm::ES384]);
    assert_verifies(&p384, Algorithm::ES384, &es384_sign(INPUT));
    assert_eq!(
        p384.verify(Algorithm::ES384, INPUT, &es256_sign(INPUT).to_vec()),
        Err(VerifyError::Malformed)
    );
}

/// ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }`, as OpenSSL emits.
fn der(signature: &[u8]) -> Vec<u8> {
    let (r, s) = signature.split_at(signature.len() / 2);
    let mut body = Vec::new();
    for int in [r, s] {
        let int = &int[int.iter().take_while(|b| **b == 0).count()..];
        let pad = int[0] & 0x80 != 0;
        body.push(0x02);
        body.push((int.len() + usize::from(pad)) as u8);
        if pad {
            body.push(0);
        }
        body.extend_from_slice(int);
    }
    let mut der = vec![0x30, body.len() as u8];
    der.extend(body);
    der
}

#[test]
fn ecdsa_der_signature_is_refused() {
    let key = load(P256);
    let signature = es256_sign(INPUT).to_vec();
    assert_eq!(
        key.verify(Algorithm::ES256, INPUT, &der(&signature)),
        Err(VerifyError::Malformed)
    );
    let signature = es384_sign(INPUT);
    assert_eq!(
        load(P384).verify(Algorithm::ES384, INPUT, &der(&signature)),
        Err(VerifyError::Malformed)
    );
}

#[test]
fn ecdsa_high_s_is_accepted_as_p256_does() {
    // p256/p384 `VerifyingKey::verify` accepts both (r, s) and (r, n - s);
    // JWS does not require low-S.
    let signature = es256_sign(INPUT);
    let (r, s) = signature.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    assert_ne!(high, signature);
    assert_eq!(
        load(P256).verify(Algorithm::ES256, INPUT, &high.to_vec()),
        Ok(())
    );
}

#[test]
fn eddsa_verifies() {
    let key = load(ED25519);
    assert_eq!(allowed(&key), [Algorithm::EdDSA]);
    assert_verifies(&key, Algorithm::EdDSA, &eddsa_sign(INPUT));
}

#[test]
fn hs_rs_confusion_is_impossible() {
    // The classic attack: HMAC the token with the RSA public key as secret.
    let rsa = load(RSA2048);
    for secret in [RSA2048.as_bytes(), &b64(&jwk(RSA2048), "n")] {
        let forged = hmac_sign(Algorithm::HS256, secret, INPUT);
        assert_eq!(
            rsa.verify(Algorithm::HS256, INPUT, &forged),
            Err(VerifyError::AlgorithmNotAllowed)
        );
    }
    // And the other way round: an HMAC key never verifies RSA or ECDSA.
    let hmac = Key::hmac(SECRET, Algorithm::HS256).unwrap();
    assert_eq!(
        hmac.verify(Algorithm::RS256, INPUT, RS256_OPENSSL_SIG),
        Err(VerifyError::AlgorithmNotAllowed)
    );
    for key in [rsa, load(P256), load(P384), load(ED25519)] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert!(!key.allows(alg), "{key:?} allows {alg}");
        }
    }
    assert!(!load(P256).allows(Algorithm::ES384));
    assert!(!load(P384).allows(Algorithm::ES256));
    assert!(!load(ED25519).allows(Algorithm::ES256));
}

#[test]
fn alg_that_does_not_fit_the_key_is_refused() {
    let cases = [
        (RSA2048, "ES256", "`alg` ES256 does not fit kty RSA"),
        (RSA2048, "HS256", "`alg` HS256 does not fit kty RSA"),
        (P256, "RS256", "`alg` RS256 does not fit kty EC (crv P-256)"),
        (P256, "ES384", "`alg` ES384 does not fit kty EC (crv P-256)"),
        (P384, "ES256", "`alg` ES256 does not fit kty EC (crv P-384)"),
        (
            ED25519,
            "ES256",
            "`alg` ES256 does not fit kty OKP (crv Ed25519)",
        ),
    ];
    for (text, alg, message) in cases {
        assert_eq!(err(&with(text, "alg", json!(alg))).to_string(), message);
    }
    for alg in ["none", "RSA-OAEP", "ES512"] {
        assert_eq!(
            err(&with(RSA2048, "alg", json!(alg))),
            KeyError::UnsupportedAlgorithm(alg.to_owned())
        );
    }
    assert_eq!(
        err(&with(P256, "alg", json!(256))),
        KeyError::NotAString("alg")
    );
}

#[test]
fn rsa_jwk_pinned_to_rs256_refuses_ps256() {
    let key = Key::from_jwk(&with(RSA2048, "alg", json!("RS256"))).unwrap();
    assert_eq!(allowed(&key), [Algorithm::RS256]);
    assert_eq!(
        key.verify(Algorithm::PS256, INPUT, PS256_SIG),
        Err(VerifyError::AlgorithmNotAllowed)
    );
    assert_eq!(
        key.verify(Algorithm::RS384, INPUT, &rsa_sign(Algorithm::RS384, INPUT)),
        Err(VerifyError::AlgorithmNotAllowed)
    );
    assert_eq!(
        key.verify(Algorithm::RS256, INPUT, RS256_OPENSSL_SIG),
        Ok(())
    );
}

#[test]
fn rsa_modulus_size_is_bounded() {
    assert_eq!(err(&jwk(RSA1024)), KeyError::RsaModulusSize(1024));
    assert_eq!(
        err(&jwk(RSA1024)).to_string(),
        "`n` is a 1024-bit RSA modulus; 2048 to 8192 bits are accepted"
    );
    // Too big: 8200 bits (checked before any arithmetic, so need not be a real key).
    let mut n = vec![0xff; 1025];
    n[0] = 0x01;
    let big = with(RSA2048, "n", json!(URL_SAFE_NO_PAD.encode(&n)));
    assert_eq!(err(&big), KeyError::RsaModulusSize(8193));
    // A leading zero octet does not count towards the size.
    let mut n = vec![0];
    n.extend(b64(&jwk(RSA2048), "n"));
    let padded = with(RSA2048, "n", json!(URL_SAFE_NO_PAD.encode(&n)));
    assert!(Key::from_jwk(&padded).is_ok());
}

#[test]
fn rsa_exponent_is_checked() {
    for e in [&[][..], &[1], &[2], &[1, 0, 0]] {
        let bad = with(RSA2048, "e", json!(URL_SAFE_NO_PAD.encode(e)));
        assert_eq!(err(&bad), KeyError::InvalidRsaKey, "{e:?}");
    }
}

#[test]
fn private_keys_are_refused() {
    assert_eq!(err(&jwk(RSA2048_PRIVATE)), KeyError::PrivateKey("d"));
    assert_eq!(err(&jwk(P256_PRIVATE)), KeyError::PrivateKey("d"));
    assert_eq!(err(&jwk(ED25519_PRIVATE)), KeyError::PrivateKey("d"));
    assert_eq!(
        err(&with(RSA2048, "qi", json!("AQAB"))),
        KeyError::PrivateKey("qi")
    );
}

#[test]
fn ec_point_must_be_on_the_curve() {
    let jwk = jwk(P256);
    let mut y = b64(&jwk, "y");
    y[31] ^= 1;
    let off_curve = with(P256, "y", json!(URL_SAFE_NO_PAD.encode(&y)));
    assert_eq!(err(&off_curve), KeyError::NotOnCurve("P-256"));
    let mut y = b64(&self::jwk(P384), "y");
    y[0] ^= 1;
    let off_curve = with(P384, "y", json!(URL_SAFE_NO_PAD.encode(&y)));
    assert_eq!(err(&off_curve), KeyError::NotOnCurve("P-384"));
    // Coordinates are full length, not minimal integers (RFC 7518 §6.2.1.2).
    let short = with(
        P256,
        "x",
        json!(URL_SAFE_NO_PAD.encode(&b64(&jwk, "x")[1..])),
    );
    assert_eq!(err(&short).to_string(), "`x` must be exactly 32 bytes");
    assert_eq!(
        err(&with(P256, "crv", json!("P-521"))).to_string(),
        "crv `P-521` is not supported for kty EC"
    );
    let mut no_y = jwk.clone();
    no_y.as_object_mut().unwrap().remove("y");
    assert_eq!(err(&no_y), KeyError::Missing("y"));
}

#[test]
fn ed25519_key_is_checked() {
    // The identity point: small order, so weak.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = with(ED25519, "x", json!(URL_SAFE_NO_PAD.encode(identity)));
    assert_eq!(err(&weak), KeyError::InvalidEd25519);
    let short = with(ED25519, "x", json!(URL_SAFE_NO_PAD.encode([7u8; 31])));
    assert_eq!(
        err(&short),
        KeyError::WrongLength {
            member: "x",
            expected: 32
        }
    );
    assert_eq!(
        err(&with(ED25519, "crv", json!("X25519"))),
        KeyError::UnsupportedCurve {
            kty: "OKP",
            crv: "X25519".to_owned()
        }
    );
}

#[test]
fn base64url_is_strict() {
    let n = jwk(RSA2048)["n"].as_str().unwrap().to_owned();
    // 256 bytes encode to 342 characters plus `==` when padded.
    let padded = with(RSA2048, "n", json!(format!("{n}==")));
    assert_eq!(err(&padded), KeyError::Base64Padding("n"));
    assert_eq!(
        err(&padded).to_string(),
        "`n` has base64 padding (`=`); JWK members are base64url without padding"
    );
    let x = jwk(P256)["x"].as_str().unwrap().to_owned();
    let standard = with(P256, "x", json!(format!("+{}", &x[1..])));
    assert_eq!(err(&standard), KeyError::NotBase64Url("x"));
    let spaced = with(P256, "x", json!(format!(" {}", &x[1..])));
    assert_eq!(err(&spaced), KeyError::NotBase64Url("x"));
    // Stray bits in the last character make a non-canonical encoding.
    let e = with(RSA2048, "e", json!("Aw"));
    assert!(Key::from_jwk(&e).is_ok());
    let e = with(RSA2048, "e", json!("Ax"));
    assert_eq!(err(&e), KeyError::NotBase64Url("e"));
    assert_eq!(
        err(&with(RSA2048, "n", json!(17))),
        KeyError::NotAString("n")
    );
}

#[test]
fn use_and_key_ops() {
    assert!(Key::from_jwk(&with(P256, "use", json!("sig"))).is_ok());
    assert_eq!(
        err(&with(P256, "use", json!("enc"))).to_string(),
        "`use` is `enc`; only `sig` keys verify signatures"
    );
    assert!(Key::from_jwk(&with(P256, "key_ops", json!(["sign", "verify"]))).is_ok());
    assert_eq!(
        err(&with(P256, "key_ops", json!(["encrypt"]))),
        KeyError::NotForVerifying
    );
    assert_eq!(
        err(&with(P256, "key_ops", json!("verify"))).to_string(),
        "`key_ops` is not an array of strings"
    );
}

#[test]
fn jwk_shape() {
    assert_eq!(err(&json!([])), KeyError::NotAnObject);
    assert_eq!(err(&json!({})), KeyError::Missing("kty"));
    assert_eq!(
        err(&json!({"kty": "foo"})).to_string(),
        "kty `foo` is not supported"
    );
    let long = "x".repeat(100);
    assert_eq!(
        err(&json!({"kty": format!("{long}\n")})),
        KeyError::UnsupportedKeyType(format!("{}…", "x".repeat(32)))
    );
    assert_eq!(
        err(&json!({"kty": "a\nb"})),
        KeyError::UnsupportedKeyType("a\\nb".to_owned())
    );
    assert_eq!(
        err(&with(P256, "kid", json!(1))),
        KeyError::NotAString("kid")
    );
}

#[test]
fn debug_shows_no_key_material() {
    let key = Key::hmac(SECRET, Algorithm::HS256).unwrap();
    let debug = format!("{key:?}");
    assert!(debug.contains("HS256"), "{debug}");
    assert!(!debug.contains("0123"), "{debug}");
    let rsa = format!("{:?}", key_set().candidates(None, Algorithm::RS256).next());
    assert!(rsa.contains("rsa-2048"), "{rsa}");
    assert!(
        !rsa.contains(&jwk(RSA2048)["n"].as_str().unwrap()[..16]),
        "{rsa}"
    );
}

fn key_set() -> KeySet {
    let pinned = with(P256, "alg", json!("ES256"));
    let document = json!({"keys": [
        jwk(RSA2048),
        jwk(P256),
        json!({"kty": "foo", "kid": "new"}),
        with(P384, "use", json!("enc")),
        pinned,
        jwk(RSA1024),
        "not a key",
        json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(SECRET)}),
    ]});
    KeySet::parse(document.to_string().as_bytes()).unwrap()
}

#[test]
fn key_set_skips_unusable_keys_with_reasons() {
    let set = key_set();
    assert_eq!(set.len(), 4);
    assert!(!set.is_empty());
    assert_eq!(
        set.skipped(),
        [
            "keys[2] (kid `new`): kty `foo` is not supported",
            "keys[3] (kid `p-384`): `use` is `enc`; only `sig` keys verify signatures",
            "keys[5] (kid `rsa-1024`): `n` is a 1024-bit RSA modulus; 2048 to 8192 bits are accepted",
            "keys[6]: JWK is not a JSON object",
        ]
    );
}

#[test]
fn candidates_filter_by_kid_and_alg() {
    let set = key_set();
    let kids = |kid: Option<&str>, alg| -> Vec<Option<String>> {
        set.candidates(kid, alg)
            .map(|key| key.kid().map(str::to_owned))
            .collect()
    };
    let p256 = Some("p-256".to_owned());
    // Duplicate kids (rotation overlap): both, in document order.
    assert_eq!(
        kids(Some("p-256"), Algorithm::ES256),
        [p256.clone(), p256.clone()]
    );
    assert_eq!(kids(None, Algorithm::ES256), [p256.clone(), p256]);
    assert_eq!(
        kids(Some("rsa-2048"), Algorithm::PS384),
        [Some("rsa-2048".to_owned())]
    );
    assert_eq!(kids(Some("p-256"), Algorithm::RS256), []);
    assert_eq!(kids(Some("unknown"), Algorithm::ES256), []);
    assert_eq!(kids(None, Algorithm::ES384), []);
    // A key without a kid is a candidate for any token.
    assert_eq!(kids(Some("unknown"), Algorithm::HS512), [None]);
    assert_eq!(kids(None, Algorithm::HS256), [None]);
    assert!(set.has_kid("p-256"));
    assert!(set.has_kid("rsa-2048"));
    assert!(!set.has_kid("p-384"));
    assert!(!set.has_kid("new"));

    let signature = es256_sign(INPUT).to_vec();
    let verified = set
        .candidates(Some("p-256"), Algorithm::ES256)
        .filter(|key| key.verify(Algorithm::ES256, INPUT, &signature).is_ok())
        .count();
    assert_eq!(verified, 2);
}

#[test]
fn key_set_from_keys() {
    let set = KeySet::from_keys(vec![
        Key::hmac(SECRET, Algorithm::HS256).unwrap(),
        load(ED25519),
    ]);
    assert_eq!(set.len(), 2);
    assert!(set.skipped().is_empty());
    assert!(set.has_kid("ed25519"));
    assert_eq!(set.candidates(Some("ed25519"), Algorithm::EdDSA).count(), 1);
    assert!(KeySet::from_keys(Vec::new()).is_empty());
}

#[test]
fn key_set_document_shape() {
    assert!(KeySet::parse(br#"{"keys": []}"#).unwrap().is_empty());
    assert_eq!(
        KeySet::parse(b"{\"keys\": [}").unwrap_err().to_string(),
        "JWKS is not valid JSON (line 1, column 11)"
    );
    for document in [
        &b"[]"[..],
        b"{}",
        br#"{"keys": {}}"#,
        br#"{"keys": null}"#,
        b"1",
    ] {
        assert_eq!(KeySet::parse(document).unwrap_err(), KeyError::NoKeysArray);
    }
}

#[test]
fn too_many_keys_are_refused() {
    let oct = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(SECRET)});
    let document = |count| json!({ "keys": vec![oct.clone(); count] }).to_string();
    assert_eq!(KeySet::parse(document(64).as_bytes()).unwrap().len(), 64);
    let err = KeySet::parse(document(65).as_bytes()).unwrap_err();
    assert_eq!(err, KeyError::TooManyKeys(65));
    assert_eq!(err.to_string(), "too many keys: 65 (at most 64)");
}

#[test]
fn skip_reasons_never_contain_key_material() {
    let n = jwk(RSA2048)["n"].as_str().unwrap().to_owned();
    let secret = URL_SAFE_NO_PAD.encode(&SECRET[..20]);
    let document = json!({"keys": [
        with(RSA2048, "n", json!(format!("{n}=="))),
        with(RSA2048, "alg", json!("HS256")),
        json!({"kty": "oct", "k": secret}),
        json!({"kty": "oct", "k": format!("{secret}+")}),
    ]});
    let set = KeySet::parse(document.to_string().as_bytes()).unwrap();
    assert_eq!(set.skipped().len(), 4);
    for reason in set.skipped() {
        assert!(!reason.contains(&n[..16]), "{reason}");
        assert!(!reason.contains(&secret[..8]), "{reason}");
    }
}

#[test]
fn symmetric_keys_can_be_refused() {
    let document = json!({"keys": [
        json!({"kty": "oct", "kid": "h", "k": URL_SAFE_NO_PAD.encode(SECRET)}),
        json!({"kty": "oct", "k": "not even base64url!"}),
        jwk(P256),
    ]})
    .to_string();
    let refused = KeySet::parse_with(document.as_bytes(), false).unwrap();
    assert_eq!(refused.len(), 1);
    assert!(refused.has_kid("p-256"));
    let why = KeyError::SymmetricKeyRefused.to_string();
    assert_eq!(
        refused.skipped(),
        [
            format!("keys[0] (kid `h`): {why}"),
            format!("keys[1]: {why}")
        ]
    );
    let allowed = KeySet::parse(document.as_bytes()).unwrap();
    assert_eq!(allowed.len(), 2);
    assert!(allowed.has_kid("h"));
    assert_eq!(
        allowed.skipped(),
        ["keys[1]: `k` is not base64url (RFC 4648 §5 alphabet `A-Za-z0-9-_`, no padding)"]
    );
}
