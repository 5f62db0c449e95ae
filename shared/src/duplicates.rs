//! One person, several numbers (一人多号, DOMAIN §6): candidate pairs of different citizen IDs
//! that probably belong to one resident, flagged for review and never merged automatically.
//!
//! Two rules:
//! - `same_details`: the same normalised name, birth date and gender in the same county;
//! - `similar_id`: the same normalised name and IDs whose 17-digit bodies differ in exactly one
//!   digit or by one adjacent transposition. (The GB 11643 check character catches every such
//!   slip, so two *valid* IDs never differ in one character only: the body is what the clerk
//!   mistyped, and the check character was computed afresh.)
//!
//! Blocking keeps this fast at city scale (1.2 million people): everything is grouped by a hash
//! of the normalised name; small name groups are compared pairwise, large ones through
//! deletion keys (the body with one position deleted — one substitution or one adjacent
//! transposition always leaves a shared deletion key).

use crate::codes::Gender;
use crate::ids::CitizenId;
use crate::person::normalise_text;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Name groups up to this size are compared pairwise; larger ones through deletion keys.
const PAIRWISE_LIMIT: usize = 48;

/// What the duplicate search needs to know about one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonKey {
    /// The citizen ID.
    pub id: CitizenId,
    /// The normalised name (see [`crate::person::normalise_text`]).
    pub name_key: String,
    /// 出生日期, if known.
    pub birth_date: Option<NaiveDate>,
    /// 性别, if known.
    pub gender: Option<Gender>,
    /// The 6-digit county the person is attributed to.
    pub county: String,
}

impl PersonKey {
    /// A key from raw values (the name is normalised here).
    pub fn new(id: CitizenId, name: &str, birth_date: Option<NaiveDate>, gender: Option<Gender>, county: &str) -> Self {
        PersonKey {
            id,
            name_key: normalise_text(name),
            birth_date,
            gender,
            county: county.chars().take(6).collect(),
        }
    }

    fn same_details(&self, other: &PersonKey) -> bool {
        self.birth_date.is_some()
            && self.gender.is_some()
            && self.county.len() == 6
            && self.name_key == other.name_key
            && self.birth_date == other.birth_date
            && self.gender == other.gender
            && self.county == other.county
    }

    /// Sort key that places same-details groups next to each other inside a name group.
    fn block(&self) -> (u64, i32, u8, u32) {
        (
            name_hash(&self.name_key),
            self.birth_date.map_or(i32::MIN, |d| d.num_days_from_ce()),
            self.gender.map_or(u8::MAX, |g| g.code().as_bytes()[0]),
            self.county.parse().unwrap_or(u32::MAX),
        )
    }
}

/// Which rule flagged a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateRule {
    /// Same normalised name, birth date and gender in the same county.
    SameDetails,
    /// Same name; ID bodies one digit or one adjacent transposition apart.
    SimilarId,
}

impl DuplicateRule {
    /// The code stored in `duplicate_candidates.rule`.
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateRule::SameDetails => "same_details",
            DuplicateRule::SimilarId => "similar_id",
        }
    }
}

/// A candidate pair, `a < b`, with the rule that flagged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CandidatePair {
    /// The smaller ID.
    pub a: CitizenId,
    /// The larger ID.
    pub b: CitizenId,
    /// Why.
    pub rule: DuplicateRule,
}

impl CandidatePair {
    fn new(x: CitizenId, y: CitizenId, rule: DuplicateRule) -> Self {
        let (a, b) = if x < y { (x, y) } else { (y, x) };
        CandidatePair { a, b, rule }
    }
}

/// Whether two IDs' 17-digit bodies differ in exactly one digit or by one adjacent transposition.
pub fn ids_similar(a: &CitizenId, b: &CitizenId) -> bool {
    let (x, y) = (&a.as_str().as_bytes()[..17], &b.as_str().as_bytes()[..17]);
    let mut diffs = [0usize; 3];
    let mut n = 0;
    for i in 0..17 {
        if x[i] != y[i] {
            if n == 2 {
                return false;
            }
            diffs[n] = i;
            n += 1;
        }
    }
    match n {
        1 => true,
        2 => diffs[1] == diffs[0] + 1 && x[diffs[0]] == y[diffs[1]] && x[diffs[1]] == y[diffs[0]],
        _ => false,
    }
}

/// The candidate pairs two persons make, by both rules: none for the same ID, different names
/// or no name.
pub fn pair_rules(a: &PersonKey, b: &PersonKey) -> impl Iterator<Item = CandidatePair> {
    let mut pairs = [None, None];
    if a.id != b.id && !a.name_key.is_empty() && a.name_key == b.name_key {
        if a.same_details(b) {
            pairs[0] = Some(CandidatePair::new(a.id, b.id, DuplicateRule::SameDetails));
        }
        if ids_similar(&a.id, &b.id) {
            pairs[1] = Some(CandidatePair::new(a.id, b.id, DuplicateRule::SimilarId));
        }
    }
    pairs.into_iter().flatten()
}

