//! Masking of personal data in free text, before it is published or exported.
//!
//! Opinions and questions are typed by citizens, who often leave a phone
//! number, an ID number or an e-mail address in them. Before such text leaves
//! the service in an export, [`mask_personal_data`] replaces the identifying
//! middle of each of these with `*`:
//!
//! | what | example | masked |
//! |---|---|---|
//! | mainland mobile (11 digits, `1[3-9]…`) | `+86 138-1234-5678` | `+86 138-****-5678` |
//! | landline (area code + 7–8 digits) | `(010)12345678` | `(010)******78` |
//! | resident ID (18, or the old 15) | `11010519900307123X` | `110105********123X` |
//! | bank card (16–19 digits; Luhn-valid or UnionPay 62…) | `6222 0212 3456 7890` | `6222 02** **** 7890` |
//! | e-mail | `zhang.san@example.com` | `z***@example.com` |
//!
//! Rules the scanner follows, and why:
//! - **Digits are matched as whole runs.** A number counts only when the run
//!   of digits it sits in has exactly the right length: the 11 digits inside
//!   a 20-digit order number are not a phone number, and a 20-digit run is
//!   left alone entirely rather than half-masked. Runs of other lengths —
//!   dates, prices, case and order numbers (工单号) — are never touched, because
//!   staff reading the export need them (a 16–19 digit run is masked as a bank
//!   card only when it passes the Luhn check or starts with 62).
//! - **Full-width digits (０-９) are digits**: phone keyboards produce them.
//!   Kept digits stay as written; every masked character becomes an ASCII `*`.
//! - **Separators are kept as written** (`138 1234 5678` → `138 **** 5678`), so
//!   the text still reads the same. Groups may be separated by a space, a
//!   hyphen, or their full-width forms.
//! - **Over-masking beats under-masking**: ID numbers are not checksum-tested
//!   (a mistyped ID is still personal), and no attempt is made to tell a real
//!   area code from an invented one beyond its shape.
//! - **Idempotent**: masked output never matches again, so masking twice is
//!   the same as masking once.

use std::borrow::Cow;
use std::ops::Range;

/// Mask mobile and landline numbers, resident ID numbers and e-mail addresses
/// in `text`. Borrows when there is nothing to mask.
pub fn mask_personal_data(text: &str) -> Cow<'_, str> {
    let chars: Vec<char> = text.chars().collect();
    let emails = find_emails(&chars);
    let mut edits: Vec<Edit> = emails.iter().map(|range| mask_email(&chars, range.clone())).collect();
    edits.extend(find_numbers(&chars, &emails));
    if edits.is_empty() {
        return Cow::Borrowed(text);
    }
    edits.sort_by_key(|edit| edit.range.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for edit in edits {
        out.extend(&chars[at..edit.range.start]);
        out.push_str(&edit.replacement);
        at = edit.range.end;
    }
    out.extend(&chars[at..]);
    Cow::Owned(out)
}

/// Where `text` holds personal data, as char (code point) ranges in order:
/// what [`mask_personal_data`] would mask, for the moderators' screen, which
/// shows the original with these marked.
pub fn personal_data_spans(text: &str) -> Vec<Span> {
    let chars: Vec<char> = text.chars().collect();
    let emails = find_emails(&chars);
    let mut spans: Vec<Span> = emails
        .iter()
        .map(|r| Span {
            start: r.start,
            end: r.end,
        })
        .collect();
    spans.extend(find_numbers(&chars, &emails).into_iter().map(|edit| Span {
        start: edit.range.start,
        end: edit.range.end,
    }));
    spans.sort_by_key(|span| span.start);
    spans
}

/// A run of personal data in a text: chars `start..end` (code points).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// Replace the chars in `range` (char indices) with `replacement`.
struct Edit {
    range: Range<usize>,
    replacement: String,
}

