//! The report as an A4 PDF for archiving: the standard Courier fonts (every PDF
//! reader has them; a fixed width means every line is measured exactly and none
//! leaves the page), page numbers "Page N of M" on every page, the key hierarchy
//! drawn as boxes, and a signature block. Text outside the fonts' character set
//! (WinAnsi: Latin letters with accents, common punctuation) is shown as `?`.
//!
//! Not PDF/A: PDF/A needs embedded fonts, and no font is shipped in the binary.

use super::audit::{Block, Doc, Hierarchy, wrap};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

/// A4 in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 50.0;
const TOP: f32 = PAGE_H - 56.0;
const BOTTOM: f32 = 56.0;
/// Body text: Courier 9 pt, 0.6 em a character.
const SIZE: f32 = 9.0;
const LEAD: f32 = 11.5;
/// Keys a role's box in the key hierarchy lists (all are listed in the text).
const MAX_BOX_KEYS: usize = 40;
/// The appendix lists at most this many entries (the Markdown lists them all).
pub const MAX_APPENDIX: usize = 3_000;
/// Characters of one appendix entry the PDF shows (about a page).
pub const MAX_APPENDIX_LINE: usize = 8_000;

#[derive(Clone, Copy, PartialEq)]
enum Font {
    Regular,
    Bold,
}

enum Op {
    Text {
        x: f32,
        y: f32,
        font: Font,
        size: f32,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
    },
}

/// Pages of drawing operations, laid out top to bottom.
struct Layout {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Layout {
    fn new() -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    /// Room for `h` points on this page, or a new page.
    fn need(&mut self, h: f32) {
        if self.y - h < BOTTOM && self.y < TOP {
            self.pages.push(Vec::new());
            self.y = TOP;
        }
    }

    fn op(&mut self, op: Op) {
        self.pages.last_mut().expect("a page").push(op);
    }

    /// Lines of text at `size`, wrapped to the page's width.
    fn text(&mut self, text: &str, font: Font, size: f32, indent: &str) {
        let columns = ((PAGE_W - 2.0 * MARGIN) / (0.6 * size)) as usize;
        let lead = size * LEAD / SIZE;
        for line in wrap(text, columns, indent) {
            self.need(lead);
            self.y -= lead;
            self.op(Op::Text {
                x: MARGIN,
                y: self.y,
                font,
                size,
                text: line,
            });
        }
    }

    fn gap(&mut self, h: f32) {
        self.y -= h;
    }

