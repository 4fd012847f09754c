//! "Did you mean …": the nearest of some words to a misspelled one.

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The candidate `word` most likely stands for: one a typo or two away, or one it is the start
/// of (`media` for `media_id`). Case is ignored, so `Content` finds `content`.
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let lower = candidate.to_ascii_lowercase();
            let d = distance(&word, &lower);
            let near = d <= 2.min(word.len().saturating_sub(1)) || (word.len() >= 3 && lower.starts_with(&word));
            near.then_some((d, candidate))
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn near_misses() {
        let fields = ["to_user_name", "content", "media_id", "hq_music_url", "music_url", "thumb_media_id"];
        assert_eq!(closest("contnet", fields), Some("content"));
        assert_eq!(closest("media", fields), Some("media_id"));
        assert_eq!(closest("hq_music_uri", fields), Some("hq_music_url"));
        assert_eq!(closest("thumb_media", fields), Some("thumb_media_id"));
        assert_eq!(closest("Content", fields), Some("content"));
        assert_eq!(closest("txt", ["text", "image", "news"]), Some("text"));
        assert_eq!(closest("greeting", fields), None);
        assert_eq!(closest("id", fields), None);
    }
}
