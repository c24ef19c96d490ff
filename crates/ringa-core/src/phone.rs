//! Phone numbers in E.164 form, parsed from whatever a spreadsheet holds.
//!
//! A [`PhoneNumber`] is always valid E.164 (`+46701740605`); it is built only
//! by [`PhoneNumber::parse`], which takes the campaign's default [`Region`]
//! for numbers written in national form, or by [`PhoneNumber::from_e164`] for
//! numbers that were normalised before (in the database, on the wire).

use std::fmt;
use std::str::FromStr;

use phonenumber::country;
use serde::{Deserialize, Serialize};

/// A region (country) as an ISO 3166-1 alpha-2 code, upper case: `SE`, `US`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region([u8; 2]);

impl Region {
    /// Sweden.
    pub const SE: Region = Region(*b"SE");

    /// Parses a two-letter code, any case. Only regions with a numbering plan
    /// are accepted.
    pub fn parse(code: &str) -> Result<Region, PhoneError> {
        let upper = code.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        if bytes.len() != 2 || country::Id::from_str(&upper).is_err() {
            return Err(PhoneError::UnknownRegion(code.to_string()));
        }
        Ok(Region([bytes[0], bytes[1]]))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a region is built from two ASCII letters")
    }

    fn id(self) -> country::Id {
        country::Id::from_str(self.as_str()).expect("a region is checked against the plan on parse")
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Region {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Region::parse(&value)
    }
}

impl From<Region> for String {
    fn from(value: Region) -> Self {
        value.as_str().to_string()
    }
}

/// What kind of line a number reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    Mobile,
    FixedLine,
    /// The plan does not tell mobile from fixed line (the United States).
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    Voip,
    Other,
}

/// Why a text could not be made into a phone number.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneError {
    /// Nothing but spaces and punctuation.
    Empty,
    /// Letters or other characters that no phone number has.
    BadCharacters(String),
    /// The numbering plan rejects it (too short, too long, unknown prefix).
    Unparseable { text: String, reason: String },
    /// It parses, but no line of the plan has this number.
    NotAssigned(String),
    /// A region code that has no numbering plan.
    UnknownRegion(String),
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::Empty => f.write_str("no digits"),
            PhoneError::BadCharacters(text) => {
                write!(f, "characters that are not part of a phone number in {text:?}")
            }
            PhoneError::Unparseable { text, reason } => {
                write!(f, "{text:?} is not a number: {reason}")
            }
            PhoneError::NotAssigned(text) => {
                write!(f, "{text:?} is not a valid number in its numbering plan")
            }
            PhoneError::UnknownRegion(code) => write!(f, "unknown region code {code:?}"),
        }
    }
}

impl std::error::Error for PhoneError {}

/// A valid phone number in E.164 form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(Box<str>);

impl PhoneNumber {
    /// Parses a number as people write it, taking `default_region` for
    /// numbers in national form. Accepts spaces, dashes, dots, slashes,
    /// brackets, a `(0)` trunk prefix after the country code, `00` and `+`
    /// international prefixes and a country code written without `+`.
    pub fn parse(text: &str, default_region: Region) -> Result<PhoneNumber, PhoneError> {
        let cleaned = clean(text)?;
        if let Some(number) = parse_fast(&cleaned, default_region) {
            return Ok(number);
        }
        PhoneNumber::parse_cleaned(text, &cleaned, default_region)
    }

    /// The full reading through the `phonenumber` port: every candidate of
    /// [`candidates`] in turn until one is a valid number.
    fn parse_cleaned(
        text: &str,
        cleaned: &str,
        default_region: Region,
    ) -> Result<PhoneNumber, PhoneError> {
        let attempts = candidates(cleaned, default_region);
        let mut last_error = None;
        for candidate in attempts {
            match phonenumber::parse(Some(default_region.id()), &candidate) {
                Ok(parsed) if phonenumber::is_valid(&parsed) => {
                    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
                    return Ok(PhoneNumber(e164.into_boxed_str()));
                }
                Ok(_) => {
                    last_error.get_or_insert(PhoneError::NotAssigned(text.trim().to_string()));
                }
                Err(err) => {
                    last_error.get_or_insert(PhoneError::Unparseable {
                        text: text.trim().to_string(),
                        reason: err.to_string(),
                    });
                }
            }
        }
        Err(last_error.unwrap_or(PhoneError::Empty))
    }

