//! Personal data stays out of the logs and out of public answers. A generated city goes through
//! the API (region tree, every department's file, the intake run, every survey and self
//! registration), then residents' lookups with right and wrong names, staff reading and
//! correcting records, and a spread of bad requests. Afterwards every component log the host
//! wrote (`<state>/logs/*.txt`) is scanned for any generated person's citizen ID (18- and
//! 15-digit forms), name and phone: none may appear. Every public answer on the way is checked
//! against the masking rules (DOMAIN §8) and scanned the same way.

use canbao::masking::{mask_id, mask_name};
use canbao_gen::population::Person;
use canbao_tests::{Reply, TestApp, TEST_TOKENS};
use serde_json::json;
use std::collections::BTreeMap;

/// What identifies a person, as it could appear in text.
struct Needles {
    /// (needle, whose and what) — e.g. ("510402198407090016", "id of person 3").
    items: Vec<(String, String)>,
}

impl Needles {
    fn of(people: &[Person], skip_names: &str) -> Needles {
        let mut items = Vec::new();
        for (i, p) in people.iter().enumerate() {
            let id = p.id.as_str().to_string();
            // The first-generation (15-digit) form: no century, no check character.
            items.push((format!("{}{}", &id[..6], &id[8..17]), format!("15-digit id of person {i}")));
            items.push((id, format!("id of person {i}")));
            // Names that are also region names (or parts of them) would match the tree, not a person.
            if p.name.chars().count() >= 2 && !skip_names.contains(&p.name) {
                items.push((p.name.clone(), format!("name of person {i}")));
            }
            if p.phone.len() >= 7 {
                items.push((p.phone.clone(), format!("phone of person {i}")));
            }
        }
        Needles { items }
    }

    /// Every needle found in `text`, with where.
    fn find_in(&self, text: &str, place: &str) -> Vec<String> {
        self.items
            .iter()
            .filter(|(needle, _)| text.contains(needle.as_str()))
            .map(|(needle, what)| format!("{place}: {what} ({} chars) found", needle.chars().count()))
            .collect()
    }
}

fn department_token(source: &str) -> &'static str {
    TEST_TOKENS.iter().find(|(_, role, scope)| *role == "department" && *scope == source).map(|t| t.0).unwrap()
}