    fn hierarchy(&mut self, h: &Hierarchy) {
        let lead = LEAD;
        let col_w = (PAGE_W - 2.0 * MARGIN - 15.0) / 2.0;
        let lines = h.text_lines();
        // Two columns (before, after) of role boxes, rows aligned by role.
        let (before, after) = (&h.before, &h.after);
        let mut roles: Vec<&String> = Vec::new();
        for (_, r) in before.iter().chain(after.iter()) {
            for name in r.keys() {
                if !roles.contains(&name) {
                    roles.push(name);
                }
            }
        }
        let heads = [
            before.as_ref().map(|(v, _)| format!("Before: version {v}")),
            after.as_ref().map(|(v, _)| format!("After: version {v}")),
        ];
        self.need(lead * 2.0);
        self.y -= lead;
        for (i, head) in heads.iter().enumerate() {
            if let Some(head) = head {
                self.op(Op::Text {
                    x: MARGIN + i as f32 * (col_w + 15.0),
                    y: self.y,
                    font: Font::Bold,
                    size: SIZE,
                    text: head.clone(),
                });
            }
        }
        self.y -= 4.0;
        let empty = super::audit::Roles::new();
        let b_roles = before.as_ref().map(|(_, r)| r).unwrap_or(&empty);
        let a_roles = after.as_ref().map(|(_, r)| r).unwrap_or(&empty);
        for role in roles {
            // A box holds at most MAX_BOX_KEYS keys (and a line saying how many more),
            // so it always fits a page.
            let rows = [b_roles.get(role), a_roles.get(role)]
                .iter()
                .map(|r| {
                    r.map(|(_, k)| k.len().min(MAX_BOX_KEYS + 1) + 1)
                        .unwrap_or(0)
                })
                .max()
                .unwrap_or(1);
            let box_h = rows as f32 * lead + 6.0;
            self.need(box_h + 6.0);
            let top = self.y - 4.0;
            for (i, (side, other, mark)) in [(b_roles, a_roles, '-'), (a_roles, b_roles, '+')]
                .into_iter()
                .enumerate()
            {
                let Some((threshold, keyids)) = side.get(role) else {
                    continue;
                };
                let x = MARGIN + i as f32 * (col_w + 15.0);
                self.op(Op::Rect {
                    x,
                    y: top - box_h,
                    w: col_w,
                    h: box_h,
                });
                let mut y = top - lead;
                self.op(Op::Text {
                    x: x + 5.0,
                    y,
                    font: Font::Bold,
                    size: SIZE,
                    text: format!("{role}: {threshold} of {}", keyids.len()),
                });
                for (n, k) in keyids.iter().enumerate() {
                    y -= lead;
                    if n == MAX_BOX_KEYS && keyids.len() > MAX_BOX_KEYS + 1 {
                        self.op(Op::Text {
                            x: x + 5.0,
                            y,
                            font: Font::Regular,
                            size: SIZE,
                            text: format!("  … {} more", keyids.len() - MAX_BOX_KEYS),
                        });
                        break;
                    }
                    let changed =
                        before.is_some() && !other.get(role).is_some_and(|(_, o)| o.contains(k));
                    self.op(Op::Text {
                        x: x + 5.0,
                        y,
                        font: Font::Regular,
                        size: SIZE,
                        text: format!(
                            "{} {}",
                            if changed { mark } else { ' ' },
                            crate::tuf::verify::fingerprint(k)
                        ),
                    });
                }
            }
            if before.is_some() && after.is_some() {
                let y = top - box_h / 2.0;
                self.op(Op::Line {
                    x1: MARGIN + col_w + 2.0,
                    y1: y,
                    x2: MARGIN + col_w + 13.0,
                    y2: y,
                });
            }
            self.y = top - box_h - 2.0;
        }
        if let Some(legend) = lines.last() {
            self.text(legend, Font::Regular, 8.0, "");
        }
    }

