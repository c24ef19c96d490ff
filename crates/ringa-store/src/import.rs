//! Import of contacts from delimited text files (CSV, semicolon or tab
//! separated, as spreadsheets export them) in any encoding call centers meet:
//! UTF-8 with or without a byte-order mark, Windows-1252 / Latin-1 and
//! UTF-16 LE/BE.
//!
//! Every data row ends in exactly one bucket — created, duplicate (of which
//! row or stored contact), invalid (why), missing phone, or blocked by a
//! do-not-call list (which) — and the buckets add up to the row count.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;

use jiff::Timestamp;
use ringa_core::zone::single_zone_of;
use ringa_core::{CampaignId, ContactId, ListId, PhoneNumber, Region, ZoneName};
use serde::{Deserialize, Serialize};

use crate::db::on_db;
use crate::time::ms;
use crate::{NewContact, NewNumber, Store, StoreError};

/// Why an import could not run at all (rows with problems are reported in
/// the [`ImportReport`] instead).
#[derive(Debug)]
#[non_exhaustive]
pub enum ImportError {
    /// The text encoding could not be told or the bytes do not fit it.
    Encoding(String),
    /// The column separator could not be told.
    Delimiter(String),
    /// The mapping names a column that is not there, or no column holds a phone number.
    Mapping(String),
    /// The file is not readable as delimited text.
    Csv(String),
    Io(std::io::Error),
    Store(StoreError),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Encoding(why) => write!(f, "text encoding: {why}"),
            ImportError::Delimiter(why) => write!(f, "column separator: {why}"),
            ImportError::Mapping(why) => write!(f, "column mapping: {why}"),
            ImportError::Csv(why) => write!(f, "unreadable file: {why}"),
            ImportError::Io(err) => write!(f, "file error: {err}"),
            ImportError::Store(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Io(err) => Some(err),
            ImportError::Store(err) => Some(err),
            _ => None,
        }
    }
}

impl From<StoreError> for ImportError {
    fn from(err: StoreError) -> Self {
        ImportError::Store(err)
    }
}

impl From<sqlx::Error> for ImportError {
    fn from(err: sqlx::Error) -> Self {
        ImportError::Store(StoreError::Database(err))
    }
}

impl From<std::io::Error> for ImportError {
    fn from(err: std::io::Error) -> Self {
        ImportError::Io(err)
    }
}

// ---------------------------------------------------------------- encodings

/// Text decoded from a file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// The encoding's name (`UTF-8`, `windows-1252`, `UTF-16LE`, ...).
    pub encoding: &'static str,
    pub had_bom: bool,
}

/// Decodes a file: with `forced` (a label such as `utf-8`, `latin1`,
/// `windows-1252`, `utf-16le`) the bytes must fit that encoding; without,
/// the byte-order mark, a UTF-16 pattern, valid UTF-8 or a confident guess
/// decides. Never returns replacement characters: bytes that do not fit are
/// an error that says so.
pub fn decode(bytes: &[u8], forced: Option<&str>) -> Result<Decoded, ImportError> {
    if let Some(label) = forced {
        let encoding = encoding_rs::Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| ImportError::Encoding(format!("unknown encoding {label:?}")))?;
        let (body, had_bom) = match encoding_rs::Encoding::for_bom(bytes) {
            Some((bom_enc, len)) if bom_enc == encoding => (&bytes[len..], true),
            _ => (bytes, false),
        };
        return decode_strict(body, encoding, had_bom);
    }
    if let Some((encoding, len)) = encoding_rs::Encoding::for_bom(bytes) {
        return decode_strict(&bytes[len..], encoding, true);
    }
    if let Some(encoding) = utf16_without_bom(bytes) {
        return decode_strict(bytes, encoding, false);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return checked(text.to_string(), "UTF-8", false);
    }
    if let Some((utf8_line, other_line)) = mixed_utf8(bytes) {
        return Err(ImportError::Encoding(format!(
            "the file mixes encodings: line {utf8_line} is UTF-8 but line {other_line} is not; \
             convert it to one encoding, or give the one to use with --encoding"
        )));
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    let (encoding, confident) = detector.guess_assess(None, false);
    let single_byte_latin = [
        encoding_rs::WINDOWS_1252,
        encoding_rs::ISO_8859_15,
        encoding_rs::ISO_8859_2,
        encoding_rs::WINDOWS_1250,
        encoding_rs::WINDOWS_1257,
    ];
    if !confident && !single_byte_latin.contains(&encoding) {
        return Err(ImportError::Encoding(format!(
            "could not tell the file's text encoding (best guess {}); give it with --encoding \
             (utf-8, windows-1252, latin1, utf-16le, utf-16be)",
            encoding.name()
        )));
    }
    decode_strict(bytes, encoding, false)
}