impl Edit {
    /// Keep the chars of `range` except those at `masked` (indices into `chars`), which become `*`.
    fn star(chars: &[char], range: Range<usize>, masked: impl IntoIterator<Item = usize>) -> Edit {
        let mut kept: Vec<char> = chars[range.clone()].to_vec();
        for i in masked {
            kept[i - range.start] = '*';
        }
        Edit {
            range,
            replacement: kept.into_iter().collect(),
        }
    }
}

// ---- e-mail ----

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// Char ranges of the e-mail addresses in `chars`, in order, not overlapping.
fn find_emails(chars: &[char]) -> Vec<Range<usize>> {
    let mut found: Vec<Range<usize>> = Vec::new();
    for (at, _) in chars.iter().enumerate().filter(|(_, c)| **c == '@') {
        let floor = found.last().map_or(0, |prev| prev.end);
        if at < floor {
            continue;
        }
        let mut start = at;
        while start > floor && is_local_char(chars[start - 1]) {
            start -= 1;
        }
        // A sentence may run straight into the address: "请发至.abc@x.cn" has no local part ".abc".
        while start < at && matches!(chars[start], '.' | '-') {
            start += 1;
        }
        let mut end = at + 1;
        while end < chars.len() && is_domain_char(chars[end]) {
            end += 1;
        }
        // "…@example.com." ends a sentence; the last dot is not part of the domain.
        while end > at + 1 && matches!(chars[end - 1], '.' | '-') {
            end -= 1;
        }
        if start < at && is_domain(&chars[at + 1..end]) {
            found.push(start..end);
        }
    }
    found
}

/// At least two non-empty labels, the last one (the top-level domain) two or more letters.
fn is_domain(domain: &[char]) -> bool {
    let domain: String = domain.iter().collect();
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| !label.is_empty())
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// `zhang.san@example.com` → `z***@example.com`: a fixed three stars, so the length does not show.
fn mask_email(chars: &[char], range: Range<usize>) -> Edit {
    let at = range.start + chars[range.clone()].iter().position(|c| *c == '@').unwrap_or(0);
    let mut replacement = String::new();
    replacement.push(chars[range.start]);
    replacement.push_str("***");
    replacement.extend(&chars[at..range.end]);
    Edit { range, replacement }
}

// ---- numbers ----

/// The value of an ASCII or full-width digit.
pub(crate) fn digit(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '０'..='９' => Some((c as u32 - '０' as u32) as u8),
        _ => None,
    }
}

fn is_digit(c: char) -> bool {
    digit(c).is_some()
}

/// A separator between digit groups: space or hyphen, half- or full-width.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\u{3000}' | '－')
}

fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '－')
}

/// The char at `i`, if any.
fn at(chars: &[char], i: usize) -> Option<char> {
    chars.get(i).copied()
}

/// The end of the digit run starting at `start`.
fn run_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while end < chars.len() && is_digit(chars[end]) {
        end += 1;
    }
    end
}

/// The digit values of `chars[range]`, which must all be digits.
fn digits(chars: &[char], range: Range<usize>) -> Vec<u8> {
    chars[range].iter().filter_map(|c| digit(*c)).collect()
}

/// Masked numbers in `chars`, outside the e-mail ranges `emails` (in order).
fn find_numbers(chars: &[char], emails: &[Range<usize>]) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut emails = emails.iter().peekable();
    let mut i = 0;
    while i < chars.len() {
        while emails.next_if(|email| email.end <= i).is_some() {}
        if let Some(email) = emails.peek().filter(|email| email.contains(&i)) {
            i = email.end;
            continue;
        }
        let c = chars[i];
        let found = if matches!(c, '(' | '（') {
            landline_in_parens(chars, i)
        } else if is_digit(c) && (i == 0 || !is_digit(chars[i - 1])) {
            let end = run_end(chars, i);
            let found = number_at(chars, i, end);
            if found.is_none() {
                // Skip the whole run: no number starts inside a longer one.
                i = end - 1;
            }
            found
        } else {
            None
        };
        match found {
            Some(edit) => {
                i = edit.range.end;
                edits.push(edit);
            }
            None => i += 1,
        }
    }
    edits
}

