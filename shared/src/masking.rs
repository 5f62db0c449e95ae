//! The masking rules of DOMAIN §8, in one place: every public output (lookup, receipts, exports
//! for people outside the bureau, logs) shows personal data only through these functions, so the
//! question "what may a stranger see of a name, ID, phone or address" has a single answer.

use crate::ids::{CitizenId, Phone};

/// The mask character.
const MASK: char = '*';

/// Compound surnames (复姓) that count as the surname: `欧阳锋` → `欧阳*`.
pub const COMPOUND_SURNAMES: [&str; 22] = [
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "轩辕", "令狐", "钟离", "独孤", "南宫", "西门", "端木", "申屠", "太史",
];

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{3134F}')
}

/// Keeps the first `keep_start` and last `keep_end` characters and masks the others, one `*`
/// per character.
fn keep_ends(text: &str, keep_start: usize, keep_end: usize) -> String {
    let n = text.chars().count();
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < keep_start || i + keep_end >= n { c } else { MASK })
        .collect()
}

/// A name with its surname kept and one `*` per given-name character: `张三` → `张*`,
/// `欧阳娜娜` → `欧阳**`. A one-character name shows only `*` (it would otherwise be shown
/// whole); a two-character name starting like a compound surname (`欧阳`) is surname 欧 and
/// given name 阳. Names not written wholly in Han characters (transliterations with `·`, Latin
/// letters) keep only their first character.
pub fn mask_name(name: &str) -> String {
    let n = name.chars().count();
    let surname = if n <= 1 {
        0
    } else if !name.chars().all(is_han) {
        1
    } else if n >= 3 && COMPOUND_SURNAMES.iter().any(|s| name.starts_with(s)) {
        2
    } else {
        1
    };
    keep_ends(name, surname, 0)
}

/// A citizen ID with its first 6 and last 4 characters kept: `510402********123X`. Text that
/// is not 18 characters (a mistyped or legacy number) is masked entirely, since its layout is
/// unknown.
pub fn mask_id(id: &str) -> String {
    if id.chars().count() == 18 {
        keep_ends(id, 6, 4)
    } else {
        keep_ends(id, 0, 0)
    }
}

/// A phone number masked: a mobile keeps its first 3 and last 4 digits (`138****5678`); a
/// landline its area code and last 2 digits (`0812-*****44`, also without the hyphen). Text
/// that is neither is masked entirely.
pub fn mask_phone(phone: &str) -> String {
    let n = phone.chars().count();
    let digits_only = phone.bytes().all(|b| b.is_ascii_digit());
    if n == 11 && digits_only && phone.starts_with('1') {
        return keep_ends(phone, 3, 4);
    }
    let area_len = |p: &str| if matches!(p.as_bytes().get(1), Some(b'1' | b'2')) { 3 } else { 4 };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if phone.starts_with('0') {
        if let Some((area, local)) = phone.split_once('-') {
            if (3..=4).contains(&area.len()) && (7..=8).contains(&local.len()) && all_digits(area) && all_digits(local) {
                return format!("{area}-{}", keep_ends(local, 0, 2));
            }
        } else if (10..=12).contains(&n) && digits_only {
            return keep_ends(phone, area_len(phone), 2);
        }
    }
    keep_ends(phone, 0, 0)
}

/// The administrative levels an address is written in, broadest first; what a masked address
/// may show is the run of these at its start (省 市 区/县 街道/镇/乡), i.e. down to the
/// township/street.
const ADDRESS_LEVELS: [&[&str]; 4] =
    [&["省", "自治区"], &["市", "州", "盟"], &["区", "县", "市", "旗"], &["街道", "镇", "乡"]];

/// How far ahead (in characters) the next level's marker may be: place names are short, and
/// a marker further on belongs to a street or building name, not to a level.
const LEVEL_WINDOW: usize = 8;

/// An address kept down to its township/street and followed by `****`:
/// `四川省攀枝花市东区炳草岗街道新华街12号` → `四川省攀枝花市东区炳草岗街道****`. The levels are found
/// by their markers (省, 市, 区/县, 街道/镇/乡), each within a few characters of the previous
/// one; an address without them keeps its first 6 characters, and never more than half. The
/// mask is always four `*`, so it does not reveal how long the rest is.
pub fn mask_address(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    let mut kept = 0;
    for markers in ADDRESS_LEVELS {
        let window_end = (kept + LEVEL_WINDOW).min(chars.len());
        let found = (kept..window_end).find_map(|i| {
            markers.iter().find_map(|m| {
                let m: Vec<char> = m.chars().collect();
                chars[i..].starts_with(&m).then_some(i + m.len())
            })
        });
        if let Some(end) = found {
            kept = end;
        }
    }
    if kept == 0 {
        kept = 6.min(chars.len() / 2);
    }
    let mut out: String = chars[..kept].iter().collect();
    out.push_str("****");
    out
}

