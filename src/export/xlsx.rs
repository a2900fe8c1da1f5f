//! Excel workbooks: one worksheet per [`Table`].

use std::collections::HashSet;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::{Cell, ExportError, Table};

/// Excel's limit on a sheet name, in UTF-16 units (what Excel counts).
const MAX_SHEET_NAME: usize = 31;
/// Excel's limit on the text of one cell.
const MAX_CELL_CHARS: usize = 32_767;
/// Integers beyond ±2^53 lose digits as Excel numbers (doubles); they are written as text instead.
const MAX_EXACT_INT: i64 = 1 << 53;
/// Column widths in Excel's units (about one Latin character each).
const MIN_WIDTH: usize = 6;
const MAX_WIDTH: usize = 60;

/// Write `tables` as one workbook, a worksheet each, in order.
///
/// - Sheet names are made valid and unique (see `sheet_names`); the header row is bold
///   and frozen; dates and times are real Excel dates (`yyyy-mm-dd`,
///   `yyyy-mm-dd hh:mm` in Asia/Shanghai), so they sort and filter.
/// - Text is always a string cell, never a formula, so citizen text starting
///   with `=` is shown, not run (unlike CSV, nothing needs prefixing).
///   Text over Excel's 32,767-character cell limit is cut, ending in `…`.
/// - Dates Excel cannot hold (before 1900) and integers it cannot hold
///   exactly (beyond ±2^53) are written as text.
/// - No tables still gives a valid workbook, with one empty sheet.
pub fn to_xlsx(tables: &[Table]) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    let formats = Formats {
        header: Format::new().set_bold(),
        date: Format::new().set_num_format("yyyy-mm-dd"),
        datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm"),
    };
    let names = sheet_names(tables.iter().map(|table| table.name.as_str()));
    for (table, name) in tables.iter().zip(names) {
        let sheet = workbook.add_worksheet();
        sheet.set_name(name)?;
        write_table(sheet, table, &formats)?;
    }
    if tables.is_empty() {
        workbook.add_worksheet();
    }
    Ok(workbook.save_to_buffer()?)
}

struct Formats {
    header: Format,
    date: Format,
    datetime: Format,
}

fn write_table(sheet: &mut Worksheet, table: &Table, formats: &Formats) -> Result<(), ExportError> {
    let mut widths: Vec<usize> = Vec::new();
    let mut measure = |col: usize, cell_width: usize| {
        if widths.len() <= col {
            widths.resize(col + 1, MIN_WIDTH);
        }
        widths[col] = widths[col].max(cell_width);
    };
    for (col, header) in table.headers.iter().enumerate() {
        sheet.write_string_with_format(0, to_col(col)?, header, &formats.header)?;
        measure(col, display_width(header));
    }
    if !table.headers.is_empty() {
        sheet.set_freeze_panes(1, 0)?;
    }
    for (i, row) in table.rows.iter().enumerate() {
        let row_num = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        for (col, cell) in row.iter().enumerate() {
            write_cell(sheet, row_num, to_col(col)?, cell, formats)?;
            measure(col, display_width(&cell.to_string()));
        }
    }
    for (col, width) in widths.into_iter().enumerate() {
        // Two characters of padding: Excel's own "fit" leaves about that much.
        sheet.set_column_width(to_col(col)?, (width + 2).min(MAX_WIDTH) as f64)?;
    }
    Ok(())
}

fn to_col(col: usize) -> Result<u16, ExportError> {
    u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError.into())
}

fn write_cell(sheet: &mut Worksheet, row: u32, col: u16, cell: &Cell, formats: &Formats) -> Result<(), ExportError> {
    match cell {
        Cell::Text(text) => write_text(sheet, row, col, text)?,
        Cell::Int(n) if (-MAX_EXACT_INT..=MAX_EXACT_INT).contains(n) => {
            sheet.write_number(row, col, *n as f64)?;
        }
        Cell::Float(x) => {
            sheet.write_number(row, col, *x)?;
        }
        Cell::Date(date) => match excel_date(*date) {
            Some(excel) => {
                sheet.write_datetime_with_format(row, col, excel, &formats.date)?;
            }
            None => write_text(sheet, row, col, &cell.to_string())?,
        },
        Cell::DateTime(at) => match excel_datetime(*at) {
            Some(excel) => {
                sheet.write_datetime_with_format(row, col, excel, &formats.datetime)?;
            }
            None => write_text(sheet, row, col, &cell.to_string())?,
        },
        Cell::Int(_) => write_text(sheet, row, col, &cell.to_string())?,
        Cell::Empty => {}
    }
    Ok(())
}

fn write_text(sheet: &mut Worksheet, row: u32, col: u16, text: &str) -> Result<(), ExportError> {
    if text.chars().count() <= MAX_CELL_CHARS {
        sheet.write_string(row, col, text)?;
    } else {
        let cut: String = text.chars().take(MAX_CELL_CHARS - 1).chain(['…']).collect();
        sheet.write_string(row, col, cut)?;
    }
    Ok(())
}