/// FNV-1a: a fast, stable 64-bit hash for blocking keys (equality is always re-checked).
fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn name_hash(name_key: &str) -> u64 {
    fnv(name_key.bytes())
}

/// The body of `id` with position `skip` deleted, hashed.
fn deletion_key(id: &CitizenId, skip: usize) -> u64 {
    let body = &id.as_str().as_bytes()[..17];
    fnv(body.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, b)| *b))
}

/// Every candidate pair among `persons` (sorted, each pair and rule once). Persons without a
/// name are skipped; rule `same_details` also needs birth date, gender and county.
pub fn find_candidates(persons: &[PersonKey]) -> Vec<CandidatePair> {
    let mut order: Vec<(u64, i32, u8, u32, u32)> = persons
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.name_key.is_empty())
        .map(|(i, p)| {
            let (n, b, g, c) = p.block();
            (n, b, g, c, i as u32)
        })
        .collect();
    order.sort_unstable();

    let mut pairs = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && order[end].0 == order[start].0 {
            end += 1;
        }
        let group: Vec<&PersonKey> = order[start..end].iter().map(|t| &persons[t.4 as usize]).collect();
        same_details_pairs(&group, &mut pairs);
        similar_id_pairs(&group, &mut pairs);
        start = end;
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Rule `same_details` within one name group, already sorted by (birth, gender, county).
fn same_details_pairs(group: &[&PersonKey], pairs: &mut Vec<CandidatePair>) {
    let mut s = 0;
    while s < group.len() {
        let mut e = s + 1;
        while e < group.len() && group[e].same_details(group[s]) {
            e += 1;
        }
        for i in s..e {
            for j in i + 1..e {
                if group[i].id != group[j].id {
                    pairs.push(CandidatePair::new(group[i].id, group[j].id, DuplicateRule::SameDetails));
                }
            }
        }
        s = e;
    }
}

/// Rule `similar_id` within one name group.
fn similar_id_pairs(group: &[&PersonKey], pairs: &mut Vec<CandidatePair>) {
    let mut check = |x: &PersonKey, y: &PersonKey| {
        if x.name_key == y.name_key && x.id != y.id && ids_similar(&x.id, &y.id) {
            pairs.push(CandidatePair::new(x.id, y.id, DuplicateRule::SimilarId));
        }
    };
    if group.len() <= PAIRWISE_LIMIT {
        for i in 0..group.len() {
            for j in i + 1..group.len() {
                check(group[i], group[j]);
            }
        }
        return;
    }
    let mut keys: Vec<(u64, u32)> = Vec::with_capacity(group.len() * 17);
    for (i, p) in group.iter().enumerate() {
        for skip in 0..17 {
            keys.push((deletion_key(&p.id, skip), i as u32));
        }
    }
    keys.sort_unstable();
    let mut s = 0;
    while s < keys.len() {
        let mut e = s + 1;
        while e < keys.len() && keys[e].0 == keys[s].0 {
            e += 1;
        }
        for i in s..e {
            for j in i + 1..e {
                if keys[i].1 != keys[j].1 {
                    check(group[keys[i].1 as usize], group[keys[j].1 as usize]);
                }
            }
        }
        s = e;
    }
}

/// An index of everyone for incremental search: the candidates of the persons a batch or a
/// registration touched, without rescanning the city.
#[derive(Debug, Default)]
pub struct DuplicateIndex {
    keys: Vec<PersonKey>,
    by_id: HashMap<CitizenId, u32>,
    by_name: HashMap<u64, Vec<u32>>,
}

impl DuplicateIndex {
    /// An index of `persons`.
    pub fn build(persons: impl IntoIterator<Item = PersonKey>) -> Self {
        let mut index = DuplicateIndex::default();
        for p in persons {
            index.insert(p);
        }
        index
    }

    /// Adds a person, or replaces what the index knows about their ID.
    pub fn insert(&mut self, person: PersonKey) {
        if let Some(&i) = self.by_id.get(&person.id) {
            let old = name_hash(&self.keys[i as usize].name_key);
            if let Some(v) = self.by_name.get_mut(&old) {
                v.retain(|&x| x != i);
            }
            self.by_name.entry(name_hash(&person.name_key)).or_default().push(i);
            self.keys[i as usize] = person;
            return;
        }
        let i = self.keys.len() as u32;
        self.by_id.insert(person.id, i);
        self.by_name.entry(name_hash(&person.name_key)).or_default().push(i);
        self.keys.push(person);
    }