/// Try every number form at the digit run `start..end` (a whole run: no digit on either side).
fn number_at(chars: &[char], start: usize, end: usize) -> Option<Edit> {
    prefixed_mobile(chars, start, end)
        .or_else(|| mobile(chars, start, end))
        .or_else(|| resident_id(chars, start, end))
        .or_else(|| bank_card(chars, start, end))
        .or_else(|| landline(chars, start, end))
}

/// A mobile number at the digit run `start..end`, written `13812345678` or in
/// 3-4-4 groups; the 4th to 7th digits are masked.
fn mobile(chars: &[char], start: usize, end: usize) -> Option<Edit> {
    let is_mobile_start = |d: &[u8]| d.len() >= 2 && d[0] == 1 && d[1] >= 3;
    if end - start == 11 {
        let d = digits(chars, start..end);
        return is_mobile_start(&d).then(|| Edit::star(chars, start..end, start + 3..start + 7));
    }
    if end - start != 3 || !is_mobile_start(&digits(chars, start..end)) {
        return None;
    }
    // Grouped: 3, separator, 4, separator, 4 — and not part of a longer hyphenated chain.
    let group_of_four = |sep: usize| {
        if !at(chars, sep).is_some_and(is_separator) {
            return None;
        }
        let group_end = run_end(chars, sep + 1);
        (group_end - (sep + 1) == 4).then_some(group_end)
    };
    let second = group_of_four(end)?;
    let third = group_of_four(second)?;
    let chained_before = start >= 2 && is_hyphen(chars[start - 1]) && is_digit(chars[start - 2]);
    let chained_after = at(chars, third).is_some_and(is_hyphen) && at(chars, third + 1).is_some_and(is_digit);
    if chained_before || chained_after {
        return None;
    }
    Some(Edit::star(chars, start..third, end + 1..second))
}

/// A mobile number behind a country code: `+86 138…`, `0086-138…`, `8613812345678`.
fn prefixed_mobile(chars: &[char], start: usize, end: usize) -> Option<Edit> {
    let d = digits(chars, start..end);
    let prefix_len = match d.as_slice() {
        [8, 6, ..] => 2,
        [0, 0, 8, 6, ..] => 4,
        _ => return None,
    };
    if end - start == prefix_len + 11 {
        // Written together: the run is the prefix and the number.
        let number = start + prefix_len;
        let d = &d[prefix_len..];
        return (d[0] == 1 && d[1] >= 3).then(|| Edit::star(chars, start..end, number + 3..number + 7));
    }
    if end - start != prefix_len {
        return None;
    }
    let number = if at(chars, end).is_some_and(is_separator) {
        end + 1
    } else {
        end
    };
    if !at(chars, number).is_some_and(is_digit) {
        return None;
    }
    let edit = mobile(chars, number, run_end(chars, number))?;
    Some(Edit {
        range: start..edit.range.end,
        replacement: chars[start..number].iter().collect::<String>() + &edit.replacement,
    })
}

