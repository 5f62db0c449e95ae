//! Reference codes of DOMAIN §3 and the sources of §5: each a closed enum that parses from its
//! code (and, where files write them, its Chinese name) and serialises as its code.

use crate::error::{FieldError, Reason};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a closed code list: variants with their code and Chinese name, parsing from either,
/// serialising as the code.
macro_rules! code_list {
    ($(#[$doc:meta])* $name:ident, $field:literal, { $($variant:ident = $code:literal, $zh:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $(#[doc = $zh] $variant,)+ }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The machine code.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// The Chinese name shown to people.
            pub fn name_zh(self) -> &'static str {
                match self { $($name::$variant => $zh,)+ }
            }

            /// Parses the code or the Chinese name (surrounding whitespace ignored).
            pub fn parse(text: &str) -> Result<Self, FieldError> {
                let t = text.trim();
                if t.is_empty() {
                    return Err(FieldError::required($field));
                }
                $(if t == $code || t == $zh { return Ok($name::$variant); })+
                Err(FieldError::new($field, Reason::UnknownCode, format!("无法识别的代码“{}”", t)))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
            }
        }
    };
}

code_list!(
    /// Gender, GB/T 2261.1. Files write 男/女.
    Gender, "gender", {
        Unknown = "0", "未知的性别";
        Male = "1", "男";
        Female = "2", "女";
        Unspecified = "9", "未说明的性别";
    }
);

impl Gender {
    /// The gender a citizen ID's sequence number encodes (odd = male, even = female).
    pub fn from_sequence_digit(d: u8) -> Gender {
        if d % 2 == 1 { Gender::Male } else { Gender::Female }
    }
}

code_list!(
    /// Insurance schemes (险种).
    Scheme, "scheme", {
        EnterprisePension = "110", "企业职工基本养老保险";
        PublicSectorPension = "120", "机关事业单位工作人员基本养老保险";
        ResidentPension = "170", "城乡居民基本养老保险";
        Unemployment = "210", "失业保险";
        EmployeeMedical = "310", "职工基本医疗保险";
        ResidentMedical = "390", "城乡居民基本医疗保险";
        WorkInjury = "410", "工伤保险";
        Maternity = "510", "生育保险";
    }
);

code_list!(
    /// Status of one enrollment in one scheme.
    EnrollmentStatus, "status", {
        Active = "active", "参保缴费";
        Suspended = "suspended", "暂停缴费";
        Terminated = "terminated", "终止参保";
    }
);

code_list!(
    /// Status of a person in the household registry.
    PersonStatus, "person_status", {
        Normal = "normal", "正常";
        Deceased = "deceased", "死亡";
        MovedOut = "moved_out", "迁出";
    }
);

code_list!(
    /// Employment status.
    EmploymentStatus, "employment_status", {
        Employed = "employed", "单位就业";
        Flexible = "flexible", "灵活就业";
        Unemployed = "unemployed", "失业";
        Student = "student", "在校学生";
        Retired = "retired", "离退休";
        Farmer = "farmer", "务农";
        Preschool = "preschool", "学龄前";
        Other = "other", "其他";
    }
);

code_list!(
    /// Why a person is not insured (未参保原因).
    UninsuredReason, "uninsured_reason", {
        Unwilling = "unwilling", "不愿参保";
        Hardship = "hardship", "经济困难";
        InsuredElsewhere = "insured_elsewhere", "异地参保";
        Abroad = "abroad", "出国（境）";
        InCustody = "in_custody", "服刑羁押";
        Unreachable = "unreachable", "无法联系";
        Other = "other", "其他";
    }
);

code_list!(
    /// Flags other departments set on a person.
    Flag, "flag", {
        MinimumLiving = "minimum_living", "低保";
        ExtremePoverty = "extreme_poverty", "特困";
        Student = "student", "在校学生";
        Deceased = "deceased", "死亡";
    }
);

code_list!(
    /// Where data comes from (DOMAIN §5).
    Source, "source", {
        PublicSecurity = "public_security", "公安局";
        Hrss = "hrss", "人社局";
        Health = "health", "卫计委";
        CivilAffairs = "civil_affairs", "民政局";
        Education = "education", "教体局";
        Commerce = "commerce", "工商局";
        Tax = "tax", "税务局";
        Quality = "quality", "质监局";
        Staffing = "staffing", "编办";
        HitechZone = "hitech_zone", "钒钛高新区";
        Survey = "survey", "网格员采集";
        SelfReport = "self", "本人登记";
    }
);

impl Source {
    /// Sources that deliver files through intake (everything but the two forms).
    pub fn is_department(self) -> bool {
        !matches!(self, Source::Survey | Source::SelfReport)
    }

    /// Sources whose files describe units (参保单位) rather than persons.
    pub fn delivers_units(self) -> bool {
        matches!(self, Source::Commerce | Source::Tax | Source::Quality)
    }

    /// The only sources that set enrollments.
    pub fn sets_enrollments(self) -> bool {
        matches!(self, Source::Hrss | Source::Health)
    }

    /// Sources whose word is enough to record a death.
    pub fn may_record_death(self) -> bool {
        matches!(self, Source::PublicSecurity | Source::CivilAffairs)
    }

