//! Java value semantics that Ditto's in-memory RQL evaluation inherits (reference §4.3): numbers compared
//! as `BigDecimal`, strings in UTF-16 order, and the `Double.toString` / `BigDecimal.toString` renderings
//! that show up when Ditto falls back to comparing or matching string forms.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

/// A number as Ditto's `ThingPredicatePredicateVisitor` sees it. JSON numbers that Ditto's JSON model
/// reports as int/long become `Int`; everything else is a Java `Double`. Integers are kept exact (i128
/// covers both i64 and u64) rather than going through a double, so large IDs and counters compare
/// precisely.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum JNum {
    Int(i128),
    Float(f64),
}

impl JNum {
    /// The value Ditto would compare for a JSON number in the Thing. `None` only if serde_json cannot
    /// give the number as any primitive (it always can without `arbitrary_precision`).
    pub(crate) fn from_json(n: &serde_json::Number) -> Option<JNum> {
        if let Some(i) = n.as_i64() {
            return Some(JNum::Int(i.into()));
        }
        if let Some(u) = n.as_u64() {
            return Some(JNum::Int(u.into()));
        }
        n.as_f64().map(JNum::from_double)
    }

    /// Ditto's JSON model answers `isInt()/isLong()` for integral doubles (`(long) d == d`), and the
    /// visitor then hands the comparison a Long: an integral double compares (and renders) exactly.
    pub(crate) fn from_double(f: f64) -> JNum {
        // `as` saturates like Java's (long) cast; the round trip is exact only for integral values.
        let l = f as i64;
        if l as f64 == f {
            JNum::Int(l.into())
        } else {
            JNum::Float(f)
        }
    }

    /// `String.valueOf(obj)` of the Java value, which is what `like` matches against.
    pub(crate) fn java_value_string(self) -> String {
        match self {
            JNum::Int(i) => i.to_string(),
            JNum::Float(f) => java_double_to_string(f),
        }
    }

    /// `new BigDecimal(x.toString()).toString()`: the string Ditto compares when the other side is of a
    /// different, non-numeric type.
    pub(crate) fn big_decimal_string(self) -> String {
        match self {
            JNum::Int(i) => i.to_string(),
            JNum::Float(f) => java_big_decimal_string_of_double(f),
        }
    }
}

/// Numeric order of two Java numbers as `BigDecimal`s built from their `toString()`.
pub(crate) fn cmp_num(a: JNum, b: JNum) -> Ordering {
    match (a, b) {
        (JNum::Int(x), JNum::Int(y)) => x.cmp(&y),
        // The shortest round-trip decimal of a double preserves the order of doubles, so comparing the
        // doubles directly equals comparing their BigDecimals; -0.0 and 0.0 are equal either way.
        (JNum::Float(x), JNum::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (JNum::Int(x), JNum::Float(y)) => cmp_int_double(x, y),
        (JNum::Float(x), JNum::Int(y)) => cmp_int_double(y, x).reverse(),
    }
}

/// 2^53: below it every integer is a double and a double's shortest decimal is never an integer unless
/// the double is one, so exact comparison equals Ditto's decimal comparison.
const EXACT_DOUBLE_INTS: f64 = 9_007_199_254_740_992.0;

fn cmp_int_double(i: i128, f: f64) -> Ordering {
    if f.abs() < EXACT_DOUBLE_INTS {
        let floor = f.floor();
        // Exact: |floor| < 2^53.
        let floor_i = floor as i128;
        if f == floor {
            i.cmp(&floor_i)
        } else if i <= floor_i {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    } else {
        // Ditto compares against BigDecimal(Double.toString(f)), i.e. the shortest decimal, which can
        // differ from the double's exact binary value up here.
        let mut a = DecBuf::new();
        let mut b = DecBuf::new();
        match b.double(f) {
            Some(fd) => cmp_dec(&a.int(i), &fd),
            None => Ordering::Less, // infinities never reach here: literals are checked first
        }
    }
}

/// A decimal normalised for comparison: `±0.d₁d₂… × 10^exp`, digits `head ++ tail` with no leading or
/// trailing zeros (no digits at all means zero). Borrowed, so comparing allocates nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dec<'a> {
    neg: bool,
    head: &'a [u8],
    tail: &'a [u8],
    exp: i64,
}

impl<'a> Dec<'a> {
    const ZERO: Dec<'static> = Dec {
        neg: false,
        head: &[],
        tail: &[],
        exp: 0,
    };

    fn is_zero(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    fn signum(&self) -> i8 {
        if self.is_zero() {
            0
        } else if self.neg {
            -1
        } else {
            1
        }
    }

    fn digits(&self) -> impl Iterator<Item = &'a u8> {
        self.head.iter().chain(self.tail.iter())
    }

    pub(crate) fn to_owned_dec(self) -> OwnedDec {
        OwnedDec {
            neg: self.neg,
            digits: self.digits().copied().collect(),
            exp: self.exp,
        }
    }
}