    /// Takes a number that is already in E.164 form and valid.
    pub fn from_e164(text: &str) -> Result<PhoneNumber, PhoneError> {
        let valid_shape = text.len() >= 4
            && text.len() <= 16
            && text.starts_with('+')
            && text[1..].bytes().all(|b| b.is_ascii_digit());
        if !valid_shape {
            return Err(PhoneError::Unparseable {
                text: text.to_string(),
                reason: "not in E.164 form".to_string(),
            });
        }
        let parsed = phonenumber::parse(None, text).map_err(|err| PhoneError::Unparseable {
            text: text.to_string(),
            reason: err.to_string(),
        })?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::NotAssigned(text.to_string()));
        }
        Ok(PhoneNumber(text.into()))
    }

    /// The E.164 text, `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country calling code (46 for Sweden).
    pub fn country_code(&self) -> u16 {
        self.parsed().code().value()
    }

    /// The region the number belongs to, when the plan names one.
    pub fn region(&self) -> Option<Region> {
        if let Some(region) = self.sole_region() {
            return region;
        }
        let id = self.parsed().country().id()?;
        Region::parse(id.as_ref()).ok()
    }

    /// The region of the number's calling code when the code belongs to
    /// one region only (`+46` is Sweden), without parsing the whole number;
    /// `None` for a shared code (`+1`, `+44`, `+7`), which needs the full
    /// parse. Calling codes are prefix-free, so the first length that names
    /// a code is the code.
    fn sole_region(&self) -> Option<Option<Region>> {
        let digits = self.0.strip_prefix('+')?;
        let ids = (1..=3).find_map(|len| {
            let code: u16 = digits.get(..len)?.parse().ok()?;
            phonenumber::metadata::DATABASE.region(&code)
        })?;
        match ids.as_slice() {
            [id] => Some(Region::parse(id).ok()),
            _ => None,
        }
    }

    /// The kind of line.
    pub fn kind(&self) -> NumberKind {
        use phonenumber::Type;
        match self.parsed().number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile => NumberKind::Mobile,
            Type::FixedLine => NumberKind::FixedLine,
            Type::FixedLineOrMobile => NumberKind::FixedLineOrMobile,
            Type::TollFree => NumberKind::TollFree,
            Type::PremiumRate => NumberKind::PremiumRate,
            Type::Voip => NumberKind::Voip,
            _ => NumberKind::Other,
        }
    }

    /// The number as people of its own country write it (`070-174 06 05`).
    pub fn national(&self) -> String {
        self.parsed().format().mode(phonenumber::Mode::National).to_string()
    }

    /// The number for display to someone in `viewer`: national form in the
    /// same country, international form otherwise.
    pub fn display_for(&self, viewer: Region) -> String {
        if self.region() == Some(viewer) {
            self.national()
        } else {
            self.parsed().format().mode(phonenumber::Mode::International).to_string()
        }
    }

    /// The leading digits after `+` up to `len` of them, for prefix rules
    /// (national do-not-call registers, regional statistics).
    pub fn prefix(&self, len: usize) -> &str {
        let digits = &self.0[1..];
        &digits[..len.min(digits.len())]
    }

    /// The digits without `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    fn parsed(&self) -> phonenumber::PhoneNumber {
        phonenumber::parse(None, &*self.0).expect("a PhoneNumber holds valid E.164 by construction")
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", crate::Pii(&*self.0))
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PhoneNumber::from_e164(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0.into_string()
    }
}