/// `None` outside what Excel can hold (1900-01-01 to 9999-12-31).
fn excel_date(date: NaiveDate) -> Option<ExcelDateTime> {
    let year = u16::try_from(date.year()).ok()?;
    ExcelDateTime::from_ymd(year, date.month() as u8, date.day() as u8).ok()
}

/// The instant as wall-clock time in Asia/Shanghai, to the second.
fn excel_datetime(at: DateTime<Utc>) -> Option<ExcelDateTime> {
    let local = at.with_timezone(&crate::domain::time::shanghai()).naive_local();
    let (h, m, s) = (local.hour() as u16, local.minute() as u8, local.second() as u8);
    excel_date(local.date())?.and_hms(h, m, s).ok()
}

/// Display width in Excel's column units: CJK and other wide characters count
/// double; for text with line breaks, the longest line.
fn display_width(text: &str) -> usize {
    text.lines()
        .map(|line| line.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum())
        .max()
        .unwrap_or(0)
}

/// East Asian wide and full-width characters: the main blocks Chinese text uses.
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F         // Hangul Jamo
        | 0x2E80..=0x303E       // CJK radicals, punctuation (、。「」)
        | 0x3041..=0x33FF       // kana, bopomofo, CJK compatibility
        | 0x3400..=0x4DBF       // CJK extension A
        | 0x4E00..=0x9FFF       // CJK unified ideographs
        | 0xA000..=0xA4CF       // Yi
        | 0xAC00..=0xD7A3       // Hangul syllables
        | 0xF900..=0xFAFF       // CJK compatibility ideographs
        | 0xFE30..=0xFE4F       // CJK compatibility forms
        | 0xFF00..=0xFF60       // full-width forms (，！０-９)
        | 0xFFE0..=0xFFE6       // full-width signs (￥)
        | 0x1F300..=0x1F64F     // emoji
        | 0x20000..=0x3FFFD     // CJK extensions B and later
    )
}

/// Valid, unique worksheet names for `names`, in order, by Excel's rules:
/// none of `[]:*?/\` (each becomes `_`), no control characters, not blank,
/// no leading or trailing `'`, not `History` (Excel reserves it), at most 31
/// characters, and unique ignoring case — a repeat gets ` (2)`, ` (3)`, …,
/// with the name shortened to make room.
fn sheet_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let base = clean_sheet_name(name, i + 1);
        let mut candidate = truncate_utf16(&base, MAX_SHEET_NAME);
        let mut n = 2;
        while !taken.insert(candidate.to_lowercase()) {
            let suffix = format!(" ({n})");
            let stem = truncate_utf16(&base, MAX_SHEET_NAME - suffix.len());
            candidate = format!("{stem}{suffix}");
            n += 1;
        }
        out.push(candidate);
    }
    out
}

fn clean_sheet_name(name: &str, position: usize) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_matches('\'').trim();
    if cleaned.is_empty() {
        format!("Sheet{position}")
    } else if cleaned.eq_ignore_ascii_case("history") {
        format!("{cleaned}_")
    } else {
        cleaned.to_owned()
    }
}