/// `Dec` with owned digits, for literals parsed once at compile time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedDec {
    neg: bool,
    digits: Box<[u8]>,
    exp: i64,
}

impl OwnedDec {
    pub(crate) fn view(&self) -> Dec<'_> {
        Dec {
            neg: self.neg,
            head: &self.digits,
            tail: &[],
            exp: self.exp,
        }
    }

    pub(crate) fn of_num(n: JNum) -> Option<OwnedDec> {
        let mut buf = DecBuf::new();
        match n {
            JNum::Int(i) => Some(buf.int(i).to_owned_dec()),
            JNum::Float(f) => buf.double(f).map(Dec::to_owned_dec),
        }
    }
}

/// `a.compareTo(b)` for BigDecimals (numeric, scale ignored: 1.50 == 1.5).
pub(crate) fn cmp_dec(a: &Dec<'_>, b: &Dec<'_>) -> Ordering {
    let (sa, sb) = (a.signum(), b.signum());
    if sa != sb {
        return sa.cmp(&sb);
    }
    if sa == 0 {
        return Ordering::Equal;
    }
    // Without trailing zeros, a digit string that is a prefix of another is the smaller magnitude.
    let magnitude = a.exp.cmp(&b.exp).then_with(|| a.digits().cmp(b.digits()));
    if sa < 0 {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// Compares a Java number with a decimal parsed from a string (`field.compareTo(new BigDecimal(s))`).
pub(crate) fn cmp_num_dec(n: JNum, d: &Dec<'_>) -> Ordering {
    let mut buf = DecBuf::new();
    match n {
        JNum::Int(i) => cmp_dec(&buf.int(i), d),
        JNum::Float(f) => match buf.double(f) {
            Some(nd) => cmp_dec(&nd, d),
            None => Ordering::Less, // not reachable for JSON numbers, which are finite
        },
    }
}

/// Parses `new BigDecimal(String)` syntax: optional sign, digits with an optional point (at least one
/// digit), optional `e`/`E` exponent. `None` where Java throws NumberFormatException, including a scale
/// outside `int` ("Scale out of range", "Too many nonzero exponent digits"). Java also accepts non-ASCII
/// Unicode digits here; this does not.
pub(crate) fn parse_big_decimal(s: &str) -> Option<Dec<'_>> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int = &b[int_start..i];
    let mut frac: &[u8] = &[];
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = &b[frac_start..i];
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let exp_neg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            exp = exp.checked_mul(10)?.checked_add(i64::from(b[i] - b'0'))?;
            i += 1;
        }
        if exp_start == i {
            return None;
        }
        if exp_neg {
            exp = -exp;
        }
    }
    if i != b.len() {
        return None;
    }
    let scale = i64::try_from(frac.len()).ok()?.checked_sub(exp)?;
    if i32::try_from(scale).is_err() {
        return None;
    }
    Some(normalise(neg, int, frac, exp))
}

fn normalise<'a>(neg: bool, int: &'a [u8], frac: &'a [u8], exp: i64) -> Dec<'a> {
    let int_zeros = int.iter().take_while(|&&d| d == b'0').count();
    let (head, tail, first) = if int_zeros < int.len() {
        (&int[int_zeros..], frac, int_zeros)
    } else {
        let frac_zeros = frac.iter().take_while(|&&d| d == b'0').count();
        if frac_zeros == frac.len() {
            return Dec::ZERO;
        }
        (&frac[frac_zeros..], &[][..], int.len() + frac_zeros)
    };
    let tail = trim_trailing_zeros(tail);
    let (head, tail) = if tail.is_empty() {
        (trim_trailing_zeros(head), tail)
    } else {
        (head, tail)
    };
    // Lengths are bounded by the input; saturation only guards absurd inputs.
    let int_len = i64::try_from(int.len()).unwrap_or(i64::MAX);
    let first = i64::try_from(first).unwrap_or(i64::MAX);
    Dec {
        neg,
        head,
        tail,
        exp: int_len.saturating_sub(first).saturating_add(exp),
    }
}