/// Keeps `+` and digits, removes the separators people type, and refuses
/// anything else. A `(0)` after a country code is a trunk prefix that must
/// go. A label before the number (`tel: `, `Mobil:`) and a comment in
/// brackets after it (`(kväll)`) are set aside (see [`annotated`]); any other
/// letter refuses the text.
fn clean(text: &str) -> Result<String, PhoneError> {
    let trimmed = text.trim();
    match clean_number(trimmed) {
        Err(PhoneError::BadCharacters(_)) => match annotated(trimmed) {
            Some(number) => clean_number(number).map_err(|err| match err {
                PhoneError::BadCharacters(_) => PhoneError::BadCharacters(trimmed.to_string()),
                other => other,
            }),
            None => Err(PhoneError::BadCharacters(trimmed.to_string())),
        },
        other => other,
    }
}

/// The number part of a text that carries a label before the number and/or
/// a comment after it: `tel: 018-12 34 56`, `Mobil:070-123 45 67`,
/// `070-1234567 (kväll)`. A label is up to 20 letters, spaces and dots ending
/// in `:`, at the start; a comment is a bracket at the end holding at least
/// one letter (a bracket of digits, such as `(0)` or `(08)`, is part of the
/// number). `None` when the text has neither, or nothing is left.
fn annotated(text: &str) -> Option<&str> {
    let mut number = text;
    if let Some((label, rest)) = number.split_once(':') {
        let is_label = label.chars().count() <= 20
            && label.chars().any(char::is_alphabetic)
            && label.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '.');
        if is_label {
            number = rest.trim();
        }
    }
    if let Some(open) = number.strip_suffix(')').and_then(|n| n.rfind('(')) {
        let comment = &number[open + 1..number.len() - 1];
        if comment.chars().any(char::is_alphabetic) && !comment.contains(')') {
            number = number[..open].trim_end();
        }
    }
    (number.len() < text.len() && !number.is_empty()).then_some(number)
}

/// [`clean`] of a text that holds nothing but the number.
fn clean_number(trimmed: &str) -> Result<String, PhoneError> {
    let without_trunk = trimmed.replace("(0)", "");
    let mut out = String::with_capacity(without_trunk.len());
    for (i, ch) in without_trunk.chars().enumerate() {
        match ch {
            '0'..='9' => out.push(ch),
            '+' if i == 0 || out.is_empty() => out.push(ch),
            ' ' | '-' | '.' | '/' | '(' | ')' | '\u{a0}' | '\t' | '\u{2010}'..='\u{2015}' => {}
            _ => return Err(PhoneError::BadCharacters(trimmed.to_string())),
        }
    }
    if out.trim_start_matches('+').is_empty() {
        return Err(PhoneError::Empty);
    }
    Ok(out)
}

/// The plan of a region whose common written forms the fast path reads:
/// its calling code belongs to it alone, its trunk prefix is `0` with no
/// other rule for stripping it, and its international prefix is `00`.
struct FastPlan {
    code: String,
    general: Pattern,
    /// Every line type's pattern; a number is valid when one matches.
    types: Vec<Pattern>,
}

/// A descriptor of the plan (`phonenumber::metadata::Descriptor`) with its
/// pattern compiled once, with the options and test the crate uses: the
/// length among the possible lengths (when any are given) and a match of
/// the pattern that starts at the first digit. Compiled here because the
/// crate's shared regex cache sits behind one lock, which serialises
/// parsing threads.
struct Pattern {
    lengths: Vec<u16>,
    regex: regex::Regex,
}

impl Pattern {
    fn new(desc: &phonenumber::metadata::Descriptor) -> Option<Pattern> {
        let regex = regex::RegexBuilder::new(desc.national_number().as_str())
            .ignore_whitespace(true)
            .build()
            .ok()?;
        Some(Pattern { lengths: desc.possible_length().to_vec(), regex })
    }