fn decode_strict(
    bytes: &[u8],
    encoding: &'static encoding_rs::Encoding,
    had_bom: bool,
) -> Result<Decoded, ImportError> {
    match encoding.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => checked(text.into_owned(), encoding.name(), had_bom),
        None => {
            let at = first_bad_offset(bytes, encoding);
            Err(ImportError::Encoding(format!(
                "the file is not valid {} (first bad bytes near offset {at}); give the right \
                 one with --encoding",
                encoding.name()
            )))
        }
    }
}

fn first_bad_offset(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> usize {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 3 + 16);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    match result {
        encoding_rs::DecoderResult::Malformed(_, _) => read,
        _ => bytes.len(),
    }
}

/// A file that is not UTF-8 but has lines that are, with letters beyond
/// ASCII: two files of different encodings pasted together. Any single-byte
/// guess would turn one part's letters into garbage. Returns the first UTF-8
/// line and the first line that is not, counted from 1.
fn mixed_utf8(bytes: &[u8]) -> Option<(usize, usize)> {
    let (mut utf8_line, mut other_line) = (None, None);
    // Lines end in LF or CRLF; files from old Macs end them in CR alone.
    let end = if bytes.contains(&b'\n') { b'\n' } else { b'\r' };
    for (index, line) in bytes.split(|b| *b == end).enumerate() {
        if line.is_ascii() {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(_) => utf8_line = utf8_line.or(Some(index + 1)),
            Err(_) => other_line = other_line.or(Some(index + 1)),
        }
        if let (Some(u), Some(o)) = (utf8_line, other_line) {
            return Some((u, o));
        }
    }
    None
}

/// Refuses text that holds control characters no delimited file has (a
/// binary file, or a wrong guess that turned bytes into garbage).
fn checked(text: String, encoding: &'static str, had_bom: bool) -> Result<Decoded, ImportError> {
    if let Some(pos) = text.find(|c: char| c.is_control() && !matches!(c, '\t' | '\r' | '\n')) {
        return Err(ImportError::Encoding(format!(
            "decoded as {encoding} the file holds a control character at character {pos}; it is \
             not a text file in this encoding, give the right one with --encoding"
        )));
    }
    Ok(Decoded { text, encoding, had_bom })
}

/// UTF-16 without a byte-order mark: most ASCII text has a zero byte in
/// every other position.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.len() / 2;
    let even_zero = sample.chunks(2).filter(|p| p[0] == 0 && p[1] != 0).count();
    let odd_zero = sample.chunks(2).filter(|p| p[1] == 0 && p[0] != 0).count();
    if odd_zero * 10 >= pairs * 7 {
        Some(encoding_rs::UTF_16LE)
    } else if even_zero * 10 >= pairs * 7 {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

// ---------------------------------------------------------------- delimiters

/// Finds the column separator among `,` `;` tab and `|`: the one found on
/// the header line the same number of times on most of the first lines.
pub fn detect_delimiter(text: &str) -> Result<u8, ImportError> {
    // Records first (a quoted address may hold a line break); a quote left
    // open would make one record of the rest, so plain lines are the second try.
    let records = first_records(text, 50);
    let lines: Vec<&str> =
        text.split(['\r', '\n']).filter(|l| !l.trim().is_empty()).take(50).collect();
    decide_delimiter(&records).or_else(|err| decide_delimiter(&lines).map_err(|_| err))
}

fn decide_delimiter(lines: &[&str]) -> Result<u8, ImportError> {
    let Some(header) = lines.first() else {
        return Err(ImportError::Delimiter("the file is empty".into()));
    };
    let mut best: Option<(u8, usize, usize)> = None;
    for candidate in [b';', b',', b'\t', b'|'] {
        let in_header = count_outside_quotes(header, candidate);
        if in_header == 0 {
            continue;
        }
        let agreeing =
            lines.iter().filter(|l| count_outside_quotes(l, candidate) == in_header).count();
        let better = match best {
            None => true,
            Some((_, agree, count)) => agreeing > agree || (agreeing == agree && in_header > count),
        };
        if better {
            best = Some((candidate, agreeing, in_header));
        }
    }
    match best {
        Some((delimiter, agreeing, _)) if agreeing * 2 > lines.len() => Ok(delimiter),
        Some(_) => Err(ImportError::Delimiter(
            "the lines disagree on the separator; give it with --delimiter".into(),
        )),
        // One column only: any separator reads it.
        None => Ok(b','),
    }
}

/// The first `limit` non-blank records of the text: lines ending in LF, CRLF
/// or CR alone (old Mac exports), except where the break is inside a quoted
/// value (an address over two lines).
fn first_records(text: &str, limit: usize) -> Vec<&str> {
    let mut records = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (at, b) in text.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted => {
                records.extend(text.get(start..at).filter(|r| !r.trim().is_empty()));
                start = at + 1;
                if records.len() >= limit {
                    return records;
                }
            }
            _ => {}
        }
    }
    records.extend(text.get(start..).filter(|r| !r.trim().is_empty()));
    records
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            count += 1;
        }
    }
    count
}

