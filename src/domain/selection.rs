//! Choosing who comes to an open day in person (公开遴选): the groups a unit
//! wants represented and their shares, and the draw — stratified by group,
//! reproducible by anyone from its published seed and the applicants'
//! references.
//!
//! The draw: each group gets `places × share` places (largest remainders
//! first, so they add up to `places`); within a group, applicants are
//! ordered by SHA-256 of `seed:reference` (hex, ascending) and the first ones
//! are chosen. Places a group cannot fill go to the others in the same
//! overall order. Everyone left is a reserve, in that order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::identity::hex;
use super::values::Invalid;

/// A group wanted for representativeness, with its target share (percent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupTarget {
    /// 人大代表, 政协委员, 企业, 社区居民, 家长, 其他, …
    pub name: String,
    /// Percent of the places, 0–100; the shares add up to 100.
    pub share: u32,
}

super::names::names! {
    /// Whether the sign-up form asks for an optional field.
    #[derive(ToSchema, Default)]
    pub enum FieldRule {
        /// Not asked.
        Hidden = "hidden",
        /// Asked; may be left empty.
        #[default]
        Optional = "optional",
        /// Asked and must be filled in.
        Required = "required",
    }
}

/// The optional fields of an event's sign-up form, set per event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpFields {
    /// 街道/镇.
    #[serde(default)]
    pub street: FieldRule,
    /// A short reason for applying.
    #[serde(default)]
    pub reason: FieldRule,
}

impl FieldRule {
    /// What a sign-up keeps of `value` under this rule.
    pub fn apply(self, field: &'static str, value: Option<String>) -> Result<Option<String>, Invalid> {
        match (self, value) {
            (Self::Hidden, _) => Ok(None),
            (Self::Required, None) => Err(Invalid::new(field, "is required for this event")),
            (_, value) => Ok(value),
        }
    }
}

/// Check a unit's groups: 1–12 named groups whose shares add up to 100.
pub fn check_groups(groups: &[GroupTarget]) -> Result<(), Invalid> {
    if groups.is_empty() || groups.len() > 12 {
        return Err(Invalid::new("groups", "name 1 to 12 groups"));
    }
    let mut names = std::collections::HashSet::new();
    for g in groups {
        let name = g.name.trim();
        if name.is_empty() || name.chars().count() > 20 {
            return Err(Invalid::new("groups", "a group's name is 1–20 characters"));
        }
        if !names.insert(name) {
            return Err(Invalid::new("groups", format!("`{name}` is listed twice")));
        }
    }
    if groups.iter().map(|g| g.share).sum::<u32>() != 100 {
        return Err(Invalid::new("groups", "the shares add up to 100"));
    }
    Ok(())
}

/// Where an applicant stands after the draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    pub chosen: Vec<String>,
    /// In the order they move up.
    pub reserves: Vec<String>,
}

/// An applicant's place in the draw's order.
pub fn draw_key(seed: &str, reference: &str) -> String {
    hex(&Sha256::digest(format!("{seed}:{reference}").as_bytes()))
}

/// The draw over `applicants` (reference, group).
pub fn draw(seed: &str, places: usize, groups: &[GroupTarget], applicants: &[(String, String)]) -> Drawn {
    let quotas = quotas(places, groups);
    let mut by_group: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for (reference, group) in applicants {
        by_group.entry(group.as_str()).or_default().push(reference);
    }
    for list in by_group.values_mut() {
        list.sort_by_key(|r| draw_key(seed, r));
    }
    let mut chosen: Vec<String> = Vec::new();
    let mut rest: Vec<&String> = Vec::new();
    for (group, list) in &by_group {
        let quota = quotas.get(group).copied().unwrap_or(0);
        chosen.extend(list.iter().take(quota).map(|r| (*r).clone()));
        rest.extend(list.iter().skip(quota));
    }
    rest.sort_by_key(|r| draw_key(seed, r));
    let mut rest = rest.into_iter();
    while chosen.len() < places {
        match rest.next() {
            Some(r) => chosen.push(r.clone()),
            None => break,
        }
    }
    Drawn {
        chosen,
        reserves: rest.cloned().collect(),
    }
}

/// Places per group: `places × share / 100`, the largest remainders rounded up.
fn quotas(places: usize, groups: &[GroupTarget]) -> BTreeMap<&str, usize> {
    let exact: Vec<(usize, usize)> = groups
        .iter()
        .map(|g| (places * g.share as usize / 100, places * g.share as usize % 100))
        .collect();
    let mut quotas: Vec<usize> = exact.iter().map(|(q, _)| *q).collect();
    let mut left = places.saturating_sub(quotas.iter().sum());
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(exact[i].1));
    for i in order {
        if left == 0 {
            break;
        }
        quotas[i] += 1;
        left -= 1;
    }
    groups.iter().zip(quotas).map(|(g, q)| (g.name.as_str(), q)).collect()
}

/// A name as the public list shows it: `张*`, `欧***`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// A reference an applicant keeps (8 characters, no look-alikes).
pub fn new_reference() -> String {
    super::random::code(b"ABCDEFGHJKMNPQRSTUVWXYZ23456789", 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<GroupTarget> {
        vec![
            GroupTarget {
                name: "社区居民".into(),
                share: 50,
            },
            GroupTarget {
                name: "企业".into(),
                share: 30,
            },
            GroupTarget {
                name: "家长".into(),
                share: 20,
            },
        ]
    }

    #[test]
    fn the_draw_is_stratified_and_reproducible() {
        let applicants: Vec<(String, String)> = (0..30)
            .map(|i| (format!("REF{i:05}"), ["社区居民", "企业", "家长"][i % 3].to_owned()))
            .collect();
        let a = draw("seed-1", 10, &groups(), &applicants);
        assert_eq!(
            a,
            draw("seed-1", 10, &groups(), &applicants),
            "the same seed, the same list"
        );
        assert_ne!(a.chosen, draw("seed-2", 10, &groups(), &applicants).chosen);
        assert_eq!(a.chosen.len(), 10);
        assert_eq!(a.reserves.len(), 20);
        let in_group = |g: &str| {
            a.chosen
                .iter()
                .filter(|r| applicants.iter().any(|(x, y)| x == *r && y == g))
                .count()
        };
        assert_eq!((in_group("社区居民"), in_group("企业"), in_group("家长")), (5, 3, 2));
        // A group short of applicants leaves its places to the others.
        let few: Vec<(String, String)> = applicants.iter().filter(|(_, g)| g != "家长").cloned().collect();
        assert_eq!(draw("s", 10, &groups(), &few).chosen.len(), 10);
    }

    #[test]
    fn groups_and_names() {
        assert!(check_groups(&groups()).is_ok());
        assert!(check_groups(&groups()[..2]).is_err(), "80%");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(new_reference().len(), 8);
    }
}