    /// Rank for identity fields (name, gender, ethnicity, birth date, hukou); lower wins.
    /// public_security first, then survey, then other departments, then self.
    pub fn identity_rank(self) -> u8 {
        match self {
            Source::PublicSecurity => 0,
            Source::Survey => 1,
            Source::SelfReport => 3,
            _ => 2,
        }
    }
}

/// Ethnicities, GB/T 3304: the 56 named groups, then 97 其他 and 98 外国血统中国籍人士.
const ETHNICITIES: [(&str, &str); 58] = [
    ("01", "汉族"), ("02", "蒙古族"), ("03", "回族"), ("04", "藏族"), ("05", "维吾尔族"),
    ("06", "苗族"), ("07", "彝族"), ("08", "壮族"), ("09", "布依族"), ("10", "朝鲜族"),
    ("11", "满族"), ("12", "侗族"), ("13", "瑶族"), ("14", "白族"), ("15", "土家族"),
    ("16", "哈尼族"), ("17", "哈萨克族"), ("18", "傣族"), ("19", "黎族"), ("20", "傈僳族"),
    ("21", "佤族"), ("22", "畲族"), ("23", "高山族"), ("24", "拉祜族"), ("25", "水族"),
    ("26", "东乡族"), ("27", "纳西族"), ("28", "景颇族"), ("29", "柯尔克孜族"), ("30", "土族"),
    ("31", "达斡尔族"), ("32", "仫佬族"), ("33", "羌族"), ("34", "布朗族"), ("35", "撒拉族"),
    ("36", "毛南族"), ("37", "仡佬族"), ("38", "锡伯族"), ("39", "阿昌族"), ("40", "普米族"),
    ("41", "塔吉克族"), ("42", "怒族"), ("43", "乌孜别克族"), ("44", "俄罗斯族"), ("45", "鄂温克族"),
    ("46", "德昂族"), ("47", "保安族"), ("48", "裕固族"), ("49", "京族"), ("50", "塔塔尔族"),
    ("51", "独龙族"), ("52", "鄂伦春族"), ("53", "赫哲族"), ("54", "门巴族"), ("55", "珞巴族"),
    ("56", "基诺族"), ("97", "其他"), ("98", "外国血统中国籍人士"),
];

/// An ethnicity (民族) by its two-digit GB/T 3304 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ethnicity(u8);

impl Ethnicity {
    /// 汉族.
    pub const HAN: Ethnicity = Ethnicity(0);

    /// Every ethnicity in code order.
    pub fn all() -> impl Iterator<Item = Ethnicity> {
        (0..ETHNICITIES.len() as u8).map(Ethnicity)
    }

    /// The two-digit code.
    pub fn code(self) -> &'static str {
        ETHNICITIES[self.0 as usize].0
    }

    /// The Chinese name, e.g. 彝族.
    pub fn name_zh(self) -> &'static str {
        ETHNICITIES[self.0 as usize].1
    }

    /// Parses a code (`7` or `07`) or a name with or without 族 (`彝族`, `彝`).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(FieldError::required("ethnicity"));
        }
        let found = if t.bytes().all(|b| b.is_ascii_digit()) && t.len() <= 2 {
            let code = format!("{:0>2}", t);
            ETHNICITIES.iter().position(|(c, _)| *c == code)
        } else {
            ETHNICITIES.iter().position(|(_, n)| *n == t || n.strip_suffix('族') == Some(t))
        };
        found
            .map(|i| Ethnicity(i as u8))
            .ok_or_else(|| FieldError::new("ethnicity", Reason::UnknownCode, format!("无法识别的民族“{}”", t)))
    }
}

impl std::fmt::Display for Ethnicity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Ethnicity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Ethnicity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ethnicity::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethnicity_by_code_or_name() {
        assert_eq!(Ethnicity::parse("7").unwrap().name_zh(), "彝族");
        assert_eq!(Ethnicity::parse("彝").unwrap().code(), "07");
        assert_eq!(Ethnicity::parse("外国血统中国籍人士").unwrap().code(), "98");
        assert_eq!(Ethnicity::all().count(), 58);
        assert_eq!(Ethnicity::parse("火星族").unwrap_err().code, Reason::UnknownCode);
        assert_eq!(Ethnicity::parse(" ").unwrap_err().code, Reason::Required);
    }

    #[test]
    fn codes_parse_from_code_or_chinese_and_round_trip() {
        assert_eq!(Gender::parse("女").unwrap(), Gender::Female);
        assert_eq!(Scheme::parse("390").unwrap(), Scheme::ResidentMedical);
        assert_eq!(serde_json::to_string(&Source::SelfReport).unwrap(), "\"self\"");
        for s in Source::ALL {
            assert_eq!(Source::parse(s.code()).unwrap(), *s);
        }
        assert_eq!(Scheme::parse("999").unwrap_err().code, Reason::UnknownCode);
    }

    #[test]
    fn identity_precedence_follows_domain_order() {
        let ranks: Vec<u8> =
            [Source::PublicSecurity, Source::Survey, Source::CivilAffairs, Source::SelfReport]
                .iter()
                .map(|s| s.identity_rank())
                .collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]));
    }
}
