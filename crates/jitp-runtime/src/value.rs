//! Primitive values shared by the compiler and the VM: durations, instants,
//! addresses and CIDR networks, with their parsing and formatting, and the
//! canonical form of identities.
//!
//! Time and durations are counted in whole microseconds in an `i64`, which
//! covers about ±292,000 years around 1970. RFC 3339 input with finer
//! precision is truncated toward the past.

use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// How many characters of user input a message quotes before `…`.
pub(crate) const QUOTE_CHARS: usize = 64;

/// User input for a message: whole when short, else its first
/// [`QUOTE_CHARS`] characters and `…`, so that a huge key or value cannot
/// make a huge message.
pub(crate) struct Clip<'a>(pub(crate) &'a str);

impl fmt::Display for Clip<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(QUOTE_CHARS) {
            None => f.write_str(self.0),
            Some((end, _)) => {
                f.write_str(self.0.get(..end).unwrap_or_default())?;
                f.write_str("…")
            }
        }
    }
}

/// The canonical form of an address: an IPv4-mapped IPv6 address
/// (`::ffff:203.0.113.7`) is the IPv4 address it maps (`203.0.113.7`);
/// any other address is itself. Every address jitp reads (request values,
/// literals, networks) is canonical, so an IPv4 network contains the mapped
/// spelling of its addresses and equality sees one address, not two.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Parses an IPv4 or IPv6 address into its canonical form (see
/// [`canonical_ip`]).
pub fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.parse::<IpAddr>()
        .map(canonical_ip)
        .map_err(|_| format!("`{}` is not a valid ip address", Clip(text)))
}

/// Invisible code points no identity may contain: the format characters
/// (general category Cf: soft hyphen, zero-width space and joiners, bidi
/// controls, word joiner, byte order mark, tags, …) and the other default
/// ignorable code points (variation selectors, Hangul fillers, the
/// combining grapheme joiner, Mongolian free variation selectors, …).
/// Inclusive ranges, sorted.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

fn invisible(c: char) -> bool {
    INVISIBLE.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

/// The canonical form of an identity (a principal's or resource's id, an
/// approver's name): its Unicode NFC normalisation, compared byte for byte
/// (case-sensitive). Refused, with the reason: an identity that is empty,
/// starts or ends with whitespace, or contains a control character
/// (general category Cc), an invisible character (format characters, Cf,
/// and the other default-ignorable code points) or whitespace other than
/// the space U+0020. Each is a second spelling of a name that looks the
/// same, or no name at all.
pub fn canonical_identity(s: &str) -> Result<Cow<'_, str>, String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.starts_with(char::is_whitespace) {
        return Err("it starts with whitespace".into());
    }
    if s.ends_with(char::is_whitespace) {
        return Err("it ends with whitespace".into());
    }
    // Most identities are ASCII: no invisible characters, already NFC.
    if s.is_ascii() {
        if let Some(b) = s.bytes().find(u8::is_ascii_control) {
            return Err(format!(
                "it contains U+{:04X}, a control character",
                u32::from(b)
            ));
        }
        return Ok(Cow::Borrowed(s));
    }
    if let Some(c) = s
        .chars()
        .find(|&c| c.is_control() || invisible(c) || (c.is_whitespace() && c != ' '))
    {
        let what = if c.is_control() {
            "a control character"
        } else if c.is_whitespace() {
            "whitespace other than a space"
        } else {
            "an invisible character"
        };
        return Err(format!("it contains U+{:04X}, {what}", u32::from(c)));
    }
    Ok(match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => Cow::Borrowed(s),
        _ => Cow::Owned(s.nfc().collect()),
    })
}

/// Who an approval is by, for telling approvers apart: a canonical
/// identity with its case folded (Unicode lowercase). Two approvals whose
/// approvers differ only in case count once, and one by the principal in
/// another case does not count, so counting errs toward fewer approvals,
/// never more.
pub fn approver_key(id: &str) -> String {
    id.to_lowercase()
}

/// A span of time in microseconds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

const UNITS: [(&str, i64); 5] = [
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
];

