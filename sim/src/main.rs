//! `spoor-sim`: runs every scenario and prints one table (scenario × scheme: precision,
//! recall, F1, count error). It reports; it does not assert targets.

use std::time::Instant;

use spoor_sim::run::run;
use spoor_sim::scenario;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    println!("| scenario | people | page views | scheme | precision | recall | F1 | count error |");
    println!("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    for params in scenario::all() {
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
