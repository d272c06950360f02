//! Per-site secrets from the environment or a file (never from a flag's value, which `ps`
//! shows), and the list of sites that require identity signatures.

use super::ConfigError;
use crate::site_secrets::SiteSecrets;
use crate::sites::Sites;

/// The secrets in the variable `var`, or in the file named by `file` (a `--*-file` flag
/// or its `*_FILE` variable, as `(source name, path)`). Giving both is an error, as is an
/// entry for a site that is not configured. Errors never echo a secret.
pub(super) fn load(
    env: &dyn Fn(&str) -> Option<String>,
    var: &str,
    file: Option<(String, String)>,
    sites: &Sites,
) -> Result<SiteSecrets, ConfigError> {
    let refuse = |source_name: String, value: String, reason: String| ConfigError {
        source_name,
        value,
        reason,
    };
    let (source_name, value, text) = match (env(var), file) {
        (None, None) => return Ok(SiteSecrets::default()),
        (Some(_), Some((name, path))) => {
            return Err(refuse(
                name,
                path,
                format!("{var} is set too: give the secrets one way"),
            ));
        }
        (Some(text), None) => (var.to_string(), "<redacted>".to_string(), text),
        (None, Some((name, path))) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| refuse(name.clone(), path.clone(), e.to_string()))?;
            (name, path, text)
        }
    };
    let secrets = SiteSecrets::parse(&text)
        .map_err(|reason| refuse(source_name.clone(), value.clone(), reason))?;
    if let Some(site) = secrets.unknown_site(sites) {
        return Err(refuse(
            source_name,
            value,
            format!("site {site:?} is not one of the configured sites"),
        ));
    }
    Ok(secrets)
}

/// The comma-separated site ids of `given`, each of which must have an identity secret.
pub(super) fn required_sites(
    given: Option<(String, String)>,
    secrets: &SiteSecrets,
) -> Result<Vec<String>, ConfigError> {
    let Some((source_name, value)) = given else {
        return Ok(Vec::new());
    };
    let sites: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(site) = sites.iter().find(|s| secrets.get(s).is_none()) {
        return Err(ConfigError {
            reason: format!(
                "site {site:?} has no identity secret (SPOOR_IDENTIFY_SECRETS or --identify-secrets-file)"
            ),
            source_name,
            value,
        });
    }
    Ok(sites)
}