impl Duration {
    /// Parses `15m`, `1h30m`, `500ms`: digits and units (`d h m s ms`), largest first.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let mut total: i64 = 0;
        let mut rest = text;
        let mut last_rank: Option<usize> = None;
        if rest.is_empty() {
            return Err("empty duration".into());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!("invalid duration `{}`", Clip(text)));
            }
            let (num, tail) = rest.split_at(digits);
            let unit_len = tail
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_len);
            let Some(rank) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(format!(
                    "invalid duration unit `{}` in `{}`",
                    Clip(unit),
                    Clip(text)
                ));
            };
            if last_rank.is_some_and(|r| r >= rank) {
                return Err(format!(
                    "units of duration `{}` must go from largest to smallest, each once",
                    Clip(text)
                ));
            }
            last_rank = Some(rank);
            let n: i64 = num
                .parse()
                .map_err(|_| format!("duration `{}` is too large", Clip(text)))?;
            let part = n
                .checked_mul(UNITS[rank].1)
                .and_then(|p| total.checked_add(p))
                .ok_or_else(|| format!("duration `{}` is too large", Clip(text)))?;
            total = part;
            rest = tail;
        }
        Ok(Duration(total))
    }

    /// Microseconds.
    pub fn micros(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0.unsigned_abs();
        if self.0 < 0 {
            f.write_str("-")?;
        }
        for (unit, size) in UNITS {
            let size = size as u64;
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        if rest > 0 {
            write!(f, "{rest}us")?;
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A fixed-point decimal for money amounts: an `i64` counting millionths
/// ([`Decimal::SCALE`]), so six fractional digits and a range of about
/// ±9.2 × 10^12. Exact: `1.5` and `1.50` are the same value, and nothing is
/// ever rounded (text with more digits than the precision is refused).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal(pub i64);

/// Why a decimal's text was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecimalError {
    /// Not of the form `[-]digits[.digits]`.
    Syntax,
    /// More fractional digits than [`Decimal::DIGITS`].
    TooPrecise,
    /// Outside the range of a decimal.
    OutOfRange,
}

impl Decimal {
    /// Fractional digits a decimal keeps.
    pub const DIGITS: u32 = 6;
    /// The scale: one is `Decimal(SCALE)`.
    pub const SCALE: i64 = 1_000_000;

    /// Parses `12.50`, `-3.5`, `0.000001` or `12`: an optional `-`, digits,
    /// and optionally a `.` followed by one to six digits. No `+`, no
    /// exponent, no leading or trailing `.`, no spaces.
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let (neg, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return Err(DecimalError::Syntax);
        }
        let frac = frac.unwrap_or("");
        if frac.len() > Self::DIGITS as usize {
            return Err(DecimalError::TooPrecise);
        }
        // Accumulate negatively so that the most negative value parses.
        let mut units: i64 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_sub(i64::from(b - b'0')))
                .ok_or(DecimalError::OutOfRange)?;
        }
        for _ in frac.len()..Self::DIGITS as usize {
            units = units.checked_mul(10).ok_or(DecimalError::OutOfRange)?;
        }
        if neg {
            Ok(Decimal(units))
        } else {
            units
                .checked_neg()
                .map(Decimal)
                .ok_or(DecimalError::OutOfRange)
        }
    }

    /// The decimal equal to an integer, `None` when out of range.
    pub fn from_int(i: i64) -> Option<Decimal> {
        i.checked_mul(Self::SCALE).map(Decimal)
    }

    /// A message for a refused text, quoting it.
    pub fn error_message(text: &str, e: &DecimalError) -> String {
        match e {
            DecimalError::Syntax => format!(
                "`{}` is not a decimal: write digits with an optional `.` and up to 6 fractional digits, such as `12.50`",
                Clip(text)
            ),
            DecimalError::TooPrecise => format!(
                "decimal `{}` has more than 6 fractional digits",
                Clip(text)
            ),
            DecimalError::OutOfRange => format!(
                "decimal `{}` is out of range (at most {} in magnitude)",
                Clip(text),
                Decimal(i64::MAX)
            ),
        }
    }
}

/// The canonical form: a `-` for negative values, the integer digits, a
/// `.` and the fractional digits without trailing zeros but at least one
/// (`12.5`, `500.0`, `0.000001`, `-3.5`), which reads back as the same
/// decimal literal.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = self.0.unsigned_abs();
        let scale = Self::SCALE as u64;
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let mut frac = format!("{:06}", abs % scale);
        while frac.len() > 1 && frac.ends_with('0') {
            frac.pop();
        }
        write!(f, "{}.{frac}", abs / scale)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An instant: microseconds since 1970-01-01T00:00:00Z.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub i64);

