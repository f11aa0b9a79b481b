//! Korean text normalisation before synthesis: numbers are spelled out the
//! way a Korean speaker reads them on the phone. Service numbers (1339,
//! 119, …) are read digit by digit (일삼삼구), other numbers as Sino-Korean
//! cardinals (65세 → 육십오세).

/// Numbers read digit by digit: hotline and emergency numbers.
const SERVICE_NUMBERS: &[&str] = &["1339", "119", "112", "120", "129", "1366", "1388", "1393", "1577"];

const DIGITS: [&str; 10] = ["공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];

pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut phone_run = false;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == ',' && i + 1 < chars.len() && chars[i + 1].is_ascii_digit()))
            {
                i += 1;
            }
            let token: String = chars[start..i].iter().filter(|c| **c != ',').collect();
            // Phone numbers with dashes: read every group digit by digit.
            let phone_like =
                i < chars.len() && chars[i] == '-' && chars.get(i + 1).map(|c| c.is_ascii_digit()).unwrap_or(false);
            if SERVICE_NUMBERS.contains(&token.as_str())
                || phone_like
                || phone_run
                || (token.len() > 1 && token.starts_with('0'))
            {
                out.push_str(&digit_by_digit(&token));
            } else {
                out.push_str(&sino_korean(&token));
            }
            if phone_like {
                out.push_str(", ");
                i += 1;
            }
            phone_run = phone_like;
            continue;
        }
        if chars[i] == '-' && i > 0 && chars[i - 1].is_ascii_digit() {
            i += 1;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

pub fn digit_by_digit(digits: &str) -> String {
    digits.chars().filter_map(|c| c.to_digit(10)).map(|d| DIGITS[d as usize]).collect()
}

/// Sino-Korean reading of a non-negative integer (up to 10^16 − 1).
pub fn sino_korean(digits: &str) -> String {
    let Ok(mut n) = digits.parse::<u64>() else {
        return digit_by_digit(digits);
    };
    if n == 0 {
        return "영".into();
    }
    if n >= 10_000_000_000_000_000 {
        return digit_by_digit(digits);
    }
    let big = ["", "만", "억", "조"];
    let mut groups = Vec::new();
    while n > 0 {
        groups.push((n % 10_000) as usize);
        n /= 10_000;
    }
    let mut out = String::new();
    for (gi, &g) in groups.iter().enumerate().rev() {
        if g == 0 {
            continue;
        }
        let small = ["천", "백", "십", ""];
        let ds = [g / 1000, g / 100 % 10, g / 10 % 10, g % 10];
        for (k, &d) in ds.iter().enumerate() {
            if d == 0 {
                continue;
            }
            // 일 is dropped before 십/백/천 (십, 백, 천) but kept in the ones place.
            if d != 1 || (k == 3 && !(g == 1 && gi == 1)) {
                out.push_str(DIGITS[d]);
            }
            out.push_str(small[k]);
        }
        // 만 alone (10000) is read 만, not 일만.
        out.push_str(big[gi]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotline_numbers_are_read_digit_by_digit() {
        assert_eq!(normalize("질병관리청 1339 콜센터"), "질병관리청 일삼삼구 콜센터");
        assert_eq!(normalize("119에 전화하세요"), "일일구에 전화하세요");
    }

    #[test]
    fn counts_are_sino_korean() {
        assert_eq!(normalize("65세 이상"), "육십오세 이상");
        assert_eq!(normalize("생후 6개월부터 13세"), "생후 육개월부터 십삼세");
        assert_eq!(sino_korean("2026"), "이천이십육");
        assert_eq!(sino_korean("10000"), "만");
        assert_eq!(sino_korean("110000"), "십일만");
        assert_eq!(sino_korean("1000"), "천");
    }

    #[test]
    fn phone_numbers_with_dashes_are_spelled() {
        assert_eq!(normalize("043-719-7114"), "공사삼, 칠일구, 칠일일사");
    }

    #[test]
    fn plain_text_is_untouched() {
        assert_eq!(normalize("안녕하세요."), "안녕하세요.");
    }
}
