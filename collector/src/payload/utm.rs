//! Campaign tags: the `utm_*` parameters of the page URL's query.
//!
//! The beacon does not send them separately; the collector reads them from the `url` it
//! already has, so every event type gets them and a page that strips them from its
//! address after load still has them recorded.

use url::Url;

use super::rules::truncate_chars;
use crate::event::Utm;

/// Longest tag value kept, in characters; a longer one is cut.
pub const MAX_UTM_CHARS: usize = 256;

/// The campaign tags of `url`. Values are percent-decoded (`+` is a space, as in forms);
/// a key sent twice counts once, with its first value; a tag that is absent or empty is
/// `None`. Keys are matched exactly: `UTM_SOURCE` is not a tag.
pub fn from_url(url: &Url) -> Utm {
    let first = |key: &str| {
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, value)| truncate_chars(&value, MAX_UTM_CHARS))
            .filter(|value| !value.is_empty())
    };
    Utm {
        source: first("utm_source"),
        medium: first("utm_medium"),
        campaign: first("utm_campaign"),
        term: first("utm_term"),
        content: first("utm_content"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utm(url: &str) -> Result<Utm, url::ParseError> {
        Ok(from_url(&Url::parse(url)?))
    }

    #[test]
    fn all_five_tags_are_read_and_percent_decoded() -> Result<(), url::ParseError> {
        let got = utm(
            "https://example.com/p?utm_source=news%20letter&utm_medium=e%2Dmail\
             &utm_campaign=spring+sale&utm_term=caf%C3%A9&utm_content=a%26b&x=1",
        )?;
        assert_eq!(
            got,
            Utm {
                source: Some("news letter".into()),
                medium: Some("e-mail".into()),
                campaign: Some("spring sale".into()),
                term: Some("café".into()),
                content: Some("a&b".into()),
            }
        );
        Ok(())
    }

    #[test]
    fn missing_empty_and_fragment_tags_are_none() -> Result<(), url::ParseError> {
        assert_eq!(utm("https://example.com/")?, Utm::default());
        assert_eq!(utm("https://example.com/?")?, Utm::default());
        assert_eq!(
            utm("https://example.com/?utm_source=&utm_medium")?,
            Utm::default()
        );
        assert_eq!(
            utm("https://example.com/#utm_source=hash")?,
            Utm::default(),
            "the fragment is not the query"
        );
        assert_eq!(
            utm("https://example.com/?UTM_SOURCE=x&utm_sources=y")?,
            Utm::default()
        );
        Ok(())
    }

    #[test]
    fn a_repeated_key_keeps_its_first_value() -> Result<(), url::ParseError> {
        let got = utm("https://example.com/?utm_source=first&utm_source=second&utm_medium=m")?;
        assert_eq!(got.source.as_deref(), Some("first"));
        assert_eq!(got.medium.as_deref(), Some("m"));
        Ok(())
    }

    #[test]
    fn long_values_are_cut_to_256_characters() -> Result<(), url::ParseError> {
        let long = "%C3%A9".repeat(300);
        let got = utm(&format!("https://example.com/?utm_campaign={long}"))?;
        assert_eq!(got.campaign, Some("é".repeat(MAX_UTM_CHARS)));
        Ok(())
    }

    #[test]
    fn invalid_percent_encoding_does_not_fail() -> Result<(), url::ParseError> {
        let got = utm("https://example.com/?utm_source=%FF%zz")?;
        assert_eq!(got.source.as_deref(), Some("\u{fffd}%zz"));
        Ok(())
    }
}
