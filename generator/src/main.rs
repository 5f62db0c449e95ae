//! `canbao-gen`: writes a synthetic city (department files in three encodings, regions.csv,
//! registrations.jsonl, expected.json) into a folder, with a progress bar on stderr and a JSON
//! summary on stdout.

use anyhow::Context;
use canbao_gen::{write_to, CityConfig, Formats, Kind};
use std::path::PathBuf;

const USAGE: &str = "usage: canbao-gen --out DIR [--people N] [--seed S] [--formats csv,gb18030,xlsx]
                  [--error-rate R] [--rate KIND=R]... [--survey-rate R] [--max-rows N]
  --people N        residents (default 10000)
  --seed S          seed (default 1); the same seed gives the same bytes
  --formats LIST    any of csv, gb18030, xlsx (default all three)
  --error-rate R    injection rate per eligible row for every kind (default 0.005)
  --rate KIND=R     one kind's rate, e.g. --rate conflict=0.01 (kinds: see README)
  --survey-rate R   share of living residents with a survey/self registration (default 0.2)
  --max-rows N      data rows per file part (default 1000000)";

fn parse_args() -> anyhow::Result<(CityConfig, PathBuf)> {
    let mut cfg = CityConfig::default();
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "--people" => cfg.people = value()?.replace('_', "").parse().context("--people")?,
            "--seed" => cfg.seed = value()?.parse().context("--seed")?,
            "--out" => out = Some(PathBuf::from(value()?)),
            "--formats" => cfg.formats = Formats::parse(&value()?)?,
            "--error-rate" => cfg.error_rate = value()?.parse().context("--error-rate")?,
            "--survey-rate" => cfg.survey_rate = value()?.parse().context("--survey-rate")?,
            "--max-rows" => cfg.max_rows_per_file = value()?.parse().context("--max-rows")?,
            "--rate" => {
                let v = value()?;
                let (k, r) = v.split_once('=').with_context(|| format!("--rate wants KIND=R, got {v}"))?;
                let kind = Kind::parse(k).with_context(|| format!("unknown kind {k}"))?;
                cfg.rates.insert(kind, r.parse().context("--rate")?);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let out = out.with_context(|| format!("--out DIR is required\n{USAGE}"))?;
    Ok((cfg, out))
}

fn main() -> anyhow::Result<()> {
    let (cfg, out) = parse_args()?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {human_pos} rows written ({per_sec}) {msg}")
            .expect("template"),
    );
    bar.set_message(format!("{} residents, seed {}", cfg.people, cfg.seed));
    let summary = write_to(&cfg, &out, &mut |n| bar.inc(n))?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