    fn signature(&mut self, name: &str) {
        self.need(44.0);
        self.text(name, Font::Regular, SIZE, "  ");
        self.y -= 24.0;
        let y = self.y;
        self.op(Op::Line {
            x1: MARGIN,
            y1: y,
            x2: MARGIN + 300.0,
            y2: y,
        });
        self.op(Op::Line {
            x1: MARGIN + 330.0,
            y1: y,
            x2: PAGE_W - MARGIN,
            y2: y,
        });
        self.y -= 9.0;
        for (x, label) in [(MARGIN, "signature"), (MARGIN + 330.0, "date")] {
            self.op(Op::Text {
                x,
                y: self.y,
                font: Font::Regular,
                size: 7.0,
                text: label.into(),
            });
        }
        self.y -= 6.0;
    }
}

/// The PDF of a report, with its appendix (one entry a line, wrapped).
pub fn render(doc: &Doc, appendix: &[String]) -> Vec<u8> {
    let mut l = Layout::new();
    if let Some(banner) = &doc.banner {
        l.text(banner, Font::Bold, SIZE, "");
        l.gap(6.0);
    }
    l.text(&doc.title, Font::Bold, 14.0, "");
    l.gap(4.0);
    for sec in &doc.sections {
        l.need(40.0);
        l.gap(8.0);
        l.text(&sec.title, Font::Bold, 11.0, "");
        l.gap(3.0);
        for block in &sec.blocks {
            match block {
                Block::Para(t) => {
                    l.text(t, Font::Regular, SIZE, "");
                    l.gap(4.0);
                }
                Block::Facts(f) => {
                    for (k, v) in f {
                        l.text(&format!("{k}: {v}"), Font::Regular, SIZE, "    ");
                    }
                    l.gap(4.0);
                }
                Block::Items(items) => {
                    for it in items {
                        l.need(LEAD * 2.0);
                        l.text(&it.title, Font::Bold, SIZE, "  ");
                        for (k, v) in &it.facts {
                            l.text(&format!("  {k}: {v}"), Font::Regular, SIZE, "      ");
                        }
                        l.gap(3.0);
                    }
                }
                Block::Mono(lines) => {
                    for line in lines {
                        l.text(line, Font::Bold, SIZE, "");
                    }
                    l.gap(4.0);
                }
                Block::Bullets(points) => {
                    for t in points {
                        l.text(&format!("- {t}"), Font::Regular, SIZE, "  ");
                        l.gap(2.0);
                    }
                }
                Block::Hierarchy(h) => l.hierarchy(h),
                Block::Signatures(names) => {
                    for n in names {
                        l.signature(n);
                    }
                }
            }
        }
    }
    l.need(60.0);
    l.gap(8.0);
    l.text("Appendix: every entry", Font::Bold, 11.0, "");
    l.text(
        "Every entry of the transcript, in order (step started and step done entries are \
         counted, not listed): seq · time · kind · step · actor: data.",
        Font::Regular,
        SIZE,
        "",
    );
    l.gap(3.0);
    for line in appendix {
        l.text(line, Font::Regular, 7.5, "    ");
    }
    write_pdf(doc, l.pages)
}

fn write_pdf(doc: &Doc, pages: Vec<Vec<Op>>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first = 6;
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(first + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    for (font, name) in [(regular, "Courier"), (bold, "Courier-Bold")] {
        pdf.type1_font(font)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info)
        .title(TextStr(&doc.title))
        .creator(TextStr("ceremony transcript report"));
    let total = pages.len();
    for (i, ops) in pages.into_iter().enumerate() {
        let page_id = page_ids[i];
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(content_id);
        {
            let mut resources = page.resources();
            let mut fonts = resources.fonts();
            fonts.pair(Name(b"F1"), regular);
            fonts.pair(Name(b"F2"), bold);
        }
        page.finish();
        let mut c = Content::new();
        c.set_line_width(0.6);
        for op in ops {
            match op {
                Op::Text {
                    x,
                    y,
                    font,
                    size,
                    text,
                } => show(&mut c, x, y, font, size, &text),
                Op::Rect { x, y, w, h } => {
                    c.rect(x, y, w, h).stroke();
                }
                Op::Line { x1, y1, x2, y2 } => {
                    c.move_to(x1, y1).line_to(x2, y2).stroke();
                }
            }
        }
        // The foot of every page: what it is, and which page of how many.
        let number = format!("Page {} of {total}", i + 1);
        let room = ((PAGE_W - 2.0 * MARGIN) / (0.6 * 7.5)) as usize - number.len() - 2;
        let footer: String = doc.footer.chars().take(room).collect();
        show(&mut c, MARGIN, 30.0, Font::Regular, 7.5, &footer);
        show(
            &mut c,
            PAGE_W - MARGIN - number.len() as f32 * 0.6 * 7.5,
            30.0,
            Font::Regular,
            7.5,
            &number,
        );
        pdf.stream(content_id, &c.finish());
    }
    pdf.finish()
}

fn show(c: &mut Content, x: f32, y: f32, font: Font, size: f32, text: &str) {
    let name = match font {
        Font::Regular => Name(b"F1"),
        Font::Bold => Name(b"F2"),
    };
    c.begin_text();
    c.set_font(name, size);
    c.next_line(x, y);
    c.show(Str(&win_ansi(text)));
    c.end_text();
}

/// Text in the fonts' encoding (WinAnsi); what it lacks becomes `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_ansi_keeps_latin_letters_and_marks_the_rest() {
        assert_eq!(win_ansi("Émile — ok"), b"\xc9mile \x97 ok");
        assert_eq!(win_ansi("日本"), b"??");
    }
}