impl Time {
    /// Parses an RFC 3339 timestamp such as `2026-11-22T10:00:00Z`.
    pub fn parse(text: &str) -> Result<Time, String> {
        let dt = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("`{}` is not an RFC 3339 time ({e})", Clip(text)))?;
        let nanos = dt.unix_timestamp_nanos();
        let micros = nanos.div_euclid(1_000);
        i64::try_from(micros)
            .map(Time)
            .map_err(|_| format!("`{}` is out of range", Clip(text)))
    }

    /// The last instant RFC 3339 can write: `9999-12-31T23:59:59.999999Z`.
    pub const LATEST: Time = Time(253_402_300_799_999_999);

    /// Adds a duration, `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Time> {
        self.0.checked_add(d.0).map(Time)
    }

    /// When a grant of `ttl` started at `self` expires: `self + ttl`, capped
    /// at [`Time::LATEST`] so that a huge `ttl` still gives a finite,
    /// writable expiry (never an unlimited grant).
    pub fn grant_expiry(self, ttl: Duration) -> Time {
        Time(self.0.saturating_add(ttl.0).min(Self::LATEST.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.0) * 1_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }) {
            Some(s) => f.write_str(&s),
            None => write!(f, "@{}us", self.0),
        }
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A CIDR network: an address and a prefix length, host bits cleared.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8` or `fd00::/8`. Host bits must be zero.
    ///
    /// A network of IPv4-mapped IPv6 addresses is the IPv4 network it maps:
    /// `::ffff:10.0.0.0/104` is `10.0.0.0/8` (see [`canonical_ip`]).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = text.split_once('/').ok_or_else(|| {
            format!(
                "`{}` is not a network: expected `address/prefix`",
                Clip(text)
            )
        })?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{}` is not a valid ip address", Clip(addr)))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 =
            prefix.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("prefix `/{}` is out of range (at most {max})", Clip(prefix))
            })?;
        let cidr = Cidr { addr, prefix };
        if cidr.network_bits() != ip_bits(addr) {
            return Err(format!(
                "`{}` has host bits set; the network is `{}/{prefix}`",
                Clip(text),
                bits_to_ip(addr.is_ipv4(), cidr.network_bits())
            ));
        }
        Ok(cidr.canonical())
    }

    /// The canonical form: a network inside `::ffff:0:0/96` (IPv4-mapped
    /// addresses) is the IPv4 network it maps, prefix less 96; any other
    /// network is itself.
    pub fn canonical(self) -> Cidr {
        match self.addr {
            IpAddr::V6(v6) if self.prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Cidr {
                    addr: IpAddr::V4(v4),
                    prefix: self.prefix - 96,
                },
                None => self,
            },
            _ => self,
        }
    }

    fn mask(&self) -> u128 {
        let width: u32 = if self.addr.is_ipv4() { 32 } else { 128 };
        let prefix = u32::from(self.prefix).min(width);
        if prefix == 0 {
            0
        } else {
            let ones = u128::MAX << (128 - prefix);
            ones >> (128 - width)
        }
    }

    fn network_bits(&self) -> u128 {
        ip_bits(self.addr) & self.mask()
    }

    /// Whether `ip` lies inside this network. Both are taken in their
    /// canonical form (an IPv4-mapped IPv6 address is its IPv4 address),
    /// then the families must match: an IPv6 network such as `::/0` holds
    /// no IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let net = self.canonical();
        let ip = canonical_ip(ip);
        ip.is_ipv4() == net.addr.is_ipv4() && ip_bits(ip) & net.mask() == net.network_bits()
    }
}