/// A resident ID number: 18 characters (17 digits and a check digit or `X`),
/// or the old 15-digit form; all but the first 6 and last 4 are masked.
fn resident_id(chars: &[char], start: usize, end: usize) -> Option<Edit> {
    let len = end - start;
    let id_end = match len {
        15 | 18 => end,
        17 if at(chars, end).is_some_and(|c| matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ'))
            && !at(chars, end + 1).is_some_and(|c| c.is_ascii_alphanumeric() || is_digit(c)) =>
        {
            end + 1
        }
        _ => return None,
    };
    Some(Edit::star(chars, start..id_end, start + 6..id_end - 4))
}

/// A bank card number: 16 to 19 digits written together or in groups of
/// four (`6222 0212 3456 7890 123`), that pass the Luhn check or start with
/// 62 (UnionPay); all but the first 6 and last 4 digits are masked. The check
/// keeps long order and case numbers (工单号), which staff need, readable.
fn bank_card(chars: &[char], start: usize, end: usize) -> Option<Edit> {
    let mut groups: Vec<Range<usize>> = Vec::with_capacity(5);
    groups.push(start..end);
    if end - start == 4 {
        // Grouped: 4, separator, 4, … the last group 1 to 4 digits.
        let mut at_end = end;
        while at(chars, at_end).is_some_and(is_separator) && at(chars, at_end + 1).is_some_and(is_digit) {
            let group = at_end + 1..run_end(chars, at_end + 1);
            let last = groups.last().is_some_and(|g| g.len() < 4);
            if last || group.len() > 4 {
                return None;
            }
            at_end = group.end;
            groups.push(group);
        }
    }
    let positions: Vec<usize> = groups.iter().flat_map(Clone::clone).collect();
    let d: Vec<u8> = positions.iter().filter_map(|i| digit(chars[*i])).collect();
    if !(16..=19).contains(&d.len()) || !(d.starts_with(&[6, 2]) || luhn(&d)) {
        return None;
    }
    let range = start..groups.last()?.end;
    Some(Edit::star(
        chars,
        range,
        positions[6..positions.len() - 4].iter().copied(),
    ))
}

/// The Luhn check of card numbers: from the right, every second digit doubled.
fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                if x > 4 { 2 * x - 9 } else { 2 * x }
            } else {
                x
            }
        })
        .sum();
    sum % 10 == 0
}

/// A landline number `area-local`, `area local`, or written together
/// (`01012345678`): area code and last two digits kept.
fn landline(chars: &[char], start: usize, end: usize) -> Option<Edit> {
    let d = digits(chars, start..end);
    if d.len() < 3 || d[0] != 0 || d[1] == 0 {
        return None;
    }
    // 010 and 02x are the three-digit area codes; every other one has four digits.
    let area_len = if matches!(d[1], 1 | 2) { 3 } else { 4 };
    if d.len() == area_len {
        let local = end + 1;
        if !at(chars, end).is_some_and(is_separator) || !at(chars, local).is_some_and(is_digit) {
            return None;
        }
        let local_end = run_end(chars, local);
        if !(7..=8).contains(&(local_end - local)) {
            return None;
        }
        return Some(Edit::star(chars, start..local_end, local..local_end - 2));
    }
    // Together: three-digit areas have eight-digit numbers, four-digit areas seven or eight.
    let together = match area_len {
        3 => d.len() == 11,
        _ => matches!(d.len(), 11 | 12),
    };
    together.then(|| Edit::star(chars, start..end, start + area_len..end - 2))
}

/// `(010)12345678`, `（0755）1234567`, with an optional space or hyphen after the bracket.
fn landline_in_parens(chars: &[char], open: usize) -> Option<Edit> {
    let area = open + 1;
    let area_end = run_end(chars, area);
    let d = digits(chars, area..area_end);
    if !(3..=4).contains(&d.len())
        || d[0] != 0
        || d[1] == 0
        || !at(chars, area_end).is_some_and(|c| matches!(c, ')' | '）'))
    {
        return None;
    }
    let mut local = area_end + 1;
    if at(chars, local).is_some_and(is_separator) {
        local += 1;
    }
    if !at(chars, local).is_some_and(is_digit) {
        return None;
    }
    let local_end = run_end(chars, local);
    if !(7..=8).contains(&(local_end - local)) {
        return None;
    }
    Some(Edit::star(chars, open..local_end, local..local_end - 2))
}

