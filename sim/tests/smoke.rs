//! A tiny run of the baseline scenario through the real collector: with stable cookies,
//! Spoor's persons are exactly the true people.

use spoor_sim::baselines::Scheme;
use spoor_sim::run::run;
use spoor_sim::scenario;

#[tokio::test]
async fn stable_cookies_give_a_perfect_score() -> anyhow::Result<()> {
    let params = scenario::all()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no scenarios"))?
        .with_people(20);
    let report = run(&params).await?;
    assert!(report.pageviews > 20);
    let ours = report
        .scores
        .iter()
        .find(|(s, _)| *s == Scheme::Ours)
        .map(|(_, s)| *s)
        .ok_or_else(|| anyhow::anyhow!("no score for ours"))?;
    assert_eq!(ours.f1, 1.0, "{ours:?}");
    assert_eq!(ours.count_error, 0.0);
    Ok(())
}

/// A family laptop on which members log in without `reset()`, some with phones of their
/// own: the collector never joins two users, so households are not merged into one
/// person (before the rule, each household and every member's phone was one person).
#[tokio::test]
async fn a_shared_device_without_reset_does_not_merge_its_users() -> anyhow::Result<()> {
    let params = scenario::all()
        .into_iter()
        .find(|p| p.name.starts_with("9 "))
        .ok_or_else(|| anyhow::anyhow!("no shared-device scenario"))?
        .with_people(30);
    let report = run(&params).await?;
    let ours = report
        .scores
        .iter()
        .find(|(s, _)| *s == Scheme::Ours)
        .map(|(_, s)| *s)
        .ok_or_else(|| anyhow::anyhow!("no score for ours"))?;
    assert!(ours.precision > 0.85, "{ours:?}");
    assert!(ours.count_error.abs() < 0.2, "{ours:?}");
    Ok(())
}