/// The address as an integer (IPv4 in the low 32 bits).
pub fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn bits_to_ip(v4: bool, bits: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(std::net::Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(std::net::Ipv6Addr::from(bits))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("1h30m"), Ok(Duration(5_400_000_000)));
        assert_eq!(Duration::parse("500ms"), Ok(Duration(500_000)));
        assert!(Duration::parse("30m1h").is_err());
        assert!(Duration::parse("1m1m").is_err());
        assert!(Duration::parse("99999999999999999d").is_err());
        assert_eq!(Duration(5_400_000_000).to_string(), "1h30m");
    }

    #[test]
    fn decimals_parse_exactly_and_print_canonically() {
        assert_eq!(Decimal::parse("12.50"), Ok(Decimal(12_500_000)));
        assert_eq!(Decimal::parse("12.5"), Decimal::parse("12.500000"));
        assert_eq!(Decimal::parse("12"), Ok(Decimal(12_000_000)));
        assert_eq!(Decimal::parse("-3.5"), Ok(Decimal(-3_500_000)));
        assert_eq!(Decimal::parse("0.000001"), Ok(Decimal(1)));
        assert_eq!(Decimal::parse("-0.0"), Ok(Decimal(0)));
        assert_eq!(Decimal::parse("0.0000001"), Err(DecimalError::TooPrecise));
        for bad in [
            "", "-", ".5", "5.", "1e3", "1.5e2", "+1", " 1", "1 ", "1.-5", "--1", "1..2", "0x10",
        ] {
            assert_eq!(Decimal::parse(bad), Err(DecimalError::Syntax), "{bad}");
        }
        assert_eq!(
            Decimal::parse("9223372036854.775807"),
            Ok(Decimal(i64::MAX))
        );
        assert_eq!(
            Decimal::parse("-9223372036854.775808"),
            Ok(Decimal(i64::MIN))
        );
        assert_eq!(
            Decimal::parse("9223372036854.775808"),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(
            Decimal::parse("10000000000000"),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(Decimal(12_500_000).to_string(), "12.5");
        assert_eq!(Decimal(500_000_000).to_string(), "500.0");
        assert_eq!(Decimal(1).to_string(), "0.000001");
        assert_eq!(Decimal(-3_500_000).to_string(), "-3.5");
        assert_eq!(Decimal(0).to_string(), "0.0");
        assert_eq!(Decimal(i64::MIN).to_string(), "-9223372036854.775808");
        assert_eq!(Decimal(-1).to_string(), "-0.000001");
        for v in [0, 1, -1, 12_500_000, i64::MAX, i64::MIN, -999_999] {
            assert_eq!(Decimal::parse(&Decimal(v).to_string()), Ok(Decimal(v)));
        }
    }

    #[test]
    fn times() {
        let t = Time::parse("2026-11-22T10:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-22T10:00:00Z");
        assert_eq!(Time::parse("2026-11-22T11:00:00+01:00"), Ok(t));
        assert!(Time::parse("2026-13-22T10:00:00Z").is_err());
    }

    #[test]
    fn networks() {
        let n = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.1.2.3".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.1/8").is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse_ip("::ffff:10.0.0.1"), Ok(v4("10.0.0.1")));
        assert_eq!(parse_ip("::FFFF:a00:1"), Ok(v4("10.0.0.1")));
        // other IPv6 addresses stay themselves, IPv4-compatible ones too
        assert_eq!(parse_ip("::1"), Ok(v4("::1")));
        assert_eq!(parse_ip("::10.0.0.1"), Ok(v4("::10.0.0.1")));
        assert_eq!(
            Cidr::parse("::ffff:10.0.0.0/104"),
            Cidr::parse("10.0.0.0/8")
        );
        assert_eq!(Cidr::parse("::ffff:0:0/96"), Cidr::parse("0.0.0.0/0"));
        assert!(Cidr::parse("::ffff:10.0.0.1/104").is_err());
        let n = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(n.contains(v4("::ffff:203.0.113.7")));
        assert!(!n.contains(v4("::ffff:203.0.114.7")));
        // a net built by hand from a mapped address behaves as its IPv4 net
        let raw = Cidr {
            addr: v4("::ffff:203.0.113.0"),
            prefix: 120,
        };
        assert!(raw.contains(v4("203.0.113.9")));
        assert!(!Cidr::parse("::/0").unwrap().contains(v4("::ffff:1.2.3.4")));
    }

    #[test]
    fn messages_quote_at_most_64_characters_of_input() {
        let long = "9".repeat(100_000);
        for e in [
            Duration::parse(&format!("{long}x")).unwrap_err(),
            Time::parse(&long).unwrap_err(),
            Cidr::parse(&long).unwrap_err(),
            parse_ip(&long).unwrap_err(),
        ] {
            assert!(e.len() < 200, "{} bytes: {}", e.len(), &e[..200]);
            assert!(e.contains(&format!("{}…", "9".repeat(64))), "{e}");
        }
        assert_eq!(Clip("short").to_string(), "short");
        assert_eq!(Clip(&"é".repeat(64)).to_string(), "é".repeat(64));
        assert_eq!(
            Clip(&"é".repeat(65)).to_string(),
            format!("{}…", "é".repeat(64))
        );
    }
}