impl CitizenId {
    /// The ID as public outputs show it (DOMAIN §8).
    pub fn masked(&self) -> String {
        mask_id(self.as_str())
    }
}

impl Phone {
    /// The number as public outputs show it (DOMAIN §8).
    pub fn masked(&self) -> String {
        mask_phone(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Characters shown as they are (not replaced by the mask).
    fn revealed(masked: &str) -> usize {
        masked.chars().filter(|&c| c != MASK).count()
    }

    #[test]
    fn names_keep_the_surname() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("欧阳娜娜"), "欧阳**");
        assert_eq!(mask_name("诸葛亮"), "诸葛*");
        assert_eq!(mask_name("欧阳"), "欧*");
        assert_eq!(mask_name("张"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("买买提·艾力"), "买*****");
        assert_eq!(mask_name("John Smith"), "J*********");
    }

    #[test]
    fn ids_keep_6_and_4() {
        assert_eq!(mask_id("51040219800101123X"), "510402********123X");
        assert_eq!(mask_id("510402800101123"), "***************");
        let id = CitizenId::parse("11010519491231002X").unwrap().value;
        assert_eq!(id.masked(), "110105********002X");
    }

    #[test]
    fn phones_keep_3_and_4_or_area_and_2() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("0812-3334444"), "0812-*****44");
        assert_eq!(mask_phone("08123334444"), "0812*****44");
        assert_eq!(mask_phone("010-62345678"), "010-******78");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(Phone::parse("+86 138 1234 5678").unwrap().value.masked(), "138****5678");
    }

    #[test]
    fn addresses_keep_down_to_the_township() {
        assert_eq!(mask_address("四川省攀枝花市东区炳草岗街道新华街12号"), "四川省攀枝花市东区炳草岗街道****");
        assert_eq!(mask_address("攀枝花市米易县攀莲镇新街村3组"), "攀枝花市米易县攀莲镇****");
        assert_eq!(mask_address("盐边县红格镇昔格达村"), "盐边县红格镇****");
        assert_eq!(mask_address("东区新华街12号"), "东区****");
        assert_eq!(mask_address("炳草岗新华街三十二号院"), "炳草岗新华****");
        assert_eq!(mask_address("新华街2号"), "新华****");
        assert_eq!(mask_address(""), "****");
    }

    fn han_name() -> impl Strategy<Value = String> {
        let surname = prop_oneof![
            "[\u{4E00}-\u{9FA5}]",
            proptest::sample::select(COMPOUND_SURNAMES.to_vec()).prop_map(str::to_owned),
        ];
        (surname, "[\u{4E00}-\u{9FA5}]{0,4}").prop_map(|(s, g)| s + &g)
    }

    proptest! {
        #[test]
        fn a_masked_name_reveals_at_most_its_surname(name in prop_oneof![han_name(), ".{0,12}"]) {
            let masked = mask_name(&name);
            prop_assert_eq!(masked.chars().count(), name.chars().count());
            let compound = COMPOUND_SURNAMES.iter().any(|s| name.starts_with(s));
            let allowed = match name.chars().count() { 0 | 1 => 0, 2 => 1, _ if compound => 2, _ => 1 };
            prop_assert!(revealed(&masked) <= allowed, "{} → {}", name, masked);
            let shown: String = masked.chars().take_while(|&c| c != MASK).collect();
            prop_assert!(name.starts_with(&shown));
        }

        #[test]
        fn a_masked_id_reveals_at_most_10(id in "[0-9X]{18}|.{0,20}") {
            let masked = mask_id(&id);
            prop_assert_eq!(masked.chars().count(), id.chars().count());
            prop_assert!(revealed(&masked) <= 10);
            if id.chars().count() == 18 {
                prop_assert!(masked.chars().skip(6).take(8).all(|c| c == MASK));
            }
        }

        #[test]
        fn a_masked_phone_reveals_at_most_7_digits(
            phone in "1[3-9][0-9]{9}|0[1-9][0-9]{1,2}-?[2-8][0-9]{6,7}|.{0,14}"
        ) {
            let masked = mask_phone(&phone);
            prop_assert_eq!(masked.chars().count(), phone.chars().count());
            let digits = masked.chars().filter(char::is_ascii_digit).count();
            prop_assert!(digits <= 7, "{} → {}", phone, masked);
            if phone.len() == 11 && phone.starts_with('1') {
                prop_assert_eq!(revealed(&masked), 7);
            }
        }

        #[test]
        fn a_masked_address_is_a_prefix_and_hides_the_rest(address in "[\u{4E00}-\u{9FA5}0-9]{2,30}") {
            let masked = mask_address(&address);
            let shown = masked.strip_suffix("****").unwrap();
            prop_assert!(address.starts_with(shown));
            let markers = ['省', '区', '市', '州', '盟', '县', '旗', '镇', '乡', '道'];
            if !address.contains(markers) {
                prop_assert!(shown.chars().count() <= address.chars().count() / 2);
            }
        }
    }
}