/// Reads a `--delimiter` value: one character, or `tab`, `\t`, `semicolon`, `comma`, `pipe`.
pub fn parse_delimiter(text: &str) -> Result<u8, ImportError> {
    match text {
        "tab" | "\\t" | "\t" | "TAB" => Ok(b'\t'),
        "semicolon" => Ok(b';'),
        "comma" => Ok(b','),
        "pipe" => Ok(b'|'),
        t if t.len() == 1 && t.is_ascii() => Ok(t.as_bytes()[0]),
        t => Err(ImportError::Delimiter(format!("{t:?} is not a one-character separator"))),
    }
}

// ---------------------------------------------------------------- mapping

/// What a column holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Target {
    /// A phone number with its label (`main`, `mobile`, `work`, `home`).
    Phone(String),
    Name,
    FirstName,
    LastName,
    Address,
    PostalCode,
    /// An IANA zone name for the contact.
    Zone,
    /// A custom card field under this name.
    Field(String),
    Ignore,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Phone(label) => write!(f, "phone:{label}"),
            Target::Name => f.write_str("name"),
            Target::FirstName => f.write_str("first_name"),
            Target::LastName => f.write_str("last_name"),
            Target::Address => f.write_str("address"),
            Target::PostalCode => f.write_str("postal_code"),
            Target::Zone => f.write_str("zone"),
            Target::Field(name) => write!(f, "field:{name}"),
            Target::Ignore => f.write_str("ignore"),
        }
    }
}

impl Target {
    /// Reads a target as written in `--map`.
    pub fn parse(text: &str) -> Result<Target, ImportError> {
        let text = text.trim();
        let (kind, arg) = match text.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (text, None),
        };
        Ok(match (kind.to_ascii_lowercase().as_str(), arg) {
            ("phone", None) => Target::Phone("main".into()),
            ("phone", Some(label)) if !label.is_empty() => Target::Phone(label.into()),
            ("mobile", None) => Target::Phone("mobile".into()),
            ("name", None) => Target::Name,
            ("first_name", None) => Target::FirstName,
            ("last_name", None) => Target::LastName,
            ("address", None) => Target::Address,
            ("postal_code", None) => Target::PostalCode,
            ("zone", None) => Target::Zone,
            ("field", Some(name)) if !name.is_empty() => Target::Field(name.into()),
            ("ignore", None) => Target::Ignore,
            _ => {
                return Err(ImportError::Mapping(format!(
                    "unknown target {text:?} (phone, phone:LABEL, mobile, name, first_name, \
                     last_name, address, postal_code, zone, field:NAME, ignore)"
                )));
            }
        })
    }
}

/// One column's rule in a mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRule {
    /// The header as in the file (compared without case and spacing).
    pub header: String,
    pub target: Target,
}

/// Reads `--map` text: `Header=target` pairs separated by commas.
pub fn parse_mapping(spec: &str) -> Result<Vec<ColumnRule>, ImportError> {
    let mut rules = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((header, target)) = part.split_once('=') else {
            return Err(ImportError::Mapping(format!("{part:?} is not HEADER=TARGET")));
        };
        rules
            .push(ColumnRule { header: header.trim().to_string(), target: Target::parse(target)? });
    }
    Ok(rules)
}

fn normalise_header(header: &str) -> String {
    header
        .trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'å' | 'ä' | 'à' | 'á' | 'â' => 'a',
            'ö' | 'ø' | 'ó' | 'ô' => 'o',
            'é' | 'è' | 'ê' => 'e',
            'ü' | 'ú' => 'u',
            c => c,
        })
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The target a header suggests by itself (Swedish and English words).
pub fn recognise(header: &str) -> Target {
    let h = normalise_header(header);
    let phone_main = [
        "phone",
        "telephone",
        "telefon",
        "telefonnummer",
        "tel",
        "telnr",
        "phonenumber",
        "nummer",
        "number",
        "tfn",
        "tfnnr",
        "telno",
        "phoneno",
        "msisdn",
    ];
    let phone_mobile = [
        "mobile",
        "mobil",
        "mobilnummer",
        "mobiltelefon",
        "mobilnr",
        "cell",
        "cellphone",
        "gsm",
        "mobilephone",
        "mobilenumber",
        "handy",
    ];
    let phone_work = ["work", "workphone", "telarbete", "arbete", "direktnummer", "direct"];
    let phone_home = ["home", "homephone", "telhem", "hem", "hemtelefon"];
    match h.as_str() {
        _ if phone_main.contains(&h.as_str()) => Target::Phone("main".into()),
        _ if phone_mobile.contains(&h.as_str()) => Target::Phone("mobile".into()),
        _ if phone_work.contains(&h.as_str()) => Target::Phone("work".into()),
        _ if phone_home.contains(&h.as_str()) => Target::Phone("home".into()),
        "name" | "namn" | "fullname" | "fulltnamn" | "kontaktperson" | "contactname" | "kund"
        | "customer" | "customername" | "kundnamn" => Target::Name,
        "firstname" | "fornamn" | "givenname" | "first" => Target::FirstName,
        "lastname" | "efternamn" | "surname" | "familyname" | "last" => Target::LastName,
        "address" | "adress" | "gatuadress" | "street" | "streetaddress" | "utdelningsadress" => {
            Target::Address
        }
        "postalcode" | "postcode" | "zip" | "zipcode" | "postnummer" | "postnr" | "plz" => {
            Target::PostalCode
        }
        "zone" | "timezone" | "tidszon" | "tz" => Target::Zone,
        "city" | "ort" | "postort" | "stad" | "town" => Target::Field("city".into()),
        _ => Target::Field(header.trim().trim_start_matches('\u{feff}').to_string()),
    }
}

