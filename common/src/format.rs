//! Numbers printed the way Ditto's Java messages print them (`java.text.MessageFormat`'s default
//! number format), so error texts such as the size limits match Ditto's.

/// A `double` as `MessageFormat` prints it (`NumberFormat.getInstance()` in an English locale): at most
/// three fraction digits, half-even rounding, no trailing zeros, `,` grouping.
pub fn java_number(x: f64) -> String {
    // Work in thousandths so the rounding is done once, half-even, on an exact integer.
    let scaled = x * 1000.0;
    let floor = scaled.floor();
    let frac = scaled - floor;
    let mut thousandths = floor as u64;
    if frac > 0.5 || (frac == 0.5 && thousandths % 2 == 1) {
        thousandths += 1;
    }
    let int = thousandths / 1000;
    let mut fraction = format!("{:03}", thousandths % 1000);
    while fraction.ends_with('0') {
        fraction.pop();
    }
    let digits = int.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if fraction.is_empty() {
        grouped
    } else {
        format!("{grouped}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_message_format() {
        for (x, s) in [
            (100.0, "100"),
            (100.0009765625, "100.001"),
            (2048.0, "2,048"),
            (0.5, "0.5"),
            (1234567.125, "1,234,567.125"),
        ] {
            assert_eq!(java_number(x), s, "{x}");
        }
    }
}
