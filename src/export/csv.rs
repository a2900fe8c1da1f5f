//! CSV as Excel opens it: RFC 4180, CRLF, UTF-8 with a byte-order mark.

use super::{Cell, Table};

/// Without the BOM, Excel on a Chinese Windows reads the file as GBK and the headers turn to mojibake.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// Write `table` as CSV: the header row, then one line per row, each ended
/// with CRLF. `table.name` is not written.
///
/// Text cells that a spreadsheet would read as a formula — those starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return — get a leading `'`.
/// The text is citizen input: `=HYPERLINK("http://…","点此")` or a DDE
/// payload in an opinion would otherwise run when staff open the export
/// (CSV injection, OWASP). The apostrophe is what Excel itself uses to mark
/// "this is text", so the cell still reads as written. Numbers, dates and
/// headers are ours and are not touched.
pub fn to_csv(table: &Table) -> Vec<u8> {
    let mut out = String::new();
    let headers = table.headers.iter().map(|header| quoted(header));
    push_line(&mut out, headers);
    for row in &table.rows {
        push_line(&mut out, row.iter().map(field));
    }
    let mut bytes = Vec::with_capacity(BOM.len() + out.len());
    bytes.extend_from_slice(BOM);
    bytes.extend_from_slice(out.as_bytes());
    bytes
}

fn push_line(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&field);
    }
    out.push_str("\r\n");
}

fn field(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => quoted(&format!("'{text}")),
        other => quoted(&other.to_string()),
    }
}

/// RFC 4180: a field with a quote, comma or line break is enclosed in quotes, its quotes doubled.
fn quoted(text: &str) -> String {
    if text.contains(['"', ',', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, Utc};

    use super::*;

    fn csv_text(table: &Table) -> String {
        let bytes = to_csv(table);
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "no BOM");
        String::from_utf8(bytes[3..].to_vec()).unwrap()
    }

    fn one_row(cells: Vec<Cell>) -> Table {
        let mut table = Table::new("意见", ["编号", "内容"]);
        table.rows.push(cells);
        table
    }

    #[test]
    fn headers_and_rows_end_in_crlf_after_a_bom() {
        let at: DateTime<Utc> = "2024-10-14T02:30:00Z".parse().unwrap();
        let mut table = Table::new("意见", ["编号", "内容", "日期", "提交时间", "评分", "备注"]);
        table.rows.push(vec![
            Cell::Int(1),
            "希望增加公交班次".into(),
            NaiveDate::from_ymd_opt(2024, 10, 14).unwrap().into(),
            at.into(),
            Cell::Float(4.5),
            Cell::Empty,
        ]);
        table.rows.push(vec![Cell::Int(-2)]);
        assert_eq!(
            csv_text(&table),
            "编号,内容,日期,提交时间,评分,备注\r\n1,希望增加公交班次,2024-10-14,2024-10-14 10:30,4.5,\r\n-2\r\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header_line() {
        assert_eq!(csv_text(&Table::new("空", ["a", "b"])), "a,b\r\n");
        assert_eq!(csv_text(&Table::new("空", Vec::<String>::new())), "\r\n");
    }

    #[test]
    fn quotes_commas_and_line_breaks_are_quoted() {
        let text = csv_text(&one_row(vec![
            "他说\"好\"".into(),
            "一,二".into(),
            "第一行\r\n第二行".into(),
            "只有\n换行".into(),
            "普通".into(),
        ]));
        assert_eq!(
            text,
            "编号,内容\r\n\"他说\"\"好\"\"\",\"一,二\",\"第一行\r\n第二行\",\"只有\n换行\",普通\r\n"
        );
        let mut headers = Table::new("t", ["a,b", "c\"d"]);
        headers.rows.clear();
        assert_eq!(csv_text(&headers), "\"a,b\",\"c\"\"d\"\r\n");
    }

    #[test]
    fn formula_like_text_is_defused() {
        let text = csv_text(&one_row(vec![
            "=1+2".into(),
            "+86 138".into(),
            "-5".into(),
            "@SUM(A1)".into(),
            "\tx".into(),
            "\rx".into(),
            "=HYPERLINK(\"http://x\",\"点此\")".into(),
            "a=b".into(),
            Cell::Int(-5),
        ]));
        assert_eq!(
            text,
            "编号,内容\r\n'=1+2,'+86 138,'-5,'@SUM(A1),'\tx,\"'\rx\",\"'=HYPERLINK(\"\"http://x\"\",\"\"点此\"\")\",a=b,-5\r\n"
        );
    }
}
