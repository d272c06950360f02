//! `spoor-sim [NAME-PREFIX]`: runs every scenario (or those whose name starts with the
//! prefix) and prints one table (scenario × scheme: precision, recall, F1, count error).
//! It reports; it does not assert targets.

use std::time::Instant;

use spoor_sim::run::run;
use spoor_sim::scenario;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    println!("| scenario | people | page views | scheme | precision | recall | F1 | count error |");
    println!("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    // `spoor-sim [NAME-PREFIX]`: only the scenarios whose name starts with it.
    let only = std::env::args().nth(1).unwrap_or_default();
    for params in scenario::all()
        .into_iter()
        .filter(|p| p.name.starts_with(&only))
    {
        let report = run(&params).await?;
        let rows = report
            .scores
            .iter()
            .map(|(scheme, s)| (scheme.name(), s))
            .chain([("(ceiling: daily salt)", &report.ceiling)]);
        for (name, s) in rows {
            println!(
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:+.1}% |",
                report.name,
                report.people,
                report.pageviews,
                name,
                s.precision,
                s.recall,
                s.f1,
                s.count_error * 100.0
            );
        }
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