/// The headers for an error message: at most 20, each cut at 40 characters
/// (an unclosed quote on the header line makes one header of the whole file).
fn column_list(headers: &[String]) -> String {
    let mut shown: Vec<String> = headers
        .iter()
        .take(20)
        .map(|h| match h.char_indices().nth(40) {
            Some((at, _)) => format!("{}...", &h[..at]),
            None => h.clone(),
        })
        .collect();
    if headers.len() > 20 {
        shown.push(format!("and {} more", headers.len() - 20));
    }
    shown.join(", ")
}

/// The mapping for a file's headers: explicit rules first, recognition for
/// the other columns. Fails when a rule names a missing column or when no
/// column holds a phone number.
pub fn resolve_mapping(
    headers: &[String],
    rules: &[ColumnRule],
) -> Result<Vec<ColumnRule>, ImportError> {
    for rule in rules {
        let wanted = normalise_header(&rule.header);
        if !headers.iter().any(|h| normalise_header(h) == wanted) {
            return Err(ImportError::Mapping(format!(
                "no column {:?} in the file (columns: {})",
                rule.header,
                column_list(headers)
            )));
        }
    }
    let mut seen_name = false;
    let resolved: Vec<ColumnRule> = headers
        .iter()
        .map(|h| {
            let n = normalise_header(h);
            let target = rules
                .iter()
                .find(|r| normalise_header(&r.header) == n)
                .map(|r| r.target.clone())
                .unwrap_or_else(|| recognise(h));
            let target = match target {
                Target::Name if seen_name => Target::Field(h.trim().to_string()),
                Target::Name => {
                    seen_name = true;
                    Target::Name
                }
                other => other,
            };
            ColumnRule { header: h.trim().trim_start_matches('\u{feff}').to_string(), target }
        })
        .collect();
    if !resolved.iter().any(|r| matches!(r.target, Target::Phone(_))) {
        return Err(ImportError::Mapping(format!(
            "no column holds a phone number (columns: {}); map one with --map HEADER=phone",
            column_list(headers)
        )));
    }
    Ok(resolved)
}

// ---------------------------------------------------------------- zones

/// The contact's zone: an explicit hint, the postal code where a country
/// spans zones and the code tells (Spain's Canaries, Portugal's Azores),
/// else the number's country when it has one zone.
pub fn derive_zone(number: &PhoneNumber, postal_code: Option<&str>) -> Option<ZoneName> {
    zone_in(number.region()?, postal_code)
}

fn zone_in(region: Region, postal_code: Option<&str>) -> Option<ZoneName> {
    let digits: String = postal_code.unwrap_or("").chars().filter(char::is_ascii_digit).collect();
    let azores = ["95", "96", "97", "98", "99"].iter().any(|p| digits.starts_with(p));
    let zone = match (region.as_str(), digits.len()) {
        ("ES", 5) if digits.starts_with("35") || digits.starts_with("38") => {
            Some("Atlantic/Canary")
        }
        ("ES", 5) => Some("Europe/Madrid"),
        ("PT", 4 | 7) if azores => Some("Atlantic/Azores"),
        ("PT", 4 | 7) if digits.starts_with('9') => Some("Atlantic/Madeira"),
        ("PT", 4 | 7) => Some("Europe/Lisbon"),
        _ => None,
    };
    match zone {
        Some(name) => ZoneName::parse(name).ok(),
        None => single_zone_of(region),
    }
}

/// `+CC` of the default region when that calling code belongs to it alone:
/// numbers starting with it are of that region without parsing them again.
fn own_calling_code(region: Region) -> Option<String> {
    let db = &*phonenumber::metadata::DATABASE;
    let code = db.by_id(region.as_str())?.country_code();
    let regions = db.by_code(&code)?;
    (regions.len() == 1).then(|| format!("+{code}"))
}

// ---------------------------------------------------------------- import

/// Where duplicates are looked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupeScope {
    List,
    Campaign,
    System,
}

impl DedupeScope {
    pub fn parse(text: &str) -> Result<DedupeScope, ImportError> {
        match text {
            "list" => Ok(DedupeScope::List),
            "campaign" => Ok(DedupeScope::Campaign),
            "system" => Ok(DedupeScope::System),
            other => Err(ImportError::Mapping(format!(
                "dedupe scope {other:?} is not list, campaign or system"
            ))),
        }
    }
}