    /// How many persons the index holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The candidate pairs that involve any of `touched` (which need not be in the index yet).
    pub fn candidates_for(&self, touched: &[PersonKey]) -> Vec<CandidatePair> {
        let mut pairs = Vec::new();
        for t in touched.iter().filter(|t| !t.name_key.is_empty()) {
            let Some(group) = self.by_name.get(&name_hash(&t.name_key)) else { continue };
            for &i in group {
                pairs.extend(pair_rules(t, &self.keys[i as usize]));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn key(county: &str, birth: NaiveDate, seq: u16, name: &str) -> PersonKey {
        let id = CitizenId::from_parts(county, birth, seq);
        PersonKey::new(id, name, Some(birth), Some(id.gender()), county)
    }

    #[test]
    fn similar_ids_are_one_body_digit_or_one_transposition_apart() {
        let a = CitizenId::from_parts("510402", date(1980, 1, 2), 123);
        let sub = CitizenId::from_parts("510402", date(1980, 1, 2), 125);
        let swap = CitizenId::from_parts("510402", date(1980, 1, 2), 213);
        let far = CitizenId::from_parts("510402", date(1980, 1, 2), 321);
        let date_slip = CitizenId::from_parts("510402", date(1980, 1, 3), 123);
        assert!(ids_similar(&a, &sub));
        assert!(ids_similar(&a, &swap));
        assert!(ids_similar(&a, &date_slip));
        assert!(!ids_similar(&a, &far));
        assert!(!ids_similar(&a, &a));
    }

    #[test]
    fn both_rules_find_their_pairs_and_nothing_else() {
        let b = date(1980, 1, 2);
        let persons = vec![
            key("510402", b, 123, "张三"),
            key("510402", b, 125, "张 三"),    // one digit apart, same name after normalisation
            key("510402", b, 321, "张三"),     // same details, far ID
            key("510403", b, 141, "张三"),     // other county, far ID: nothing
            key("510402", b, 124, "李四"),     // similar ID, other name: nothing
        ];
        let pairs = find_candidates(&persons);
        let got: Vec<(u16, u16, DuplicateRule)> =
            pairs.iter().map(|p| (p.a.sequence(), p.b.sequence(), p.rule)).collect();
        assert!(got.contains(&(123, 125, DuplicateRule::SimilarId)), "{got:?}");
        assert!(got.contains(&(123, 321, DuplicateRule::SameDetails)), "{got:?}");
        assert!(got.contains(&(125, 321, DuplicateRule::SameDetails)), "{got:?}");
        assert!(!got.iter().any(|g| g.0 == 141 || g.1 == 141 || g.0 == 124 || g.1 == 124), "{got:?}");
    }

    #[test]
    fn large_name_groups_use_deletion_keys_with_the_same_result() {
        // 300 people called 王芳 with spread-out IDs plus planted near-misses.
        let mut persons = Vec::new();
        for i in 0..300u16 {
            let birth = date(1950 + (i % 50) as i32, 1 + (i % 12) as u32, 1 + (i % 27) as u32);
            persons.push(key("510411", birth, (i * 3) % 1000, "王芳"));
        }
        let planted_a = key("510421", date(1990, 6, 15), 402, "王芳");
        let planted_b = key("510421", date(1990, 6, 15), 42, "王芳"); // 402 vs 042: not one slip
        let planted_c = key("510421", date(1990, 6, 11), 402, "王芳"); // 15 → 11: one digit
        persons.extend([planted_a.clone(), planted_b.clone(), planted_c.clone()]);
        let fast = find_candidates(&persons);
        let mut slow = Vec::new();
        for i in 0..persons.len() {
            for j in i + 1..persons.len() {
                if ids_similar(&persons[i].id, &persons[j].id) {
                    slow.push(CandidatePair::new(persons[i].id, persons[j].id, DuplicateRule::SimilarId));
                }
            }
        }
        slow.sort();
        let fast_similar: Vec<_> = fast.iter().copied().filter(|p| p.rule == DuplicateRule::SimilarId).collect();
        assert_eq!(fast_similar, slow);
        assert!(fast_similar.contains(&CandidatePair::new(planted_a.id, planted_c.id, DuplicateRule::SimilarId)));
    }

    #[test]
    fn the_index_finds_candidates_for_touched_persons() {
        let b = date(1975, 9, 9);
        let base = vec![key("510402", b, 100, "刘洋"), key("510402", b, 555, "刘洋"), key("510403", b, 100, "陈静")];
        let mut index = DuplicateIndex::build(base.clone());
        let newcomer = key("510402", b, 101, "刘洋");
        let pairs = index.candidates_for(std::slice::from_ref(&newcomer));
        // One digit from 100 (whose even sequence makes her female); same details as 555 (male).
        assert_eq!(pairs.len(), 2, "{pairs:?}");
        index.insert(newcomer.clone());
        assert_eq!(index.len(), 4);
        // Renaming replaces the old entry.
        let renamed = PersonKey { name_key: normalise_text("刘阳"), ..newcomer };
        index.insert(renamed.clone());
        assert!(index.candidates_for(&[renamed]).is_empty());
        assert!(find_candidates(&base).is_empty());
    }
}