/// At most `max` UTF-16 units, cut on a character boundary, no trailing `'` or space left behind.
fn truncate_utf16(text: &str, max: usize) -> String {
    let mut used = 0;
    let cut: String = text
        .chars()
        .take_while(|c| {
            used += c.len_utf16();
            used <= max
        })
        .collect();
    cut.trim_end_matches(['\'', ' ']).to_owned()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use calamine::{Data, Reader, Xlsx};

    use super::*;

    fn read_back(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
        Xlsx::new(Cursor::new(bytes)).expect("a workbook calamine can open")
    }

    fn excel_serial(date: NaiveDate) -> f64 {
        (date - NaiveDate::from_ymd_opt(1899, 12, 30).unwrap()).num_days() as f64
    }

    #[test]
    fn tables_round_trip_through_calamine() {
        let date = NaiveDate::from_ymd_opt(2024, 10, 14).unwrap();
        let at: DateTime<Utc> = "2024-10-14T02:30:00Z".parse().unwrap();
        let mut opinions = Table::new("意见汇总", ["编号", "意见内容", "日期", "提交时间", "评分", "备注"]);
        opinions.rows.push(vec![
            Cell::Int(1),
            "希望增加公交班次，电话138****5678".into(),
            date.into(),
            at.into(),
            Cell::Float(4.5),
            Cell::Empty,
        ]);
        opinions.rows.push(vec![
            Cell::Int(2),
            "=1+2".into(),
            Cell::Date(NaiveDate::from_ymd_opt(1850, 1, 1).unwrap()),
        ]);
        opinions.rows.push(vec![Cell::Int(i64::MAX)]);
        let mut adoption = Table::new("采纳反馈", ["状态"]);
        adoption.rows.push(vec!["已采纳".into()]);

        let mut workbook = read_back(to_xlsx(&[opinions, adoption]).unwrap());
        assert_eq!(workbook.sheet_names(), ["意见汇总", "采纳反馈"]);

        let sheet = workbook.worksheet_range("意见汇总").unwrap();
        let headers: Vec<String> = (0..6).map(|c| sheet.get_value((0, c)).unwrap().to_string()).collect();
        assert_eq!(headers, ["编号", "意见内容", "日期", "提交时间", "评分", "备注"]);
        assert_eq!(sheet.get_value((1, 0)), Some(&Data::Float(1.0)));
        assert_eq!(
            sheet.get_value((1, 1)),
            Some(&Data::String("希望增加公交班次，电话138****5678".into()))
        );
        match sheet.get_value((1, 2)) {
            Some(Data::DateTime(excel)) => assert_eq!(excel.as_f64(), excel_serial(date)),
            other => panic!("date cell read back as {other:?}"),
        }
        match sheet.get_value((1, 3)) {
            // 02:30 UTC is 10:30 in Shanghai.
            Some(Data::DateTime(excel)) => {
                assert!(
                    (excel.as_f64() - (excel_serial(date) + 10.5 / 24.0)).abs() < 1e-9,
                    "{excel:?}"
                )
            }
            other => panic!("datetime cell read back as {other:?}"),
        }
        assert_eq!(sheet.get_value((1, 4)), Some(&Data::Float(4.5)));
        assert_eq!(sheet.get_value((1, 5)), Some(&Data::Empty));
        // Text that looks like a formula stays text; a date Excel cannot hold becomes text.
        assert_eq!(sheet.get_value((2, 1)), Some(&Data::String("=1+2".into())));
        assert_eq!(sheet.get_value((2, 2)), Some(&Data::String("1850-01-01".into())));
        assert_eq!(sheet.get_value((3, 0)), Some(&Data::String(i64::MAX.to_string())));

        let sheet = workbook.worksheet_range("采纳反馈").unwrap();
        assert_eq!(sheet.get_value((0, 0)), Some(&Data::String("状态".into())));
        assert_eq!(sheet.get_value((1, 0)), Some(&Data::String("已采纳".into())));
    }

    #[test]
    fn no_tables_is_one_empty_sheet() {
        let mut workbook = read_back(to_xlsx(&[]).unwrap());
        assert_eq!(workbook.sheet_names(), ["Sheet1"]);
        assert!(workbook.worksheet_range("Sheet1").unwrap().is_empty());
    }

    #[test]
    fn awkward_sheet_names_are_written() {
        let names = ["意见/建议[2024]", "意见/建议[2024]", "", "History", &"长".repeat(40)];
        let tables: Vec<Table> = names.iter().map(|name| Table::new(*name, ["a"])).collect();
        let workbook = read_back(to_xlsx(&tables).unwrap());
        assert_eq!(
            workbook.sheet_names(),
            [
                "意见_建议_2024_",
                "意见_建议_2024_ (2)",
                "Sheet3",
                "History_",
                &"长".repeat(31)
            ]
        );
    }

    #[test]
    fn sheet_names_follow_excel_rules() {
        let long = "a".repeat(40);
        assert_eq!(
            sheet_names(["a:b*c?", "'引号'", "  ", "Sheet", "sheet", "SHEET", &long, &long]),
            [
                "a_b_c_".to_owned(),
                "引号".into(),
                "Sheet3".into(),
                "Sheet".into(),
                "sheet (2)".into(),
                "SHEET (3)".into(),
                "a".repeat(31),
                format!("{} (2)", "a".repeat(27)),
            ]
        );
        // Counted in UTF-16 units, as Excel does: an emoji is two.
        let emoji = sheet_names(["😀".repeat(20).as_str()]);
        assert_eq!(emoji, ["😀".repeat(15)]);
        // Shortening never leaves a trailing apostrophe or space behind.
        let tricky = format!("{}' x", "b".repeat(30));
        assert_eq!(sheet_names([tricky.as_str()]), ["b".repeat(30)]);
    }

    #[test]
    fn widths_count_cjk_double() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("意见abc"), 7);
        assert_eq!(display_width("１２，"), 6);
        assert_eq!(display_width("短\n长一点的行"), 10);
        assert_eq!(display_width(""), 0);
    }

    #[test]
    fn over_long_text_is_cut_not_refused() {
        let mut table = Table::new("长文", ["内容"]);
        table.rows.push(vec![Cell::Text("字".repeat(MAX_CELL_CHARS + 10))]);
        let mut workbook = read_back(to_xlsx(&[table]).unwrap());
        let sheet = workbook.worksheet_range("长文").unwrap();
        let Some(Data::String(text)) = sheet.get_value((1, 0)) else {
            panic!("not text")
        };
        assert_eq!(text.chars().count(), MAX_CELL_CHARS);
        assert!(text.ends_with('…'));
    }
}