    fn is_match(&self, national: &str) -> bool {
        if !self.lengths.is_empty() && !self.lengths.contains(&(national.len() as u16)) {
            return false;
        }
        self.regex.find(national).is_some_and(|m| m.start() == 0)
    }
}

/// Only Sweden for now: the forms of other plans are read the slow way.
fn fast_plan(region: Region) -> Option<&'static FastPlan> {
    static SE: std::sync::OnceLock<Option<FastPlan>> = std::sync::OnceLock::new();
    if region != Region::SE {
        return None;
    }
    SE.get_or_init(|| {
        let db = &*phonenumber::metadata::DATABASE;
        let meta = db.by_id(region.as_str())?;
        let code = meta.country_code();
        let alone = db.by_code(&code).is_some_and(|regions| regions.len() == 1);
        let plain_trunk = meta.national_prefix() == Some("0")
            && meta.national_prefix_for_parsing().is_none()
            && meta.national_prefix_transform_rule().is_none();
        let idd_00 = meta.international_prefix().is_some_and(|p| p.as_str() == "00");
        if !(alone && plain_trunk && idd_00) {
            return None;
        }
        let d = meta.descriptors();
        // The types `phonenumber`'s `number_type` tries: a number is valid
        // when the general pattern and one of these match.
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        let mut compiled = Vec::new();
        for desc in types.into_iter().flatten() {
            compiled.push(Pattern::new(desc)?);
        }
        // Mobiles first: most numbers in a dialer's list are.
        compiled.reverse();
        Some(FastPlan {
            code: code.to_string(),
            general: Pattern::new(d.general())?,
            types: compiled,
        })
    })
    .as_ref()
}

/// Reads the common forms of a number of a [`fast_plan`] region without the
/// full parser: `0` + national number, `+CC` or `00CC` + national number
/// with no trunk `0` after the code. Gives the number only when the
/// national number is valid in the plan, tested against the same patterns
/// (general description, then any line type) that `phonenumber::is_valid`
/// tests, so the result is the one the full parser gives; anything else
/// (`None`) goes the slow way, which also words the errors.
fn parse_fast(cleaned: &str, region: Region) -> Option<PhoneNumber> {
    let plan = fast_plan(region)?;
    let national = match cleaned.strip_prefix('+').or_else(|| cleaned.strip_prefix("00")) {
        Some(international) => international.strip_prefix(plan.code.as_str())?,
        None => cleaned.strip_prefix('0')?,
    };
    if national.is_empty()
        || national.starts_with('0')
        || !national.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if !plan.general.is_match(national) || !plan.types.iter().any(|t| t.is_match(national)) {
        return None;
    }
    let mut e164 = String::with_capacity(1 + plan.code.len() + national.len());
    e164.push('+');
    e164.push_str(&plan.code);
    e164.push_str(national);
    Some(PhoneNumber(e164.into_boxed_str()))
}

