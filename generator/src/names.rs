//! Word lists: Chinese surnames by frequency (a few compound ones), given-name characters, and the
//! parts that make unit, school and street names. Synthetic, but shaped like the real thing.

use crate::rng::Rng;

/// Surnames with a weight roughly proportional to their share of the population (‱).
pub const SURNAMES: &[(&str, u32)] = &[
    ("王", 710), ("李", 700), ("张", 680), ("刘", 540), ("陈", 460), ("杨", 330), ("黄", 230),
    ("赵", 220), ("吴", 200), ("周", 190), ("徐", 170), ("孙", 150), ("马", 150), ("朱", 140),
    ("胡", 130), ("郭", 130), ("何", 120), ("林", 110), ("罗", 110), ("高", 110), ("郑", 100),
    ("梁", 90), ("谢", 80), ("宋", 80), ("唐", 80), ("许", 70), ("韩", 70), ("邓", 70),
    ("冯", 70), ("曹", 70), ("彭", 60), ("曾", 60), ("肖", 60), ("田", 60), ("董", 50),
    ("潘", 50), ("袁", 50), ("蔡", 50), ("蒋", 50), ("余", 50), ("于", 50), ("杜", 50),
    ("叶", 50), ("程", 50), ("魏", 40), ("苏", 40), ("吕", 40), ("丁", 40), ("任", 40),
    ("卢", 40), ("姚", 40), ("沈", 40), ("钟", 40), ("姜", 40), ("崔", 40), ("谭", 40),
    ("陆", 30), ("范", 30), ("汪", 30), ("廖", 30), ("石", 30), ("金", 30), ("韦", 30),
    ("贾", 30), ("夏", 30), ("付", 30), ("方", 30), ("邹", 30), ("熊", 30), ("白", 30),
    ("孟", 30), ("秦", 30), ("邱", 30), ("侯", 30), ("江", 30), ("尹", 30), ("薛", 30),
    ("闫", 30), ("段", 30), ("雷", 30), ("龙", 20), ("黎", 20), ("史", 20), ("陶", 20),
    ("贺", 20), ("毛", 20), ("郝", 20), ("顾", 20), ("龚", 20), ("邵", 20), ("万", 20),
    ("覃", 20), ("武", 20), ("钱", 20), ("戴", 20), ("严", 20), ("莫", 20), ("孔", 20),
    ("向", 20), ("常", 20), ("吉", 15), ("沙", 10), ("阿", 8),
    ("欧阳", 6), ("司马", 3), ("诸葛", 2), ("上官", 2), ("司徒", 2), ("东方", 1),
];

/// Given-name characters used mostly for men.
const GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞",
    "斌", "波", "宇", "浩", "凯", "健", "俊", "帆", "建", "国", "志", "文", "林", "峰", "成",
    "东", "海", "亮", "龙", "晨", "博", "阳", "天", "宏", "永", "德", "胜", "力", "兵", "鑫",
    "子", "轩", "泽", "睿", "航", "远", "钢", "福", "贵", "富", "荣", "祥", "光", "金", "云",
];

/// Given-name characters used mostly for women.
const GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "燕", "英", "红", "梅", "琴",
    "兰", "萍", "雪", "婷", "慧", "莉", "倩", "颖", "琳", "晶", "欣", "怡", "佳", "雨", "涵",
    "萱", "悦", "瑶", "思", "梦", "诗", "月", "春", "桂", "凤", "珍", "淑", "菊", "蓉", "洁",
];

/// Characters common in names of both genders.
const GIVEN_COMMON: &[&str] = &["小", "晓", "家", "嘉", "一", "新", "海", "玉", "金", "明", "文", "俊", "雨", "子", "安"];