/// The bucket a row ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Created,
    Duplicate,
    Invalid,
    MissingPhone,
    Blocked,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::Created,
        Bucket::Duplicate,
        Bucket::Invalid,
        Bucket::MissingPhone,
        Bucket::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Created => "created",
            Bucket::Duplicate => "duplicate",
            Bucket::Invalid => "invalid",
            Bucket::MissingPhone => "missing_phone",
            Bucket::Blocked => "blocked_dnc",
        }
    }
}

/// What a duplicate row repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateOf {
    /// An earlier data row of the same file.
    Row(u64),
    /// A contact stored before.
    Contact(ContactId),
}

/// One data row's fate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowReport {
    /// The data row, 1 for the first row after the header.
    pub row: u64,
    /// The line of the file it starts on.
    pub line: u64,
    pub bucket: Bucket,
    /// Why (invalid), which list (blocked), notes on numbers left out.
    pub detail: String,
    pub contact: Option<ContactId>,
    pub duplicate_of: Option<DuplicateOf>,
    pub blocked_by: Option<String>,
}

/// The import's report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub encoding: String,
    pub delimiter: String,
    pub columns: Vec<(String, String)>,
    pub rows: Vec<RowReport>,
}

impl ImportReport {
    /// Rows in one bucket.
    pub fn count(&self, bucket: Bucket) -> u64 {
        self.rows.iter().filter(|r| r.bucket == bucket).count() as u64
    }

    /// Data rows read.
    pub fn total(&self) -> u64 {
        self.rows.len() as u64
    }

    /// The summary as a small text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("{:<15} {:>10}\n", "bucket", "rows"));
        for bucket in Bucket::ALL {
            out.push_str(&format!("{:<15} {:>10}\n", bucket.as_str(), self.count(bucket)));
        }
        out.push_str(&format!("{:<15} {:>10}\n", "total", self.total()));
        out
    }

    /// Every row's fate as CSV: row, line, bucket, contact, duplicate_of, blocked_by, detail.
    pub fn write_csv<W: Write>(&self, out: W) -> Result<(), ImportError> {
        let mut w = csv::Writer::from_writer(out);
        let csv_err = |err: csv::Error| ImportError::Csv(err.to_string());
        w.write_record([
            "row",
            "line",
            "bucket",
            "contact",
            "duplicate_of",
            "blocked_by",
            "detail",
        ])
        .map_err(csv_err)?;
        for r in &self.rows {
            let dup = match r.duplicate_of {
                Some(DuplicateOf::Row(row)) => format!("row {row}"),
                Some(DuplicateOf::Contact(c)) => c.to_string(),
                None => String::new(),
            };
            w.write_record([
                r.row.to_string(),
                r.line.to_string(),
                r.bucket.as_str().to_string(),
                r.contact.map(|c| c.0.to_string()).unwrap_or_default(),
                dup,
                r.blocked_by.clone().unwrap_or_default(),
                r.detail.clone(),
            ])
            .map_err(csv_err)?;
        }
        w.flush()?;
        Ok(())
    }
}

/// How to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    pub campaign: CampaignId,
    pub list: ListId,
    /// The region of numbers written in national form.
    pub region: Region,
    /// Explicit column rules; the other columns are recognised by header.
    pub mapping: Vec<ColumnRule>,
    pub delimiter: Option<u8>,
    /// An encoding label; detected when `None`.
    pub encoding: Option<String>,
    pub dedupe: DedupeScope,
}

/// A row after parsing, before dedupe and washing.
struct Parsed {
    row: u64,
    line: u64,
    contact: Option<NewContact>,
    /// Why the row has no contact, with its bucket.
    refusal: Option<(Bucket, String)>,
    notes: Vec<String>,
}