/// The readings of a cleaned number to try, most likely first.
fn candidates(cleaned: &str, region: Region) -> Vec<String> {
    let mut list = Vec::with_capacity(3);
    let digits = cleaned.trim_start_matches('+');
    let code = phonenumber::metadata::DATABASE
        .by_id(region.as_str())
        .map(|meta| meta.country_code().to_string());

    if let Some(rest) = cleaned.strip_prefix('+') {
        list.push(format!("+{rest}"));
        // "+46 070..." keeps the national trunk prefix by mistake.
        if let Some(code) = &code
            && let Some(national) = rest.strip_prefix(code.as_str())
            && let Some(stripped) = national.strip_prefix('0')
        {
            list.push(format!("+{code}{stripped}"));
        }
        return list;
    }

    list.push(digits.to_string());
    if let Some(code) = code {
        // "46701740605": the country code written without its prefix.
        if let Some(national) = digits.strip_prefix(code.as_str()) {
            let national = national.strip_prefix('0').unwrap_or(national);
            list.push(format!("+{code}{national}"));
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn se(text: &str) -> Result<String, PhoneError> {
        PhoneNumber::parse(text, Region::SE).map(|n| n.to_string())
    }

    #[test]
    fn the_region_from_the_calling_code_is_the_region_of_the_full_parse() {
        let numbers = [
            "+46701740605",
            "+4681234567",
            "+4791234567",
            "+4520123456",
            "+358401234567",
            "+4915112345678",
            "+33612345678",
            "+390612345678",
            "+34612345678",
            "+351912345678",
            "+31612345678",
            "+48512345678",
            "+12025550123",
            "+14165550123",
            "+447911123456",
            "+441481712345",
            "+74951234567",
            "+77011234567",
            "+61412345678",
            "+5511912345678",
            "+525512345678",
            "+81312345678",
            "+8613812345678",
            "+97150123456",
            "+27821234567",
            "+80012345678",
            "+882123456789",
        ];
        let mut sole = 0;
        for text in numbers {
            let Ok(number) = PhoneNumber::parse(text, Region::SE) else { continue };
            let full =
                number.parsed().country().id().and_then(|id| Region::parse(id.as_ref()).ok());
            if number.sole_region().is_some() {
                sole += 1;
            }
            assert_eq!(number.region(), full, "{text}");
        }
        assert!(sole >= 10, "the calling-code path answered for only {sole} numbers");
    }

    #[test]
    fn swedish_forms_all_normalise_to_one_number() {
        for text in [
            "070-174 06 05",
            "0701740605",
            "+46 70 174 06 05",
            "+46 (0)70-174 06 05",
            "+460701740605",
            "0046701740605",
            "46701740605",
        ] {
            assert_eq!(se(text).as_deref(), Ok("+46701740605"), "{text}");
        }
    }

    #[test]
    fn the_079_range_is_a_mobile() {
        let number = PhoneNumber::parse("079-174 06 05", Region::SE).unwrap();
        assert_eq!(number.kind(), NumberKind::Mobile);
    }

    #[test]
    fn national_display_for_swedish_agents() {
        let number = PhoneNumber::parse("0701740605", Region::SE).unwrap();
        assert_eq!(number.display_for(Region::SE), "070-174 06 05");
        assert_eq!(number.display_for(Region::parse("us").unwrap()), "+46 70 174 06 05");
    }

    #[test]
    fn a_label_before_and_a_comment_after_the_number_are_set_aside() {
        assert_eq!(se("tel: 018-12 34 56").as_deref(), Ok("+4618123456"));
        assert_eq!(se("Tel.:018-12 34 56").as_deref(), Ok("+4618123456"));
        assert_eq!(se("tel:+46 70 174 06 05").as_deref(), Ok("+46701740605"));
        assert_eq!(se("070-1234567 (kväll)").as_deref(), Ok("+46701234567"));
        assert_eq!(se("Mobil: 070-174 06 05 (efter 17)").as_deref(), Ok("+46701740605"));
        assert_eq!(se("+46 (0)70-174 06 05 (jobb)").as_deref(), Ok("+46701740605"));
        // The number part is still checked, and other text is refused.
        assert!(matches!(
            se("tel: 0701"),
            Err(PhoneError::Unparseable { .. }) | Err(PhoneError::NotAssigned(_))
        ));
        for text in [
            "tel 018-12 34 56",
            "070-1234567 kväll",
            "070 (kväll) 1234567",
            "ring efter 17: 070-1234567",
            "tel: 070-ABC",
            "070-1234567 (kväll) x",
            "tel: (kväll)",
        ] {
            assert_eq!(se(text), Err(PhoneError::BadCharacters(text.to_string())), "{text}");
        }
        assert_eq!(se("tel:"), Err(PhoneError::BadCharacters("tel:".to_string())));
    }

    #[test]
    fn refusals_carry_a_reason() {
        assert_eq!(se(""), Err(PhoneError::Empty));
        assert!(matches!(se("070-ABC"), Err(PhoneError::BadCharacters(_))));
        assert!(se("12").is_err());
        assert!(se("0701").is_err());
        assert!(se("070174060512345678").is_err());
    }

    /// The full reading, without the fast path.
    fn slow(text: &str, region: Region) -> Result<PhoneNumber, PhoneError> {
        let cleaned = clean(text)?;
        PhoneNumber::parse_cleaned(text, &cleaned, region)
    }

    /// A national significant number: a common Swedish range or any
    /// leading digits, then random digits, of lengths around the valid ones.
    fn national() -> impl Strategy<Value = String> {
        let lead = prop_oneof![
            prop::sample::select(vec![
                "70", "72", "73", "76", "79", "71", "74", "75", "77", "78", "8", "31", "40", "46",
                "90", "11", "13", "18", "20", "60", "63", "99", "254", "519", "10", "1", "9", "0",
                "00",
            ])
            .prop_map(str::to_string),
            "[0-9]{1,3}",
        ];
        (lead, "[0-9]{0,11}").prop_map(|(lead, rest)| format!("{lead}{rest}"))
    }

    /// The number as someone might write it.
    fn written() -> impl Strategy<Value = String> {
        let form = prop::sample::select(vec![
            "0{}",
            "{}",
            "+46{}",
            "+46 {}",
            "+46 (0){}",
            "+460{}",
            "0046{}",
            "00460{}",
            "46{}",
            "460{}",
            "+47{}",
            "0047{}",
            "+{}",
            "00{}",
            "000{}",
            "0 {}",
            "+4646{}",
            "(0){}",
        ]);
        (national(), form, prop::collection::vec(0..4usize, 0..4)).prop_map(|(n, form, cuts)| {
            // Separators at a few places, as people type them.
            let mut spaced = String::new();
            for (i, ch) in n.chars().enumerate() {
                if let Some(sep) = cuts.iter().position(|c| (c * 3 + 2) == i) {
                    spaced.push([' ', '-', '.', ' '][sep]);
                }
                spaced.push(ch);
            }
            form.replace("{}", &spaced)
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        /// The fast path gives exactly what the full parser gives, numbers
        /// and refusals alike.
        #[test]
        fn the_fast_path_agrees_with_the_full_parser(text in written()) {
            proptest::prop_assert_eq!(
                PhoneNumber::parse(&text, Region::SE),
                slow(&text, Region::SE),
                "{}", text
            );
        }
    }

    #[test]
    fn the_fast_path_reads_the_common_swedish_forms() {
        // Every valid mobile and fixed-line range in the fast forms, read
        // both ways.
        let mut fast = 0;
        for lead in 1..1000u32 {
            for len in 5..=10usize {
                let lead = lead.to_string();
                if lead.len() > len {
                    continue;
                }
                let n = format!("{lead}{}", &"1234567890"[..len - lead.len()]);
                for text in [format!("0{n}"), format!("+46{n}"), format!("0046{n}")] {
                    let cleaned = clean(&text).unwrap();
                    let quick = parse_fast(&cleaned, Region::SE);
                    if let Some(number) = &quick {
                        fast += 1;
                        assert_eq!(Ok(number.clone()), slow(&text, Region::SE), "{text}");
                    } else {
                        assert!(slow(&text, Region::SE).is_err(), "{text} was valid");
                    }
                }
            }
        }
        assert!(fast > 1000, "the fast path took only {fast} numbers");
        assert!(parse_fast("0701740605", Region::parse("NO").unwrap()).is_none());
    }

    #[test]
    fn e164_round_trip() {
        let number = PhoneNumber::from_e164("+46701740605").unwrap();
        assert_eq!(number.country_code(), 46);
        assert_eq!(number.region(), Some(Region::SE));
        assert!(PhoneNumber::from_e164("46701740605").is_err());
        assert!(PhoneNumber::from_e164("+4670").is_err());
    }
}