/// A full name for a person of the given gender (`male`), sharing `surname` if given.
pub fn full_name(rng: &mut Rng, surname: Option<&str>, male: bool) -> String {
    let surname = surname.map(str::to_string).unwrap_or_else(|| pick_surname(rng).to_string());
    let own = if male { GIVEN_MALE } else { GIVEN_FEMALE };
    let mut name = surname;
    if rng.chance(0.28) {
        name.push_str(rng.pick::<&str>(own));
    } else {
        let first = if rng.chance(0.3) { rng.pick(GIVEN_COMMON) } else { rng.pick(own) };
        name.push_str(first);
        name.push_str(rng.pick::<&str>(own));
    }
    name
}

/// A surname drawn by frequency.
pub fn pick_surname(rng: &mut Rng) -> &'static str {
    rng.pick_weighted::<&str>(SURNAMES)
}

/// A different, plausible name for the same person: same surname, one given-name character
/// changed (used for cross-source conflicts).
pub fn variant_name(rng: &mut Rng, name: &str, male: bool) -> String {
    let own = if male { GIVEN_MALE } else { GIVEN_FEMALE };
    let chars: Vec<char> = name.chars().collect();
    loop {
        let mut c = chars.clone();
        let last = c.len() - 1;
        c[last] = rng.pick(own).chars().next().unwrap_or('华');
        let s: String = c.into_iter().collect();
        if s != name {
            return s;
        }
    }
}

/// First parts of enterprise names (字号).
pub const FIRM_WORDS: &[&str] = &[
    "钒钛", "金沙", "攀钢", "阳光", "西南", "宏达", "川润", "恒通", "华宇", "兴盛", "鑫源", "安宁",
    "康盛", "天诚", "瑞丰", "东方", "长江", "顺达", "汇通", "德胜", "新城", "绿源", "明德", "聚祥",
];

/// Industries of enterprise names.
pub const FIRM_TRADES: &[&str] = &[
    "矿业", "冶金", "建材", "商贸", "物流", "建筑工程", "农业开发", "餐饮管理", "物业管理",
    "机械制造", "化工", "电力", "旅游", "信息技术", "医药", "汽车服务", "钛业", "钒业",
];

/// Public institutions and government bodies (机关事业单位).
pub const PUBLIC_BODIES: &[&str] = &[
    "人民医院", "中医医院", "妇幼保健院", "疾病预防控制中心", "第一中学", "第二中学", "实验小学",
    "人力资源和社会保障局", "财政局", "教育和体育局", "卫生健康局", "民政局", "住房和城乡建设局",
    "自然资源和规划局", "农业农村局", "文化广播电视和旅游局", "公安局", "市场监督管理局",
    "社会保险事业管理局", "图书馆", "综合行政执法局", "水务局", "街道办事处", "档案馆",
];

/// Street names for synthetic addresses.
pub const STREETS: &[&str] = &[
    "炳草岗大街", "人民街", "攀枝花大道", "机场路", "新华街", "湖光路", "临江路", "竹湖路",
    "长寿路", "苏铁路", "宝兴路", "清香坪路", "东风路", "金江路", "枣子坪路", "五十一街坊",
    "大渡口街", "健康路", "花城大道", "阳光大道", "滨江大道", "弄弄坪路", "桃源街", "仁和大道",
];

/// School names (with the county name prepended when used).
pub const SCHOOLS: &[&str] = &[
    "第一小学", "第二小学", "实验小学", "第三小学", "第一初级中学", "第二初级中学",
    "第一高级中学", "民族中学", "职业技术学校", "第十五中学", "外国语学校",
];

/// School grades for a student of a given age.
pub fn grade_for_age(age: i32) -> &'static str {
    match age {
        ..=6 => "一年级",
        7 => "二年级",
        8 => "三年级",
        9 => "四年级",
        10 => "五年级",
        11 => "六年级",
        12 => "初一",
        13 => "初二",
        14 => "初三",
        15 => "高一",
        16 => "高二",
        17 => "高三",
        18 => "大一",
        19 => "大二",
        20 => "大三",
        _ => "大四",
    }
}