fn trim_trailing_zeros(d: &[u8]) -> &[u8] {
    let keep = d.len() - d.iter().rev().take_while(|&&x| x == b'0').count();
    &d[..keep]
}

/// Stack buffer that renders a number's decimal digits, so number/string comparisons allocate nothing.
pub(crate) struct DecBuf {
    buf: [u8; 48],
    len: usize,
}

impl fmt::Write for DecBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl DecBuf {
    pub(crate) fn new() -> DecBuf {
        DecBuf {
            buf: [0; 48],
            len: 0,
        }
    }

    fn int(&mut self, i: i128) -> Dec<'_> {
        self.len = 0;
        // i128 has at most 39 digits: it always fits.
        let _ = write!(self, "{}", i.unsigned_abs());
        let digits = &self.buf[..self.len];
        if digits == b"0" {
            return Dec::ZERO;
        }
        let exp = i64::try_from(digits.len()).unwrap_or(i64::MAX);
        Dec {
            neg: i < 0,
            head: trim_trailing_zeros(digits),
            tail: &[],
            exp,
        }
    }

    /// BigDecimal(Double.toString(f)), see [`write_java_digits`].
    fn double(&mut self, f: f64) -> Option<Dec<'_>> {
        if !f.is_finite() {
            return None;
        }
        self.len = 0;
        write_java_digits(self, f).ok()?;
        let s = std::str::from_utf8(&self.buf[..self.len]).ok()?;
        parse_big_decimal(s)
    }
}

/// `String.compareTo`: lexicographic over UTF-16 code units (differs from Rust's code-point order when
/// a supplementary character meets one in U+E000..U+FFFF).
pub(crate) fn java_str_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let common = ab.iter().zip(bb).take_while(|(x, y)| x == y).count();
    if common == ab.len() || common == bb.len() {
        return ab.len().cmp(&bb.len());
    }
    // The shared prefix makes the char boundaries up to `common` the same in both strings.
    let mut start = common;
    while !a.is_char_boundary(start) {
        start -= 1;
    }
    match (a[start..].chars().next(), b[start..].chars().next()) {
        (Some(x), Some(y)) => utf16_units(x).cmp(&utf16_units(y)),
        _ => ab.len().cmp(&bb.len()),
    }
}

fn utf16_units(c: char) -> (u16, u16) {
    let mut buf = [0u16; 2];
    let units = c.encode_utf16(&mut buf);
    // A char is one or two UTF-16 units.
    (
        units.first().copied().unwrap_or(0),
        units.get(1).copied().unwrap_or(0),
    )
}

/// Writes the decimal digits Java's `Double.toString` (JDK 19+) chooses, in Rust's `d.ddde±x` form.
/// Both pick the shortest decimal that rounds back to `f`, closest to it; Java additionally considers
/// 2-digit decimals when 1 digit would do and takes the closer one (`Double.MIN_VALUE` is `4.9E-324`,
/// not `5e-324`). Allocation-free for the comparison path.
fn write_java_digits(out: &mut impl fmt::Write, f: f64) -> fmt::Result {
    let mut shortest = DecBuf::new();
    write!(shortest, "{f:e}")?;
    let s = std::str::from_utf8(&shortest.buf[..shortest.len]).map_err(|_| fmt::Error)?;
    let one_digit = !s.contains('.');
    if one_digit {
        let mut two = DecBuf::new();
        write!(two, "{f:.1e}")?;
        let t = std::str::from_utf8(&two.buf[..two.len]).map_err(|_| fmt::Error)?;
        if t.parse::<f64>() == Ok(f) {
            return out.write_str(t);
        }
    }
    out.write_str(s)
}

/// Java's digits and decimal exponent of a finite, non-zero double: value = d₁.d₂… × 10^exp, digits
/// without trailing zeros.
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let mut s = String::new();
    let _ = write_java_digits(&mut s, f);
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0".to_owned(),
        trimmed => trimmed.to_owned(),
    };
    (neg, digits, exp.parse().unwrap_or(0))
}