/// A client address as staff other than administrators may see it: enough
/// to tell two networks apart, not enough to find a household. IPv4 keeps
/// its first two octets (`203.0.*.*`), IPv6 its first two groups
/// (`2001:db8:*`); anything else becomes `*`.
pub fn mask_ip(ip: &str) -> String {
    match ip.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, _, _] = v4.octets();
            format!("{a}.{b}.*.*")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:*", s[0], s[1])
        }
        Err(_) => "*".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(text: &str) -> String {
        mask_personal_data(text).into_owned()
    }

    #[test]
    fn spans_mark_what_would_be_masked_in_code_points() {
        let text = "我的电话１３８１２３４５６７８，邮箱a@b.cn";
        let spans = personal_data_spans(text);
        let chars: Vec<char> = text.chars().collect();
        let cut = |s: &Span| chars[s.start..s.end].iter().collect::<String>();
        assert_eq!(
            spans.iter().map(cut).collect::<Vec<_>>(),
            ["１３８１２３４５６７８", "a@b.cn"]
        );
        assert!(personal_data_spans("没有个人信息 2024").is_empty());
    }

    #[test]
    fn bank_cards_keep_the_first_six_and_last_four_digits() {
        // UnionPay together, in groups of four, 19 digits ending in a group of
        // three, full-width; then Luhn-valid cards of other schemes.
        let cases = [
            ("卡号6222021234567890", "卡号622202******7890"),
            ("卡号 6222 0212 3456 7890，谢谢", "卡号 6222 02** **** 7890，谢谢"),
            ("6222-0212-3456-7890-123", "6222-02**-****-***0-123"),
            ("６２２２０２１２３４５６７８９０", "６２２２０２******７８９０"),
            ("4111111111111111", "411111******1111"),
            ("4111 1111 1111 1111", "4111 11** **** 1111"),
        ];
        for (text, masked) in cases {
            assert_eq!(mask(text), masked, "{text}");
        }
    }

    #[test]
    fn long_numbers_that_are_not_cards_are_left_alone() {
        // An order or case number staff need (fails Luhn, not UnionPay), too
        // long a run, too short a group, a group of five, a chain that goes
        // on, and a date with a time in groups of four.
        let kept = [
            "工单号2024101412345678",
            "4111111111111112",
            "62220212345678901234",
            "6222 0212 3456 789 0",
            "6222 02123 4567 8901",
            "6222-0212-3456-7890-123-4",
            "2024 1014 0930",
        ];
        for text in kept {
            assert_eq!(mask(text), text);
        }
    }

    #[test]
    fn mobile_numbers_keep_the_first_three_and_last_four_digits() {
        assert_eq!(mask("13812345678"), "138****5678");
        assert_eq!(mask("我的电话是13812345678，请回电"), "我的电话是138****5678，请回电");
        assert_eq!(mask("电话：138 1234 5678。"), "电话：138 **** 5678。");
        assert_eq!(mask("电话138-1234-5678"), "电话138-****-5678");
        assert_eq!(mask("19912345678"), "199****5678");
    }

    #[test]
    fn mobile_numbers_behind_a_country_code() {
        assert_eq!(mask("+8613812345678"), "+86138****5678");
        assert_eq!(mask("拨打+86 138 1234 5678"), "拨打+86 138 **** 5678");
        assert_eq!(mask("+86-13812345678"), "+86-138****5678");
        assert_eq!(mask("86 13812345678"), "86 138****5678");
        assert_eq!(mask("0086 138-1234-5678"), "0086 138-****-5678");
        assert_eq!(mask("008613812345678"), "0086138****5678");
    }

    #[test]
    fn landline_numbers_keep_the_area_code_and_last_two_digits() {
        assert_eq!(mask("010-12345678"), "010-******78");
        assert_eq!(mask("(010)12345678"), "(010)******78");
        assert_eq!(mask("（010）12345678"), "（010）******78");
        assert_eq!(mask("(0755) 1234567"), "(0755) *****67");
        assert_eq!(mask("0755-1234567"), "0755-*****67");
        assert_eq!(mask("办公室010 69241234转"), "办公室010 ******34转");
        assert_eq!(mask("01069241234"), "010******34");
        assert_eq!(mask("075512345678"), "0755******78");
        assert_eq!(mask("分机010-12345678-801"), "分机010-******78-801");
    }

    #[test]
    fn resident_id_numbers_keep_the_first_six_and_last_four() {
        assert_eq!(mask("110105199003071234"), "110105********1234");
        assert_eq!(mask("身份证11010519900307123X号"), "身份证110105********123X号");
        assert_eq!(mask("11010519900307123x"), "110105********123x");
        assert_eq!(mask("旧证110105900307123"), "旧证110105*****7123");
    }

    #[test]
    fn e_mail_addresses_keep_the_first_character_and_the_domain() {
        assert_eq!(mask("zhang.san@example.com"), "z***@example.com");
        assert_eq!(
            mask("邮箱zhangsan@mail.bjdx.gov.cn，谢谢"),
            "邮箱z***@mail.bjdx.gov.cn，谢谢"
        );
        assert_eq!(mask("请发到 a@example.org."), "请发到 a***@example.org.");
        // A phone number used as the local part goes with the address.
        assert_eq!(mask("13812345678@163.com"), "1***@163.com");
    }

    #[test]
    fn full_width_digits_are_digits() {
        assert_eq!(mask("电话１３８１２３４５６７８"), "电话１３８****５６７８");
        assert_eq!(
            mask("１１０１０５１９９００３０７１２３Ｘ"),
            "１１０１０５********１２３Ｘ"
        );
        assert_eq!(mask("（０１０）１２３４５６７８"), "（０１０）******７８");
        // Mixed widths are one run.
        assert_eq!(mask("138１２３４5678"), "138****5678");
    }

    #[test]
    fn several_in_one_text_at_the_start_and_the_end() {
        let text = "13812345678是我的手机，座机010-87654321，邮箱li@example.com，身份证110105199003071234";
        assert_eq!(
            mask(text),
            "138****5678是我的手机，座机010-******21，邮箱l***@example.com，身份证110105********1234"
        );
    }

    #[test]
    fn near_misses_are_left_alone() {
        for text in [
            "活动定于2024-10-14举行",
            "工单号1234567890",
            "价格12,345元",
            "编号12345678901",
            "订单12345678901234567890号",
            // A mobile number inside a longer run is not one.
            "流水号913812345678",
            "流水号138123456789",
            // A 17-digit run with an X that starts a word, and an 18-digit run inside a longer one.
            "11010519900307123Xyz",
            "1101051990030712345",
            // A hyphenated chain longer than 3-4-4.
            "138-1234-5678-9012",
            "1-138-1234-5678",
            "2024年10月14日 14:30 在大兴区",
            "no-at-sign.example.com, a@b, @example.com, x@localhost",
            "",
        ] {
            assert!(
                matches!(mask_personal_data(text), Cow::Borrowed(_)),
                "{text:?} was masked"
            );
        }
    }

    #[test]
    fn masking_twice_is_masking_once() {
        for text in [
            "13812345678",
            "+86 138 1234 5678",
            "(010)12345678 与 0755-1234567",
            "11010519900307123X",
            "110105900307123",
            "zhang.san@example.com",
            "１３８１２３４５６７８",
            "13812345678是我的手机，座机010-87654321，邮箱li@example.com，身份证110105199003071234",
        ] {
            let once = mask(text);
            assert_ne!(once, text);
            assert!(
                matches!(mask_personal_data(&once), Cow::Borrowed(_)),
                "{once:?} was masked again"
            );
        }
    }

    #[test]
    fn addresses_keep_only_their_network() {
        assert_eq!(mask_ip("203.0.113.7"), "203.0.*.*");
        assert_eq!(mask_ip("2001:db8::1"), "2001:db8:*");
        assert_eq!(mask_ip("not an address"), "*");
    }
}
