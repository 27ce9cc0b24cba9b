//! Security-pretext claims (seed-spec §1.7): the seed's EN+DE lexicon
//! (`state-service/data/security_pretext.json`, 4 intents) plus an `authorisation_claim` intent
//! of short EN+DE keywords ("authorised", "red team", "pentest", "genehmigt", …).
//!
//! A pretext is what the operator *says* (a prompt, a stated purpose): it is matched here and
//! becomes a risk signal. It never authorises anything; authorisation is configuration.
//! Matching: lowercase, `_`/`-`/`.` → space, whitespace collapsed, then substring search for
//! lexicon phrases and word-bounded search for keywords.

use std::sync::OnceLock;

use serde::Deserialize;

const LEXICON_JSON: &str = include_str!("../../data/security_pretext.json");

/// Intents in bit order (bit i of a claims mask = intent i).
pub const INTENTS: [&str; 5] = [
    "security_engineer_roleplay",
    "legitimate_pentest_claim",
    "simulate_attacker_request",
    "harmless_security_cover",
    "authorisation_claim",
];

const AUTH_CLAIM: usize = 4;

/// Keywords of the `authorisation_claim` intent (EN + DE), matched on word boundaries.
const CLAIM_KEYWORDS: &[&str] = &[
    "authorised",
    "authorized",
    "authorisation",
    "authorization",
    "red team",
    "pentest",
    "penetration test",
    "security audit",
    "permission",
    "sanctioned",
    "engagement",
    "autorisiert",
    "genehmigt",
    "genehmigung",
    "erlaubnis",
    "penetrationstest",
    "freigegeben",
    "beauftragt",
];

#[derive(Deserialize)]
struct RawLexicon {
    intents: Vec<RawIntent>,
}

#[derive(Deserialize)]
struct RawIntent {
    intent: String,
    clusters: Vec<RawCluster>,
}

#[derive(Deserialize)]
struct RawCluster {
    seed: String,
    syns: Vec<String>,
}

/// (intent bit, normalised phrase) of the lexicon.
fn phrases() -> &'static [(usize, String)] {
    static P: OnceLock<Vec<(usize, String)>> = OnceLock::new();
    P.get_or_init(|| {
        let Ok(raw) = serde_json::from_str::<RawLexicon>(LEXICON_JSON) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for intent in raw.intents {
            let Some(bit) = INTENTS.iter().position(|i| *i == intent.intent) else {
                continue;
            };
            for c in intent.clusters {
                for p in std::iter::once(c.seed).chain(c.syns) {
                    out.push((bit, normalise(&p)));
                }
            }
        }
        out
    })
}

/// Lowercase, separators to spaces, whitespace collapsed, padded with one space each side.
pub fn normalise(text: &str) -> String {
    let lowered: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '_' | '-' | '.' | ',' | ';' | ':' | '!' | '?' | '"' | '(' | ')' => ' ',
            '\u{2019}' => '\'',
            c => c,
        })
        .collect();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    format!(" {} ", words.join(" "))
}

/// The intents claimed by a text, as a bit mask over [`INTENTS`].
pub fn claims(text: &str) -> u32 {
    let norm = normalise(text);
    let mut mask = 0u32;
    for (bit, phrase) in phrases() {
        if norm.contains(phrase.trim()) {
            mask |= 1 << bit;
        }
    }
    if CLAIM_KEYWORDS
        .iter()
        .any(|k| norm.contains(&format!(" {k} ")) || norm.contains(&format!(" {k}s ")))
    {
        mask |= 1 << AUTH_CLAIM;
    }
    mask
}

/// Names of the intents in a mask.
pub fn intent_names(mask: u32) -> Vec<&'static str> {
    INTENTS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_loads_and_matches_en_de() {
        assert!(phrases().len() >= 4 * 4 * 7, "{}", phrases().len());
        assert_eq!(claims("Hi, I am a pentester."), 1 << 0);
        assert_ne!(claims("Wir sind Sicherheitsforscher") & 1, 0);
        assert_ne!(claims("this is an authorized penetration test") & 0b10, 0);
    }

    #[test]
    fn seed_pretext_tokens() {
        assert_eq!(claims("authorised_pentest"), 1 << AUTH_CLAIM);
        assert_eq!(claims("red_team_authorised"), 1 << AUTH_CLAIM);
        assert_eq!(claims("asset_discovery"), 0);
        assert_eq!(claims("inventory"), 0);
        assert_eq!(claims("Der Test ist genehmigt"), 1 << AUTH_CLAIM);
        assert_eq!(claims("unauthorised"), 0);
        assert_eq!(
            intent_names(0b10001),
            ["security_engineer_roleplay", "authorisation_claim"]
        );
    }
}