impl Store {
    /// Saves a column mapping under a name for later imports.
    pub async fn save_import_template(
        &self,
        name: &str,
        rules: &[ColumnRule],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(rules).expect("column rules always serialise");
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO import_templates (name, mapping, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET mapping = excluded.mapping",
            )
            .bind(name)
            .bind(&json)
            .bind(ms(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A saved column mapping.
    pub async fn import_template(&self, name: &str) -> Result<Vec<ColumnRule>, StoreError> {
        let json: Option<String> = on_db!(self, pool => {
            sqlx::query_scalar("SELECT mapping FROM import_templates WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        let json = json.ok_or_else(|| StoreError::NotFound(format!("import template {name}")))?;
        serde_json::from_str(&json).map_err(|err| StoreError::Corrupt(format!("template: {err}")))
    }

    /// The E.164 numbers already stored in a dedupe scope, with their contact.
    async fn existing_numbers(
        &self,
        scope: DedupeScope,
        campaign: CampaignId,
        list: ListId,
    ) -> Result<HashMap<u64, ContactId>, StoreError> {
        let (sql, key) = match scope {
            DedupeScope::List => {
                ("SELECT e164, contact_id FROM contact_numbers WHERE list_id = $1", list.0 as i64)
            }
            DedupeScope::Campaign => (
                "SELECT e164, contact_id FROM contact_numbers WHERE campaign_id = $1",
                campaign.0 as i64,
            ),
            DedupeScope::System => {
                ("SELECT e164, contact_id FROM contact_numbers WHERE $1 = $1", 0)
            }
        };
        let rows: Vec<(String, i64)> = on_db!(self, pool => {
            sqlx::query_as(sql).bind(key).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(e, c)| Some((number_key(e.strip_prefix('+')?)?, ContactId(c as u64))))
            .collect())
    }
}

/// Imports a file's bytes into a list. `progress(done, total)` is called
/// as rows are stored (bytes of the file).
pub async fn import_bytes(
    store: &Store,
    bytes: &[u8],
    options: &ImportOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
    now: Timestamp,
) -> Result<ImportReport, ImportError> {
    let decoded = decode(bytes, options.encoding.as_deref())?;
    let delimiter = match options.delimiter {
        Some(d) => d,
        None => detect_delimiter(&decoded.text)?,
    };
    let list = store.list(options.list).await?;
    if list.campaign != options.campaign {
        return Err(ImportError::Mapping(format!(
            "{} does not belong to {}",
            options.list, options.campaign
        )));
    }
    let headers: Vec<String> = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(decoded.text.as_bytes())
        .headers()
        .map_err(|err| ImportError::Csv(err.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mapping = resolve_mapping(&headers, &options.mapping)?;
    let total_bytes = decoded.text.len() as u64;
    // Numbers stored before this import. Numbers of contacts this import
    // creates are found in `seen` (every earlier row's numbers) first.
    let existing = store.existing_numbers(options.dedupe, options.campaign, options.list).await?;
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut report = ImportReport {
        encoding: decoded.encoding.to_string(),
        delimiter: match delimiter {
            b'\t' => "tab".to_string(),
            d => (d as char).to_string(),
        },
        columns: mapping.iter().map(|r| (r.header.clone(), r.target.to_string())).collect(),
        rows: Vec::new(),
    };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    // Reading and number parsing run on their own threads, one chunk ahead
    // of the database writes.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<Parsed>, u64)>(2);
    let text = decoded.text;
    let producer_mapping = mapping.clone();
    let region = options.region;
    let producer = tokio::task::spawn_blocking(move || {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(text.as_bytes());
        let mut records = reader.records();
        let mut row_no = 0u64;
        let mut offset = 0;
        let mut lines = LineCounter::default();
        loop {
            // A broken record is an invalid row, not an abort.
            let mut chunk: Vec<(u64, u64, Result<csv::StringRecord, String>)> = Vec::new();
            for item in records.by_ref() {
                row_no += 1;
                match item {
                    Ok(record) => {
                        let line = record
                            .position()
                            .map_or(0, |p| lines.line_at(text.as_bytes(), p.byte()));
                        offset = record.position().map_or(offset, |p| p.byte());
                        chunk.push((row_no, line, Ok(record)));
                    }
                    Err(err) => {
                        let line =
                            err.position().map_or(0, |p| lines.line_at(text.as_bytes(), p.byte()));
                        chunk.push((row_no, line, Err(err.to_string())));
                    }
                }
                if chunk.len() >= 20_000 {
                    break;
                }
            }
            if chunk.is_empty() {
                break;
            }
            let parsed = parse_chunk(&chunk, &producer_mapping, region, delimiter, threads);
            if tx.blocking_send((parsed, offset)).is_err() {
                break;
            }
        }
    });
    // One chunk's transaction runs in its own task while the next chunk is
    // deduplicated and washed here; chunks are still written one after the
    // other, in file order, each in one transaction.
    let mut writing: Option<ChunkWrite> = None;
    while let Some((parsed, offset)) = rx.recv().await {
        let mut batch: Vec<NewContact> = Vec::with_capacity(parsed.len());
        let mut batch_rows: Vec<usize> = Vec::with_capacity(parsed.len());
        for p in parsed {
            let index = report.rows.len();
            let mut row = RowReport {
                row: p.row,
                line: p.line,
                bucket: Bucket::Created,
                detail: p.notes.join("; "),
                contact: None,
                duplicate_of: None,
                blocked_by: None,
            };
            match (p.refusal, p.contact) {
                (Some((bucket, why)), _) => {
                    row.bucket = bucket;
                    row.detail = join_detail(&why, &row.detail);
                }
                (None, Some(contact)) => {
                    let mut duplicate = None;
                    let keys: Vec<u64> = contact
                        .numbers
                        .iter()
                        .filter_map(|n| number_key(n.number.digits()))
                        .collect();
                    for key in &keys {
                        if let Some(first) = seen.get(key) {
                            duplicate = Some(DuplicateOf::Row(*first));
                            break;
                        }
                        if let Some(c) = existing.get(key) {
                            duplicate = Some(DuplicateOf::Contact(*c));
                            break;
                        }
                    }
                    for key in keys {
                        seen.entry(key).or_insert(p.row);
                    }
                    if let Some(dup) = duplicate {
                        row.bucket = Bucket::Duplicate;
                        let of = match dup {
                            DuplicateOf::Row(r) => format!("duplicate of row {r}"),
                            DuplicateOf::Contact(c) => format!("duplicate of stored {c}"),
                        };
                        row.detail = join_detail(&of, &row.detail);
                        row.duplicate_of = Some(dup);
                    } else if let Some(block) = contact
                        .numbers
                        .iter()
                        .find_map(|n| store.dnc_check(&n.number, Some(options.campaign)))
                    {
                        row.bucket = Bucket::Blocked;
                        let added =
                            block.added_at.map(|a| format!(", added {a}")).unwrap_or_default();
                        row.detail = join_detail(
                            &format!("on do-not-call list {}{added}", block.list_name),
                            &row.detail,
                        );
                        row.blocked_by = Some(block.list_name);
                    } else {
                        batch.push(contact);
                        batch_rows.push(index);
                    }
                }
                (None, None) => {
                    row.bucket = Bucket::Invalid;
                    row.detail = join_detail("the row could not be read", &row.detail);
                }
            }
            report.rows.push(row);
        }
        if let Some(previous) = writing.take() {
            previous.finish(&mut report, progress, total_bytes).await?;
        }
        writing = Some(ChunkWrite::start(store, &list, batch, batch_rows, offset, now));
    }
    if let Some(last) = writing.take() {
        last.finish(&mut report, progress, total_bytes).await?;
    }
    producer.await.map_err(|err| ImportError::Csv(format!("the file reader stopped: {err}")))?;
    progress(total_bytes, total_bytes);
    tracing::info!(
        rows = report.total(),
        created = report.count(Bucket::Created),
        duplicates = report.count(Bucket::Duplicate),
        invalid = report.count(Bucket::Invalid),
        missing = report.count(Bucket::MissingPhone),
        blocked = report.count(Bucket::Blocked),
        "import finished"
    );
    Ok(report)
}

/// One chunk's contacts being stored (one transaction) by their own task.
struct ChunkWrite {
    task: tokio::task::JoinHandle<Result<Vec<ContactId>, StoreError>>,
    /// The report rows of the contacts, in the order given to the task.
    rows: Vec<usize>,
    /// How far into the file the chunk reaches, for the progress.
    offset: u64,
}

impl ChunkWrite {
    fn start(
        store: &Store,
        list: &crate::ListRow,
        batch: Vec<NewContact>,
        rows: Vec<usize>,
        offset: u64,
        now: Timestamp,
    ) -> ChunkWrite {
        let (store, list) = (store.clone(), list.clone());
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let ids = store.insert_contacts(&list, &batch, now).await?;
            tracing::debug!(
                rows = batch.len(),
                store_ms = started.elapsed().as_millis() as u64,
                "import chunk stored"
            );
            Ok(ids)
        });
        ChunkWrite { task, rows, offset }
    }

    /// Waits for the chunk's commit and notes the new contacts' ids.
    async fn finish(
        self,
        report: &mut ImportReport,
        progress: &(dyn Fn(u64, u64) + Sync),
        total_bytes: u64,
    ) -> Result<(), ImportError> {
        let ids = self.task.await.map_err(|err| {
            ImportError::Store(StoreError::Conflict(format!("the chunk writer stopped: {err}")))
        })??;
        for (index, id) in self.rows.iter().zip(ids) {
            report.rows[*index].contact = Some(id);
        }
        progress(self.offset.min(total_bytes), total_bytes);
        Ok(())
    }
}

/// An E.164 number's digits as one integer (at most 15 digits fit), the
/// cheap key of the dedupe maps.
fn number_key(digits: &str) -> Option<u64> {
    digits.parse().ok()
}

fn join_detail(first: &str, rest: &str) -> String {
    if rest.is_empty() { first.to_string() } else { format!("{first}; {rest}") }
}

fn parse_chunk(
    chunk: &[(u64, u64, Result<csv::StringRecord, String>)],
    mapping: &[ColumnRule],
    region: Region,
    delimiter: u8,
    threads: usize,
) -> Vec<Parsed> {
    let own_code = own_calling_code(region);
    let own_code = own_code.as_deref();
    if threads <= 1 || chunk.len() < 2000 {
        return chunk
            .iter()
            .map(|item| parse_row(item, mapping, region, delimiter, own_code))
            .collect();
    }
    let per = chunk.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|item| parse_row(item, mapping, region, delimiter, own_code))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// The line a record starts on, from its byte offset. The csv reader counts
/// only LF and gives a record's position before the line ends (and blank
/// lines) that precede it, so its own line is one too low after a CRLF and
/// useless for CR-only files. Here a line ends at LF, CRLF or a lone CR.
/// Offsets must come in increasing order; each byte is looked at once.
#[derive(Default)]
struct LineCounter {
    /// The byte counted up to (never inside a line end).
    pos: usize,
    /// The line `pos` is on, less one.
    ends: u64,
}

impl LineCounter {
    fn line_at(&mut self, bytes: &[u8], offset: u64) -> u64 {
        let mut start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        // The record itself starts after any line ends at its offset.
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        for i in self.pos..start.max(self.pos) {
            match bytes[i] {
                b'\n' => self.ends += 1,
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => self.ends += 1,
                _ => {}
            }
        }
        self.pos = start.max(self.pos);
        self.ends + 1
    }
}

/// A quoted value that runs over several lines, one of which holds as many
/// separators as a whole row: a quote was left open (or a stray one opened a
/// value) and the lines after it were read as part of one value. Such a row
/// is refused with the lines it covers, rather than stored with other rows
/// inside a field or counted as one row where there were several.
fn swallowed_rows(
    record: &csv::StringRecord,
    line: u64,
    columns: usize,
    delimiter: u8,
) -> Option<String> {
    let separators = columns.checked_sub(1).filter(|n| *n > 0)?;
    // Line breaks inside the values: CRLF counts once.
    let breaks = |v: &str| v.matches(['\r', '\n']).count() - v.matches("\r\n").count();
    let spread: usize = record.iter().map(breaks).sum();
    let whole_row_inside = record.iter().any(|value| {
        value
            .split(['\r', '\n'])
            .skip(1)
            .any(|part| part.bytes().filter(|b| *b == delimiter).count() >= separators)
    });
    if spread == 0 || !whole_row_inside {
        return None;
    }
    let last = line + spread as u64;
    Some(format!(
        "a quoted value runs from line {line} to line {last} and holds whole rows: a quote is \
         missing or unclosed; lines {line}-{last} were not imported, fix the quoting and import \
         them again"
    ))
}

fn parse_row(
    (row, line, record): &(u64, u64, Result<csv::StringRecord, String>),
    mapping: &[ColumnRule],
    region: Region,
    delimiter: u8,
    own_code: Option<&str>,
) -> Parsed {
    let mut parsed =
        Parsed { row: *row, line: *line, contact: None, refusal: None, notes: Vec::new() };
    let record = match record {
        Ok(record) => record,
        Err(why) => {
            parsed.refusal = Some((Bucket::Invalid, format!("unreadable row: {why}")));
            return parsed;
        }
    };
    if let Some(why) = swallowed_rows(record, *line, mapping.len(), delimiter) {
        parsed.refusal = Some((Bucket::Invalid, why));
        return parsed;
    }
    if record.len() > mapping.len() {
        let extra: Vec<&str> =
            record.iter().skip(mapping.len()).filter(|v| !v.trim().is_empty()).collect();
        if !extra.is_empty() {
            parsed.refusal = Some((
                Bucket::Invalid,
                format!(
                    "{} values but the header has {} columns \
                     (a separator inside an unquoted value?)",
                    record.len(),
                    mapping.len()
                ),
            ));
            return parsed;
        }
    }
    let mut contact = NewContact { source_row: Some(*row), ..NewContact::default() };
    let (mut first, mut last) = (None, None);
    let mut zone_hint = None;
    let mut phone_texts = 0;
    let mut refusals = Vec::new();
    for (rule, value) in mapping.iter().zip(record.iter()) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match &rule.target {
            Target::Phone(label) => {
                phone_texts += 1;
                match PhoneNumber::parse(value, region) {
                    Ok(number) => {
                        if !contact.numbers.iter().any(|n| n.number == number) {
                            contact.numbers.push(NewNumber {
                                number,
                                label: label.clone(),
                                raw: value.to_string(),
                            });
                        }
                    }
                    Err(err) => refusals.push(format!("{}: {err}", rule.header)),
                }
            }
            Target::Name => contact.name = Some(value.to_string()),
            Target::FirstName => first = Some(value.to_string()),
            Target::LastName => last = Some(value.to_string()),
            Target::Address => contact.address = Some(value.to_string()),
            Target::PostalCode => contact.postal_code = Some(value.to_string()),
            Target::Zone => zone_hint = Some(value.to_string()),
            Target::Field(name) => {
                contact.fields.insert(name.clone(), value.to_string());
            }
            Target::Ignore => {}
        }
    }
    if contact.name.is_none() {
        contact.name = match (first, last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (f, l) => f.or(l),
        };
    }
    if phone_texts == 0 {
        parsed.refusal = Some((Bucket::MissingPhone, "no phone number in the row".into()));
        return parsed;
    }
    if contact.numbers.is_empty() {
        parsed.refusal = Some((Bucket::Invalid, refusals.join("; ")));
        return parsed;
    }
    for why in refusals {
        parsed.notes.push(format!("left out {why}"));
    }
    let first = &contact.numbers[0].number;
    let postal = contact.postal_code.as_deref();
    let derived = || match own_code {
        Some(code) if first.as_str().starts_with(code) => zone_in(region, postal),
        _ => derive_zone(first, postal),
    };
    contact.zone = match zone_hint {
        Some(hint) => match ZoneName::parse(&hint) {
            Ok(zone) => Some(zone),
            Err(err) => {
                parsed.notes.push(format!("zone hint ignored: {err}"));
                derived()
            }
        },
        None => derived(),
    };
    parsed.contact = Some(contact);
    parsed
}