/// Java's `Double.toString` (JDK 19+ shortest form): plain `123.45` / `100.0` for 1e-3 <= |f| < 1e7,
/// otherwise `1.2345E-7`.
pub(crate) fn java_double_to_string(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-Infinity" } else { "Infinity" }.to_owned();
    }
    let (neg, digits, exp) = shortest_digits(f);
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// `new BigDecimal(Double.toString(f)).toString()`: the unscaled digits and scale of the Java string,
/// laid out by BigDecimal's rules (plain when scale >= 0 and adjusted exponent >= -6, else `d.dddE±n`).
pub(crate) fn java_big_decimal_string_of_double(f: f64) -> String {
    let java = java_double_to_string(f);
    let (neg, body) = match java.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, java.as_str()),
    };
    let (mantissa, exp) = match body.split_once('E') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = format!("{int}{frac}");
    let coeff = all.trim_start_matches('0');
    let coeff = if coeff.is_empty() { "0" } else { coeff };
    let scale = frac.len() as i64 - exp;
    let mut out = String::new();
    // BigInteger zero carries no sign: BigDecimal("-0.0") prints "0.0".
    if neg && coeff != "0" {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(coeff);
        return out;
    }
    let len = coeff.len() as i64;
    let adjusted = -scale + (len - 1);
    if scale > 0 && adjusted >= -6 {
        if len > scale {
            let point = (len - scale) as usize;
            out.push_str(&coeff[..point]);
            out.push('.');
            out.push_str(&coeff[point..]);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (scale - len) as usize));
            out.push_str(coeff);
        }
    } else {
        out.push_str(&coeff[..1]);
        if len > 1 {
            out.push('.');
            out.push_str(&coeff[1..]);
        }
        out.push('E');
        if adjusted > 0 {
            out.push('+');
        }
        out.push_str(&adjusted.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &str) -> Dec<'_> {
        match parse_big_decimal(s) {
            Some(d) => d,
            None => panic!("{s} should parse as BigDecimal"),
        }
    }

    #[test]
    fn big_decimal_syntax_matches_java() {
        // Expectations from `new BigDecimal(s)` on OpenJDK 17.
        let valid = [
            "1.",
            ".5",
            "+.5",
            "1e5",
            "1E+5",
            "007",
            "0.000",
            "-1.5e-3",
            "1e2147483647",
        ];
        for s in valid {
            assert!(parse_big_decimal(s).is_some(), "{s} is a valid BigDecimal");
        }
        let invalid = [
            "1e",
            ".",
            "",
            "-",
            " 1",
            "1_0",
            "1e-2147483648",
            "12e99999999999",
            "0x10",
            "1.5.2",
            "NaN",
            "Infinity",
            "1e+",
        ];
        for s in invalid {
            assert!(
                parse_big_decimal(s).is_none(),
                "{s} is not a valid BigDecimal"
            );
        }
    }

    #[test]
    fn decimals_compare_numerically_ignoring_scale() {
        let cases = [
            ("1.50", "1.5", Ordering::Equal),
            ("0", "-0.000", Ordering::Equal),
            ("10", "9.99", Ordering::Greater),
            ("-10", "-9.99", Ordering::Less),
            ("1e3", "999", Ordering::Greater),
            ("0.001", "1e-3", Ordering::Equal),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567891",
                Ordering::Less,
            ),
            ("100", "1e2", Ordering::Equal),
            ("0.1", "0.09", Ordering::Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp_dec(&dec(a), &dec(b)), want, "{a} vs {b}");
        }
    }

    #[test]
    fn large_integers_compare_exactly_against_doubles() {
        // 2^53 + 1 is not a double; Ditto's BigDecimal comparison still tells them apart.
        assert_eq!(
            cmp_num(
                JNum::Int(9_007_199_254_740_993),
                JNum::Float(9_007_199_254_740_992.0)
            ),
            Ordering::Greater
        );
        assert_eq!(cmp_num(JNum::Int(3), JNum::Float(2.5)), Ordering::Greater);
        assert_eq!(cmp_num(JNum::Int(-3), JNum::Float(-2.5)), Ordering::Less);
        assert_eq!(cmp_num(JNum::Int(2), JNum::Float(2.0)), Ordering::Equal);
        assert_eq!(
            cmp_num(
                JNum::Int(i128::from(u64::MAX)),
                JNum::Int(i128::from(u64::MAX) - 1)
            ),
            Ordering::Greater
        );
        // Above 2^53 Ditto compares with the shortest decimal of the double (1.152921504606847E18).
        assert_eq!(
            cmp_num(
                JNum::Int(1_152_921_504_606_846_976),
                JNum::Float(1_152_921_504_606_846_976.0)
            ),
            Ordering::Less
        );
    }

    #[test]
    fn integral_doubles_become_longs_like_dittos_json_model() {
        assert_eq!(JNum::from_double(5.0), JNum::Int(5));
        assert_eq!(JNum::from_double(-0.0), JNum::Int(0));
        assert_eq!(JNum::from_double(2.5), JNum::Float(2.5));
        assert_eq!(JNum::from_double(1e300), JNum::Float(1e300));
    }

    #[test]
    fn double_renderings_match_java() {
        // (value, Double.toString, new BigDecimal(Double.toString).toString()) from OpenJDK 17.
        let cases = [
            (1.0e10, "1.0E10", "1.0E+10"),
            (0.001, "0.001", "0.001"),
            (1.0e-5, "1.0E-5", "0.000010"),
            (123.456, "123.456", "123.456"),
            (100.0, "100.0", "100.0"),
            (
                1.797_693_134_862_315_7e308,
                "1.7976931348623157E308",
                "1.7976931348623157E+308",
            ),
            (4.9e-324, "4.9E-324", "4.9E-324"),
            (0.0, "0.0", "0.0"),
            (-0.0, "-0.0", "0.0"),
            (1.234e-5, "1.234E-5", "0.00001234"),
            (1.0e7, "1.0E7", "1.0E+7"),
            (9_999_999.0, "9999999.0", "9999999.0"),
            (5e-4, "5.0E-4", "0.00050"),
            (-2.5, "-2.5", "-2.5"),
        ];
        for (f, java, big) in cases {
            assert_eq!(java_double_to_string(f), java, "Double.toString({f})");
            assert_eq!(
                java_big_decimal_string_of_double(f),
                big,
                "BigDecimal of {f}"
            );
        }
    }

    #[test]
    fn strings_compare_in_utf16_order() {
        // Java: "\uFFFF".compareTo("😀") > 0 although U+FFFF < U+1F600 as code points.
        assert_eq!(java_str_cmp("\u{FFFF}", "😀"), Ordering::Greater);
        assert_eq!(java_str_cmp("a", "😀"), Ordering::Less);
        assert_eq!(java_str_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(java_str_cmp("ab", "abc"), Ordering::Less);
        assert_eq!(java_str_cmp("é", "e"), Ordering::Greater);
        assert_eq!(java_str_cmp("same", "same"), Ordering::Equal);
    }

    proptest! {
        #[test]
        fn decimal_comparison_agrees_with_integer_comparison(a in any::<i64>(), b in any::<i64>(), za in 0usize..4, zb in 0usize..4) {
            // Trailing ".000" and zero padding must not change the order.
            let sa = format!("{a}.{}", "0".repeat(za));
            let sb = format!("{b}{}", if zb > 0 { format!("e0{}", "0".repeat(zb)) } else { String::new() });
            let (sa, sb) = (sa.trim_end_matches('.').to_owned(), sb);
            prop_assert_eq!(cmp_dec(&dec(&sa), &dec(&sb)), a.cmp(&b));
            prop_assert_eq!(cmp_num_dec(JNum::Int(a.into()), &dec(&sb)), a.cmp(&b));
        }

        #[test]
        fn decimal_comparison_agrees_with_double_comparison(a in -1e12f64..1e12, b in -1e12f64..1e12) {
            let (sa, sb) = (format!("{a:e}"), format!("{b:e}"));
            prop_assert_eq!(cmp_dec(&dec(&sa), &dec(&sb)), a.partial_cmp(&b).unwrap_or(Ordering::Equal));
            prop_assert_eq!(cmp_num(JNum::Float(a), JNum::Float(b)), cmp_num_dec(JNum::Float(a), &dec(&sb)));
        }

        #[test]
        fn utf16_order_agrees_with_encoded_units(a in "\\PC{0,6}", b in "\\PC{0,6}") {
            let want = a.encode_utf16().cmp(b.encode_utf16());
            prop_assert_eq!(java_str_cmp(&a, &b), want);
        }
    }
}