fn pct(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[test]
fn no_log_line_and_no_public_answer_carries_a_generated_persons_id_name_or_phone() {
    let city = canbao_gen::generate(&canbao_gen::CityConfig { people: 600, seed: 11, ..Default::default() }).unwrap();
    let people = &city.population.persons;
    let needles = Needles::of(people, &city.regions_csv);
    let app = TestApp::start_with(&[("registration_rate_limit_per_hour", "1000000"), ("lookup_rate_limit_per_minute", "1000000")]);
    let mut public_answers: Vec<(String, Reply)> = Vec::new();

    // The city through the API.
    let put = app.call("PUT", "/api/v1/regions", Some("admin-token"), &[("content-type", "text/csv")], Some(city.regions_csv.as_bytes()));
    assert_eq!(put.status, 200, "{}", put.text());
    for file in &city.files {
        let source = file.source.code();
        let r = app.call(
            "POST",
            &format!("/api/v1/intake/{source}/files"),
            Some(department_token(source)),
            &[("x-file-name", &file.name), ("content-type", "text/csv")],
            Some(&file.csv_gb18030),
        );
        assert_eq!(r.status, 202, "{}: {}", file.name, r.text());
    }
    while app.call("POST", "/api/v1/intake/run", Some("admin-token"), &[], None).json()["more"] == true {}
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for registration in &city.registrations {
        let survey = registration["source"] == "survey";
        let r = app.send_json("POST", "/api/v1/registrations", survey.then_some("admin-token"), &registration["body"]);
        *statuses.entry(r.status).or_default() += 1;
        if !survey {
            public_answers.push(("self registration".into(), r));
        }
    }
    assert!(statuses.get(&201).copied().unwrap_or(0) > 0, "{statuses:?}");

    // Residents look themselves up: right names answer masked, wrong ones like strangers.
    let mut found = 0;
    for p in people.iter().take(120) {
        let right = app.get(&format!("/api/v1/lookup?id_number={}&name={}", p.id.as_str(), pct(&p.name)));
        if right.status == 200 {
            found += 1;
            let body = right.json();
            assert_eq!(body["id_masked"], mask_id(p.id.as_str()));
            // The stored name matched the typed one after normalisation; masked, it is the typed
            // name with its given name starred.
            assert_eq!(body["name_masked"], mask_name(&p.name), "{body}");
            assert_eq!(body.as_object().unwrap().len(), 6, "{body}");
        } else {
            assert_eq!(right.status, 404, "{}", right.text());
        }
        public_answers.push(("lookup".into(), right));
        let wrong = app.get(&format!("/api/v1/lookup?id_number={}&name={}", p.id.as_str(), pct("查无此人")));
        assert_eq!(wrong.status, 404);
        public_answers.push(("lookup with a wrong name".into(), wrong));
    }
    assert!(found > 60, "only {found} of 120 residents found by lookup");

    // Staff read and correct records; some requests are refused.
    for p in people.iter().take(40) {
        let path = format!("/api/v1/persons/{}", p.id.as_str());
        let view = app.get_as("admin-token", &path);
        assert!(matches!(view.status, 200 | 404), "{}", view.text());
        let bad = app.send_json("PATCH", &path, Some("admin-token"), &json!({"phone": "12", "reason": "核实"}));
        assert!(matches!(bad.status, 404 | 422), "{}", bad.text());
        // Staff of 西区 read their own residents and are refused everyone else's.
        let staff = app.get_as("staff-west", &path);
        assert!(matches!(staff.status, 200 | 403 | 404), "{}", staff.text());
    }
    for (i, p) in people.iter().take(20).enumerate() {
        let id = p.id.as_str();
        let typo = format!("{}{}", &id[..17], if id.ends_with('0') { '1' } else { '0' });
        let bodies = [
            json!({"id_number": typo, "name": p.name, "phone": p.phone}),
            json!({"id_number": id, "name": p.name, "phone": "not-a-phone", "residence_region": "999999"}),
            json!({"id_number": id, "name": p.name, "unknown_field": p.phone}),
        ];
        let r = app.send_json("POST", "/api/v1/registrations", None, &bodies[i % 3]);
        assert_eq!(r.status, 422, "{}", r.text());
        public_answers.push(("refused self registration".into(), r));
        let r = app.get(&format!("/api/v1/lookup?id_number={typo}&name={}", pct(&p.name)));
        assert_eq!(r.status, 422);
        public_answers.push(("lookup with a mistyped id".into(), r));
    }
    let broken = app.call("POST", "/api/v1/registrations", None, &[("content-type", "application/json")], Some(b"{\"id_number\": \"5104"));
    assert_eq!(broken.status, 400);
    for path in ["/api/v1/stats/overview", "/api/v1/stats/overview?by=residence", "/api/v1/regions?parent=510400"] {
        let r = app.get(path);
        assert_eq!(r.status, 200, "{path}");
        public_answers.push((path.into(), r));
    }

    // Public answers: masked as DOMAIN §8 says, and nothing whole of anyone in them.
    let mut leaks = Vec::new();
    for (what, reply) in &public_answers {
        let text = reply.text();
        let own_input_echo = what.contains("refused") || what.contains("mistyped");
        if !own_input_echo {
            leaks.extend(needles.find_in(&text, what));
        }
        if what == "self registration" && reply.status == 201 {
            let person = &reply.json()["person"];
            let id_masked = person["id_masked"].as_str().unwrap();
            assert_eq!(id_masked.matches('*').count(), 8, "{person}");
            if let Some(phone) = person["phone_masked"].as_str() {
                assert!(phone.contains('*'), "{person}");
            }
        }
    }
    assert!(leaks.is_empty(), "public answers carry personal data:\n{}", leaks.join("\n"));

    // The logs: every file the host wrote for the components.
    let dir = app.state_dir().join("logs");
    let mut files = 0;
    let mut bytes = 0;
    let mut lookup_lines = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
        files += 1;
        bytes += text.len();
        lookup_lines += text.lines().filter(|l| l.starts_with("GET /api/v1/lookup?id_number&name ")).count();
        leaks.extend(needles.find_in(&text, &entry.file_name().to_string_lossy()));
    }
    assert!(files >= 4, "the host keeps one log per component and stream in {}", dir.display());
    // Every request leaves an access line, so the scan reads what the workload made the
    // components write (the residents' lookups among it), not empty files.
    assert!(lookup_lines >= 100, "only {lookup_lines} lookup access lines in {}", dir.display());
    assert!(leaks.is_empty(), "component logs carry personal data ({bytes} bytes scanned):\n{}", leaks.join("\n"));
    eprintln!("{files} log files, {bytes} bytes, {} needles of {} people: none found", needles.items.len(), people.len());
}

/// The scan itself finds what it looks for (so an empty result above means something).
#[test]
fn the_scan_finds_a_planted_id_name_and_phone() {
    let city = canbao_gen::generate(&canbao_gen::CityConfig { people: 20, seed: 3, ..Default::default() }).unwrap();
    let p = &city.population.persons[0];
    let needles = Needles::of(&city.population.persons, "");
    let line = format!("internal error: person {} ({}), phone {}", p.id.as_str(), p.name, p.phone);
    let found = needles.find_in(&line, "planted");
    assert!(found.iter().any(|f| f.contains("id of person 0")), "{found:?}");
    assert!(found.iter().any(|f| f.contains("name of person 0")), "{found:?}");
    assert!(found.iter().any(|f| f.contains("phone of person 0")), "{found:?}");
    let redacted = canbao::redact::redact_log(&line);
    let after = needles.find_in(&redacted, "redacted");
    assert!(!after.iter().any(|f| f.contains("id of") || f.contains("phone of")), "{after:?}");
}
